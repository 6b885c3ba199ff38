package runner

import (
	"context"
	"testing"
	"time"

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

func TestWaitDurableHoldsAnInputUntilItsKeysWindowIsAcknowledged(t *testing.T) {
	m := newMarks()
	ctx := context.Background()
	// Nothing handled by this instance yet: a record's old entries are from
	// an earlier assignment and never block.
	m.waitDurable(ctx, 0, 5000)
	for off := int64(1000); off < 1004; off++ {
		m.handledInput(0, off)
	}
	released := make(chan struct{})
	go func() {
		m.waitDurable(ctx, 0, 1002) // inputs 1000 and 1001 must be acknowledged
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("input released while the window was unacknowledged")
	case <-time.After(50 * time.Millisecond):
	}
	m.mark(0, 1001)
	select {
	case <-released:
		t.Fatal("released after 1000 alone was acknowledged")
	case <-time.After(50 * time.Millisecond):
	}
	m.mark(0, 1002)
	select {
	case <-released:
	case <-time.After(time.Second):
		t.Fatal("mark did not release the input")
	}
	// Everything acknowledged: a target beyond the marks (entries written by
	// another instance) must not block, for no mark would ever come.
	m.mark(0, 1004)
	m.waitDurable(ctx, 0, 9000)
	// A cancelled context releases a waiting input.
	m.handledInput(0, 9000)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	m.waitDurable(cctx, 0, 9001)
}

func TestDurableTargetKeepsTheWindowBelowTheLimit(t *testing.T) {
	var raw []byte
	for off := int64(10); off < 15; off++ {
		raw, _, _, _ = step(Handler[int](sum), raw, in(off, "1"), -1)
	}
	if _, wait := durableTarget(raw, 15, 6); wait {
		t.Fatal("5 pending outputs wait at a limit of 6")
	}
	// At a limit of 3, the next write may keep 2 of 10..14: 10, 11 and 12
	// must be acknowledged first.
	if target, wait := durableTarget(raw, 15, 3); !wait || target != 13 {
		t.Fatalf("target %d (wait %v), want 13", target, wait)
	}
	if _, wait := durableTarget(raw, 12, 3); wait {
		t.Fatal("a redelivery (it writes nothing) waits")
	}
	if _, wait := durableTarget(nil, 15, 3); wait {
		t.Fatal("a new key waits")
	}
}
