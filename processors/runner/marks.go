package runner

import (
	"context"
	"slices"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// tp names one input partition (topic and partition): marks are kept per
// input topic, as goka commits them.
type tp struct {
	topic     string
	partition int32
}

// marks sits between goka and sarama's offset commits, for two reasons.
//
// goka marks an input for commit once its own table write and emits were
// acknowledged, but inputs finish out of order: a later input's emits can be
// acknowledged first, and sarama's mark only moves forward, so the commit
// jumped past an input whose outputs were still in flight. A crash then
// lost them for good (the input is never delivered again). marks therefore
// forwards to sarama only the contiguous prefix: the offset below which every
// input this instance was given has finished.
//
// That prefix is also what the runner calls durable: outputs of inputs below
// it are in Kafka, so a redelivery needs nothing re-emitted and records may
// prune them (stage.go), and a key whose window is full waits for it to move
// (waitDurable).
type marks struct {
	mu sync.Mutex
	at map[tp]int64 // next offset after the contiguous finished prefix
	// Inputs begun in this session, in offset order, and those of them
	// finished out of order.
	flight map[tp]*inflight
	// first is the first offset begun in this session: goka starts a
	// partition at its committed offset, so everything below is durable.
	first map[tp]int64
	gen   int32         // consumer-group generation of the session tracked
	wake  chan struct{} // closed on the next advance; nil when nobody waits
}

type inflight struct {
	queue []int64        // begun, not yet part of the prefix, ascending
	done  map[int64]bool // finished, waiting for an earlier one
}

func newMarks() *marks {
	return &marks{at: map[tp]int64{}, flight: map[tp]*inflight{}, first: map[tp]int64{}}
}

// reset forgets the inputs of an ended session: goka stops its partition
// processors before a new session starts, and the new one begins again at
// the committed offsets, which may be below the old prefix (the last commit
// had not been flushed); the new session's first inputs say what is durable.
func (m *marks) reset(generation int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flight = map[tp]*inflight{}
	m.first = map[tp]int64{}
	m.at = map[tp]int64{}
	m.gen = generation
}

// marked returns the offset of an input partition below which every input
// is durable as far as this instance knows, or -1 if it knows none.
func (m *marks) marked(p tp) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	low, _ := m.low(p)
	return low
}

// begin records that the input at offset is being handled. Every input goes
// through the callback (nil values included), in offset order.
func (m *marks) begin(p tp, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.first[p]; !ok {
		m.first[p] = offset
	}
	f := m.flight[p]
	if f == nil {
		f = &inflight{done: map[int64]bool{}}
		m.flight[p] = f
	}
	f.queue = append(f.queue, offset)
}

// finish is goka's mark: every output of the input before next is
// acknowledged. It returns the new durable prefix to commit, if it moved.
func (m *marks) finish(generation int32, p tp, next int64) (commit int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if generation != m.gen {
		// A late acknowledgement from an ended session (goka gives up
		// waiting for one after a while): its offset may be in flight again
		// in this session, not finished.
		return 0, false
	}
	off := next - 1
	f := m.flight[p]
	if f == nil {
		return 0, false // nothing begun in this session: not ours to commit
	}
	if _, found := slices.BinarySearch(f.queue, off); !found {
		return 0, false // not in flight here: committing it could skip one that is
	}
	f.done[off] = true
	n := 0
	for n < len(f.queue) && f.done[f.queue[n]] {
		delete(f.done, f.queue[n])
		n++
	}
	if n == 0 {
		return 0, false
	}
	top := f.queue[n-1] + 1
	f.queue = f.queue[n:]
	return m.advance(p, top)
}

func (m *marks) advance(p tp, next int64) (int64, bool) {
	if o, ok := m.at[p]; ok && next <= o {
		return 0, false
	}
	m.at[p] = next
	if m.wake != nil {
		close(m.wake)
		m.wake = nil
	}
	return next, true
}

// low is the offset below which every input of the partition is durable as
// far as this instance knows, and whether anything it began is in flight.
func (m *marks) low(p tp) (low int64, inFlight bool) {
	low = -1
	if at, ok := m.at[p]; ok {
		low = at
	}
	if first, ok := m.first[p]; ok {
		low = max(low, first)
	}
	f := m.flight[p]
	return low, f != nil && len(f.queue) > 0
}

// waitDurable blocks until every input of the partition below target is
// durable, so that a key's record can drop their outputs. It returns early
// when nothing this instance began is in flight (the record's entries are
// older than this session, so no mark will come for them and none is
// needed), when ctx ends, or when stop closes (a write of the stage
// failed: the input it belonged to is never marked).
func (m *marks) waitDurable(ctx context.Context, stop <-chan struct{}, p tp, target int64) {
	for {
		m.mu.Lock()
		low, inFlight := m.low(p)
		if !inFlight || low >= target {
			m.mu.Unlock()
			return
		}
		if m.wake == nil {
			m.wake = make(chan struct{})
		}
		w := m.wake
		m.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
	}
}

// consumerGroupBuilder wraps goka's sarama consumer group so that every
// mark of the input topic goes through m.
func (m *marks) consumerGroupBuilder(cfg *sarama.Config, input string) goka.ConsumerGroupBuilder {
	inner := goka.ConsumerGroupBuilderWithConfig(cfg)
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := inner(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return &markingGroup{ConsumerGroup: cg, marks: m, input: input}, nil
	}
}

type markingGroup struct {
	sarama.ConsumerGroup
	marks *marks
	input string
}

func (g *markingGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, markingHandler{h: h, g: g})
}

type markingHandler struct {
	h sarama.ConsumerGroupHandler
	g *markingGroup
}

func (w markingHandler) Setup(s sarama.ConsumerGroupSession) error {
	w.g.marks.reset(s.GenerationID())
	return w.h.Setup(markingSession{s, w.g})
}

func (w markingHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	return w.h.Cleanup(markingSession{s, w.g})
}

func (w markingHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return w.h.ConsumeClaim(markingSession{s, w.g}, c)
}

type markingSession struct {
	sarama.ConsumerGroupSession
	g *markingGroup
}

func (s markingSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if topic != s.g.input {
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
		return
	}
	if commit, ok := s.g.marks.finish(s.GenerationID(), tp{topic, partition}, offset); ok {
		s.ConsumerGroupSession.MarkOffset(topic, partition, commit, metadata)
	}
}

func (s markingSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}
