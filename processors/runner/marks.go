package runner

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// marks follows the offsets goka marks for commit. goka marks an input only
// after its table write and all its emits were acknowledged by the brokers,
// so outputs of inputs below the marked offset are durable: a redelivery of
// such an input needs nothing re-emitted, and the runner may prune them.
// Marks are ahead of the committed offset by at most the auto-commit
// interval, which keeps each key's pending window to the few inputs still in
// flight instead of a second's worth.
type marks struct {
	mu sync.RWMutex
	at map[int32]int64 // input partition -> next offset after the last marked
	// handled is, per partition, the next offset after the last input this
	// instance handled; first the offset of the first one. Together with at
	// they say how many inputs are in flight (handled, not yet marked).
	handled map[int32]int64
	first   map[int32]int64
	wake    chan struct{} // closed on the next mark; nil when nobody waits
}

func newMarks() *marks {
	return &marks{at: map[int32]int64{}, handled: map[int32]int64{}, first: map[int32]int64{}}
}

// marked returns the marked offset of a partition, or -1 if none.
func (m *marks) marked(partition int32) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if o, ok := m.at[partition]; ok {
		return o
	}
	return -1
}

func (m *marks) mark(partition int32, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.at[partition]; !ok || offset > o {
		m.at[partition] = offset
		if m.wake != nil {
			close(m.wake)
			m.wake = nil
		}
	}
}

// handledInput records that the input at offset was handled.
func (m *marks) handledInput(partition int32, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.first[partition]; !ok {
		m.first[partition] = offset
	}
	m.handled[partition] = offset + 1
}

// low is the offset below which every input of the partition is durable,
// as far as this instance knows: the marked offset, or, before the first
// mark, the first input it handled (goka starts a partition at the
// committed offset, so everything below was committed). ok is false when
// it knows neither.
func (m *marks) low(partition int32) (low int64, ok bool) {
	at, okAt := m.at[partition]
	first, okFirst := m.first[partition]
	switch {
	case okAt && okFirst:
		return max(at, first), true
	case okAt:
		return at, true
	case okFirst:
		return first, true
	}
	return -1, false
}

// waitDurable blocks until every input of the partition below target is
// durable (marked), so that a key's record can drop their outputs. It
// returns early when nothing this instance handled is in flight (the
// record's entries are older than this assignment, so no mark will come
// for them and none is needed) or when ctx ends.
func (m *marks) waitDurable(ctx context.Context, partition int32, target int64) {
	for {
		m.mu.Lock()
		low, ok := m.low(partition)
		if !ok || low >= target || m.handled[partition] <= low {
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
		}
	}
}

// consumerGroupBuilder wraps goka's sarama consumer group so that every
// MarkOffset of the input topic is seen by m.
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
	s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
	if topic == s.g.input {
		s.g.marks.mark(partition, offset)
	}
}

func (s markingSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.ConsumerGroupSession.MarkMessage(msg, metadata)
	if msg.Topic == s.g.input {
		s.g.marks.mark(msg.Partition, msg.Offset+1)
	}
}
