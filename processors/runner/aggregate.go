package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/topics"
)

// recentCommands is how many command ids an aggregate remembers to drop a
// command that an upstream stage sent twice (at two offsets) silently. Older
// duplicates are still refused by the aggregate's own rules (AlreadyFilled,
// DuplicateTrade, ...) and land on the rejections topic, so nothing relies
// on this window for correctness.
const recentCommands = 32

// AggState is what an aggregate stage keeps per key: the lifecycle and the
// ids of the last commands it decided.
type AggState[S any] struct {
	Lifecycle aggregate.Lifecycle[S] `json:"lifecycle"`
	// Recent holds 64-bit FNV-1a hashes of the last command ids: the state
	// is rewritten on every command, and full ids made it three times larger.
	Recent []uint64 `json:"recent,omitempty"`
	// Sources holds, per source partition ("topic/partition"), the highest
	// source offset of a command decided: one at or below it is a stage's
	// re-send after a crash.
	Sources map[string]int64 `json:"sources,omitempty"`
}

// AggregateStage runs an aggregate: commands in, events (or rejections) out,
// state in the group table.
func AggregateStage[S any](def aggregate.Definition[S]) (Stage[AggState[S]], error) {
	t, err := topics.TopicsFor(def.Type)
	if err != nil {
		return Stage[AggState[S]]{}, err
	}
	return Stage[AggState[S]]{
		Group:   GroupOf(def.Type),
		Input:   t.Commands,
		Outputs: []string{t.Events, t.Rejections},
		Handle: func(st AggState[S], in Input) (AggState[S], []Output, error) {
			return handleCommand(def, t, st, in)
		},
		Reject: func(in Input, reason error) (Output, error) {
			return Rejection(def.Type, "", in, reason)
		},
	}, nil
}

// GroupOf names the goka group (and so the table topic) of an aggregate.
func GroupOf(aggregateType string) string {
	return "aggregate-" + strings.ToLower(aggregateType)
}

// IDOfKey returns the aggregate id carried by a record key: keys of
// symbol-partitioned topics are "SYMBOL|id".
func IDOfKey(key string) string {
	if _, id, ok := strings.Cut(key, "|"); ok {
		return id
	}
	return key
}

func handleCommand[S any](def aggregate.Definition[S], t topics.AggregateTopics, st AggState[S], in Input) (AggState[S], []Output, error) {
	reject := func(id string, err error) (AggState[S], []Output, error) {
		o, encErr := Rejection(def.Type, id, in, err)
		if encErr != nil {
			return st, nil, encErr
		}
		return st, []Output{o}, nil
	}

	if in.Value == nil {
		return reject("", withKind(KindTombstone, errors.New("tombstone (null value) on a command topic: commands are never deleted")))
	}
	env, err := topics.DecodeCommand(in.Value)
	if err != nil {
		return reject("", withKind(KindUndecodable, fmt.Errorf("undecodable command: %w", err)))
	}
	if env.AggregateType != def.Type {
		return reject(env.AggregateID, withKind(KindWrongAggregate, fmt.Errorf("command for aggregate type %q on the %s topic", env.AggregateType, def.Type)))
	}
	if id := IDOfKey(in.Key); env.AggregateID != id {
		return reject(env.AggregateID, withKind(KindKeyMismatch, fmt.Errorf("aggregate_id %q does not match record key %q", env.AggregateID, in.Key)))
	}
	idHash := hashID(env.CommandID)
	if slices.Contains(st.Recent, idHash) {
		return st, nil, fmt.Errorf("command %s seen among the last %d: %w", env.CommandID, recentCommands, ErrDuplicate)
	}
	// A re-sent command (its source offset seen before) is decided again:
	// if the first copy never arrived (a broker lost it), it is applied now;
	// if the rules refuse it, it was applied before and is a duplicate.
	var resent bool
	if src := env.Source; src != nil {
		last, ok := st.Sources[src.Key()]
		resent = ok && src.Offset <= last
		if !resent {
			if st.Sources == nil {
				st.Sources = map[string]int64{}
			}
			st.Sources[src.Key()] = src.Offset
		}
	}
	cmd, err := def.DecodeCommand(env.CommandType, env.Payload)
	if err != nil {
		return reject(env.AggregateID, fmt.Errorf("command %s: %w", env.CommandID, err))
	}
	meta := aggregate.Meta{AggregateID: env.AggregateID, CommandID: env.CommandID, At: env.IssuedAt.UTC()}
	before := st.Lifecycle
	after, events, err := aggregate.Execute(def, before, cmd, meta)
	st.Recent = remember(st.Recent, idHash)
	// A re-sent command the rules refuse was applied (or refused) before.
	// (An upstream event re-published at a new offset is not derived again:
	// the deriving stages skip an (aggregate, sequence) they have read.)
	if err != nil && resent {
		return st, nil, fmt.Errorf("%s %s re-sent from %s@%d and refused (%v): %w",
			env.CommandType, env.CommandID, env.Source.Key(), env.Source.Offset, err, ErrDuplicate)
	}
	if err != nil {
		return reject(env.AggregateID, fmt.Errorf("%s %s refused: %w", env.CommandType, env.CommandID, err))
	}
	out := make([]Output, 0, len(events))
	for i, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			return st, nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		envelope := topics.EventEnvelope{
			AggregateType: def.Type,
			AggregateID:   env.AggregateID,
			Sequence:      before.Version + uint64(i) + 1,
			EventType:     e.EventType(),
			EventVersion:  topics.EventVersion,
			OccurredAt:    meta.At,
			CommandID:     env.CommandID,
			CorrelationID: firstNonEmpty(env.CorrelationID, env.CommandID),
			CausationID:   env.CommandID,
			Payload:       payload,
		}
		b, err := topics.EncodeEvent(envelope)
		if err != nil {
			return st, nil, fmt.Errorf("encode %s envelope: %w", e.EventType(), err)
		}
		out = append(out, Output{Topic: t.Events, Key: in.Key, Value: b, Event: &Event{EventEnvelope: envelope, Typed: e}})
	}
	st.Lifecycle = after
	if after.Status == aggregate.Failed && before.Status != aggregate.Failed {
		// The decision's own events broke an invariant: the aggregate stops
		// here, visibly, and refuses every later command with this reason.
		_, rej, _ := reject(env.AggregateID, withKind(KindFailed, fmt.Errorf("aggregate failed applying its own events: %s", after.Failure)))
		out = append(out, rej...)
	}
	return st, out, nil
}

// Rejection records an input a stage refused on the rejections topic of the
// aggregate aggType, with the reason and the original record (bounded by
// topics.EncodeRejection). id is the aggregate id, if known.
func Rejection(aggType, id string, in Input, reason error) (Output, error) {
	t, err := topics.TopicsFor(aggType)
	if err != nil {
		return Output{}, err
	}
	r := topics.Rejection{
		AggregateType: aggType, AggregateID: id, Reason: reason.Error(),
		Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, RejectedAt: in.Timestamp.UTC(),
	}
	r.SetOriginal(in.Value)
	b, err := topics.EncodeRejection(r)
	if err != nil {
		return Output{}, fmt.Errorf("encode rejection: %w", err)
	}
	return Output{Topic: t.Rejections, Key: topics.RejectionKey(in.Key), Value: b, RejectKind: RejectKind(reason)}, nil
}

func remember(recent []uint64, id uint64) []uint64 {
	recent = append(recent, id)
	if len(recent) > recentCommands {
		recent = append([]uint64(nil), recent[len(recent)-recentCommands:]...)
	}
	return recent
}

func hashID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
