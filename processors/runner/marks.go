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
}

func newMarks() *marks { return &marks{at: map[int32]int64{}} }

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
	if offset > m.at[partition] {
		m.at[partition] = offset
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
