package runner

import (
	"testing"

	"github.com/IBM/sarama"
)

type recordingSession struct {
	sarama.ConsumerGroupSession
	marked []int64
}

func (s *recordingSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.marked = append(s.marked, offset)
}

func (s *recordingSession) MarkMessage(msg *sarama.ConsumerMessage, _ string) {
	s.marked = append(s.marked, msg.Offset+1)
}

func TestMarksFollowTheInputTopicOnly(t *testing.T) {
	m := newMarks()
	inner := &recordingSession{}
	s := markingSession{inner, &markingGroup{marks: m, input: "position.commands"}}
	if m.marked(2) != -1 {
		t.Fatal("unknown partition must read -1 (prune nothing)")
	}
	s.MarkOffset("position.commands", 2, 11, "")
	s.MarkOffset("other", 2, 50, "")
	s.MarkMessage(&sarama.ConsumerMessage{Topic: "position.commands", Partition: 2, Offset: 14}, "")
	s.MarkOffset("position.commands", 2, 9, "") // never moves back
	if got := m.marked(2); got != 15 {
		t.Fatalf("marked = %d, want 15", got)
	}
	if len(inner.marked) != 4 {
		t.Fatalf("every mark must reach sarama, got %v", inner.marked)
	}
}
