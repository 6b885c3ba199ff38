// Package runner turns pure stage functions into goka processors with an
// exactly-once effect on top of goka's at-least-once delivery.
//
// # The mechanism
//
// goka acknowledges a callback's table write and its emits independently and
// commits the input offset later, so after a crash an input can be delivered
// again while the table already holds the state it produced. Skipping such an
// input would lose any output whose emit never landed; applying it again
// would apply it twice. The runner does neither:
//
//   - The table value of every key is a record: the stage's state, the offset
//     after the last input applied to that key (Next), and the outputs of every
//     applied input whose offset the group has not committed yet (Pending).
//   - goka delivers each partition in order, and a key always lives in one
//     partition, so an input with offset < Next is a redelivery. The runner
//     re-emits the outputs recorded for that offset, byte for byte, writes
//     the record again and decides nothing. A key's first input is the
//     exception: its outputs are not recorded but decided again from the
//     empty state it was decided from (record.go), since most keys (trades,
//     orders) are never written again to prune them.
//   - Outputs of inputs below the durable prefix of their partition are
//     pruned when the key is next written. goka marks an input once its table
//     write and every emit were acknowledged, but inputs finish out of order;
//     the runner commits (and calls durable) only the offset below which
//     every input has finished (marks.go). A burst on one hot key keeps
//     exactly its unacknowledged window, never less; a fixed-size ring would
//     drop entries still in flight. The window is bounded instead by
//     waiting: an input of a key that already holds Tuning.MaxPending
//     unacknowledged outputs waits for acknowledgements before it is
//     handled, so a backlog cannot grow a record (and the cost of every
//     write of it) without end.
//   - If the table write itself was lost, the redelivered input finds the old
//     state and is handled again; stages are deterministic and each reads one
//     input topic in offset order, so it produces the same outputs with the
//     same sequences, which consumers drop as duplicates. (A stage reading
//     two topics could decide them again interleaved differently and publish
//     a second, different event under one sequence: hence one input each.)
//   - Before any of this, a record whose key does not hash to the partition
//     it arrived on (a producer with another partitioner) is rejected: its
//     state lives in another partition, and writing it here would overwrite
//     the table of another key's partition with an empty state.
//
// Every stage (aggregates, managers, pnl) runs through Stage, so the problem
// is solved once.
package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Input is one message delivered to a stage.
type Input struct {
	Topic     string
	Key       string
	Value     []byte
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Event is Value decoded, when a fused upstream handed it over
	// (Output.Event); read it with EventOf.
	Event *Event
}

// Output is one record a stage emits.
type Output struct {
	Topic string
	Key   string
	Value []byte
	// Event, set by an aggregate stage on its events, is Value as it was
	// built, for a fused downstream (Fuse) to use instead of decoding
	// Value again. It is never written anywhere: a redelivery re-emits
	// the bytes alone.
	Event *Event
	// RejectKind, set on a rejection (Rejection), is its reason's kind
	// (RejectKind): a bounded label for metrics. Never written anywhere.
	RejectKind string
}

// Handler computes a key's new state and the outputs of one input. It must
// be deterministic: the same state and input give the same result. Bad input
// is not an error: the handler turns it into a rejection Output. An error
// wrapping ErrDuplicate says the input repeats one already applied: the
// state it returns is kept, nothing is emitted, and the runner counts and
// logs it. Any other error is a bug or an infrastructure fault and stops
// the processor.
type Handler[S any] func(state S, in Input) (S, []Output, error)

// ErrDuplicate marks an input that repeats one already applied (a stage
// upstream re-sent it after a crash). It is not a rejection: rejections
// mean an input broke a rule.
var ErrDuplicate = errors.New("duplicate")

// step is the runner's core, free of goka so it can be tested directly: it
// applies in to the encoded record (nil for a new key) and returns the
// encoded record to write (nil when there is nothing to write) and the
// outputs to emit. committed is the offset below which the partition's
// outputs are durable (-1 if unknown). A duplicate input (ErrDuplicate)
// returns its record and no outputs, and the duplicate as err.
func step[S any](h Handler[S], raw []byte, in Input, committed int64) (newRaw []byte, out []Output, redelivered bool, err error) {
	return stepCached(h, nil, raw, in, committed)
}

// stepCached is step taking a key's decoded state from cache when the
// table holds the record it was decoded from, and leaving the new state
// there (a nil cache is none).
func stepCached[S any](h Handler[S], cache *stateCache[S], raw []byte, in Input, committed int64) (newRaw []byte, out []Output, redelivered bool, err error) {
	rec := rawRecord{first: -1}
	var state S
	if raw != nil {
		if rec, err = decodeRecord(raw); err != nil {
			return nil, nil, false, fmt.Errorf("key %q: %w", in.Key, err)
		}
	}
	if in.Offset < rec.next {
		// The record is written again, unchanged: goka stores it locally
		// before its table-topic write is acknowledged, so after a crash
		// the local table can hold a record the topic never got. The stage
		// itself reads the local one, but views (the order poller) read the
		// topic, and without this write they would see the old state until
		// the key's next input, which may never come (an order the view
		// shows pending is never polled, so it never fills).
		for _, p := range rec.pending {
			if p.offset == in.Offset {
				out, err := decodeOutputs(p.entry)
				if err != nil {
					return nil, nil, true, fmt.Errorf("key %q: outputs of offset %d: %w", in.Key, in.Offset, err)
				}
				return raw, out, true, nil
			}
		}
		if in.Offset == rec.first {
			// The key's first input: decided again from the empty state
			// it was first decided from.
			var empty S
			_, out, err := h(empty, in)
			if errors.Is(err, ErrDuplicate) {
				out, err = nil, nil
			}
			if err != nil {
				return nil, nil, true, fmt.Errorf("key %q: first input %d again: %w", in.Key, in.Offset, err)
			}
			return raw, out, true, nil
		}
		// Pruned (below the commit) or produced no output.
		return raw, nil, true, nil
	}
	if s, ok := cache.get(in.Key, raw); ok {
		state = s
	} else if rec.state != nil {
		if err := json.Unmarshal(rec.state, &state); err != nil {
			return nil, nil, false, fmt.Errorf("decode state of key %q: %w", in.Key, err)
		}
	}
	state, out, err = h(state, in)
	var dup error
	if errors.Is(err, ErrDuplicate) {
		dup, err, out = err, nil, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("handle %s/%d@%d key %q: %w", in.Topic, in.Partition, in.Offset, in.Key, err)
	}
	encoded, err := json.Marshal(state)
	if err != nil {
		return nil, nil, false, fmt.Errorf("encode state of key %q: %w", in.Key, err)
	}
	if len(out) == 0 && dup == nil && rec.state != nil && bytes.Equal(encoded, rec.state) {
		// Nothing to record: handled again if redelivered, it changes
		// nothing again. Skipping the write keeps stages that ignore most
		// inputs (the order placer and fills) cheap.
		return nil, nil, false, nil
	}
	fresh := rec.state == nil && rec.next == 0 // the key's first record: decided from the empty state
	rec.state = encoded
	rec.next = in.Offset + 1
	rec.pending = prune(rec.pending, committed)
	if rec.first >= 0 && rec.first < committed {
		rec.first = -1
	}
	switch {
	case len(out) > 0 && fresh:
		rec.first = in.Offset
	case len(out) > 0:
		rec.pending = append(rec.pending, rawPending{offset: in.Offset, entry: encodeOutputs(out)})
	}
	newRaw = rec.encode()
	cache.put(in.Key, newRaw, state)
	return newRaw, out, false, dup
}

// prune drops outputs of inputs below the durable offset: they are in Kafka.
func prune(ps []rawPending, committed int64) []rawPending {
	i := 0
	for i < len(ps) && ps[i].offset < committed {
		i++
	}
	return ps[i:]
}

// DecodeState reads the stage state out of an encoded table record, for
// views over a stage's table (the order poller reads in-flight orders).
func DecodeState[S any](raw []byte) (S, error) {
	var s S
	rec, err := decodeRecord(raw)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(rec.state, &s); err != nil {
		return s, fmt.Errorf("decode table state: %w", err)
	}
	return s, nil
}
