package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// aggregateTopics are the topics of the aggregates the migration feeds.
var aggregateTypes = []string{topics.OnChainTrade, topics.Position, topics.OffchainOrder, topics.BrokerAuth}

// Outcome is an aggregate's answer to one migrated command.
type Outcome struct {
	Accepted bool
	Reason   string // the rejection's
}

// Live is what a topic holds that the migration did not cause.
type Live struct {
	Topic   string `json:"topic"`
	Events  int    `json:"events"`
	Example string `json:"example"` // the first: aggregate, sequence, event type
}

// Log is what the aggregate topics hold, read point-in-time: the
// migration's commands already produced and their outcomes, the live
// events, and the events themselves for --verify.
type Log struct {
	// Produced holds the migration's command ids on the commands topics.
	Produced map[string]bool
	// Outcomes holds the aggregates' answers, by command id.
	Outcomes map[string]Outcome
	// Live lists event topics holding events of no migrated command.
	Live []Live
	// Events per aggregate type and id, deduplicated, in sequence order
	// (positions only: verification folds them).
	Events map[string]map[string][]topics.EventEnvelope
	// ByCommand holds the first event of each migrated command.
	ByCommand map[string]topics.EventEnvelope
	// PnL holds the pnl.events record of each base symbol with the
	// highest position sequence.
	PnL map[string]pnl.Record

	kafka  kafkasec.Cluster
	next   map[string]map[int32]int64 // where to go on reading, per topic
	seen   map[string]map[string]uint64
	keepEv bool
}

// ReadLog reads every aggregate topic of the migration to its end. With
// events set it keeps the events and pnl.events for verification.
func ReadLog(ctx context.Context, k kafkasec.Cluster, events bool) (*Log, error) {
	l := &Log{Produced: map[string]bool{}, Outcomes: map[string]Outcome{}, Events: map[string]map[string][]topics.EventEnvelope{},
		ByCommand: map[string]topics.EventEnvelope{},
		PnL:       map[string]pnl.Record{}, kafka: k, next: map[string]map[int32]int64{}, seen: map[string]map[string]uint64{}, keepEv: events}
	for _, typ := range aggregateTypes {
		t, _ := topics.TopicsFor(typ)
		if err := l.read(ctx, t.Commands, l.command); err != nil {
			return nil, err
		}
	}
	if err := l.Follow(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Follow reads what the events and rejections topics gained since the
// last read.
func (l *Log) Follow(ctx context.Context) error {
	for _, typ := range aggregateTypes {
		t, _ := topics.TopicsFor(typ)
		if err := l.read(ctx, t.Events, l.event); err != nil {
			return err
		}
		if err := l.read(ctx, t.Rejections, l.rejection); err != nil {
			return err
		}
	}
	if !l.keepEv {
		return nil
	}
	return l.read(ctx, topics.PnLEvents, func(r *kgo.Record) {
		var rec pnl.Record
		if json.Unmarshal(r.Value, &rec) != nil {
			return
		}
		if cur, ok := l.PnL[string(rec.Symbol)]; !ok || rec.PositionSequence > cur.PositionSequence {
			l.PnL[string(rec.Symbol)] = rec
		}
	})
}

// read passes the records of topic past l.next to fn (topics.ReadSpan:
// the project's one point-in-time reader); a topic that does not exist
// yet holds nothing.
func (l *Log) read(ctx context.Context, topic string, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(l.kafka.Opts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	span, err := topics.Bounds(ctx, kadm.NewClient(cl), topic)
	cl.Close()
	if errors.Is(err, topics.ErrNoTopic) {
		return nil
	}
	if err != nil {
		return err
	}
	for p, from := range l.next[topic] {
		span.From[p] = max(span.From[p], from)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	err = topics.ReadSpan(rctx, l.kafka.Opts(), topic, span, func(r *kgo.Record) error {
		fn(r)
		return nil
	})
	if err != nil {
		return err
	}
	if l.next[topic] == nil {
		l.next[topic] = map[int32]int64{}
	}
	for p, to := range span.To {
		l.next[topic][p] = max(l.next[topic][p], to)
	}
	return nil
}

func (l *Log) command(r *kgo.Record) {
	if env, err := topics.DecodeCommand(r.Value); err == nil && IsMigrated(env.CommandID) {
		l.Produced[env.CommandID] = true
	}
}

func (l *Log) event(r *kgo.Record) {
	env, err := topics.DecodeEnvelope(r.Value)
	if err != nil {
		return
	}
	ids := l.seen[env.AggregateType]
	if ids == nil {
		ids = map[string]uint64{}
		l.seen[env.AggregateType] = ids
	}
	if last, ok := ids[env.AggregateID]; ok && env.Sequence <= last {
		return // an event published again
	}
	ids[env.AggregateID] = env.Sequence
	if IsMigrated(env.CommandID) {
		l.Outcomes[env.CommandID] = Outcome{Accepted: true}
		if _, ok := l.ByCommand[env.CommandID]; !ok && l.keepEv {
			l.ByCommand[env.CommandID] = env
		}
	}
	if !IsMigrated(env.CorrelationID) {
		l.live(r.Topic, env)
	}
	// Only positions are folded; other events are found by command.
	if l.keepEv && env.AggregateType == topics.Position {
		m := l.Events[env.AggregateType]
		if m == nil {
			m = map[string][]topics.EventEnvelope{}
			l.Events[env.AggregateType] = m
		}
		m[env.AggregateID] = append(m[env.AggregateID], env)
	}
}

func (l *Log) live(topic string, env topics.EventEnvelope) {
	for i := range l.Live {
		if l.Live[i].Topic == topic {
			l.Live[i].Events++
			return
		}
	}
	l.Live = append(l.Live, Live{Topic: topic, Events: 1,
		Example: fmt.Sprintf("%s %s #%d %s (command %s)", env.AggregateType, env.AggregateID, env.Sequence, env.EventType, env.CommandID)})
	sort.Slice(l.Live, func(i, j int) bool { return l.Live[i].Topic < l.Live[j].Topic })
}

func (l *Log) rejection(r *kgo.Record) {
	rej, err := topics.DecodeRejection(r.Value)
	if err != nil {
		return
	}
	env, err := topics.DecodeCommand(rej.Original())
	if err != nil || !IsMigrated(env.CommandID) {
		return
	}
	if o, ok := l.Outcomes[env.CommandID]; !ok || !o.Accepted {
		l.Outcomes[env.CommandID] = Outcome{Reason: rej.Reason}
	}
}
