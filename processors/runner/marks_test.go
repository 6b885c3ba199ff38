package runner

import (
	"context"
	"errors"
	"fmt"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

type recordingSession struct {
	sarama.ConsumerGroupSession
	marked []int64
	gen    int32
}

func (s *recordingSession) GenerationID() int32 { return s.gen }

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
	p2 := tp{"position.commands", 2}
	if m.marked(p2) != -1 {
		t.Fatal("unknown partition must read -1 (prune nothing)")
	}
	for _, off := range []int64{10, 14} {
		m.begin(p2, off)
	}
	s.MarkOffset("position.commands", 2, 11, "")
	s.MarkOffset("other", 2, 50, "")
	s.MarkMessage(&sarama.ConsumerMessage{Topic: "position.commands", Partition: 2, Offset: 14}, "")
	s.MarkOffset("position.commands", 2, 9, "")  // not in flight: ignored
	s.MarkOffset("position.commands", 2, 30, "") // not begun here: ignored
	if got := m.marked(p2); got != 15 {
		t.Fatalf("marked = %d, want 15", got)
	}
	if want := []int64{11, 50, 15}; fmt.Sprint(inner.marked) != fmt.Sprint(want) {
		t.Fatalf("sarama saw %v, want %v (other topics as they come, inputs only forward)", inner.marked, want)
	}
}

// goka marks each input when its own emits are acknowledged, so a later
// input can be marked first. Forwarding that mark committed past an input
// whose outputs were still in flight, and a crash then lost them: the
// commit must stop below the first unfinished input.
func TestMarksCommitOnlyTheFinishedPrefix(t *testing.T) {
	m := newMarks()
	inner := &recordingSession{}
	s := markingSession{inner, &markingGroup{marks: m, input: "in"}}
	p := tp{"in", 0}
	for off := int64(100); off < 105; off++ {
		m.begin(p, off)
	}
	s.MarkOffset("in", 0, 102, "") // 101 finished before 100
	s.MarkOffset("in", 0, 104, "") // 103 too
	if len(inner.marked) != 0 || m.marked(p) != 100 {
		t.Fatalf("committed %v (durable %d) while 100 is in flight", inner.marked, m.marked(p))
	}
	s.MarkOffset("in", 0, 101, "") // 100 finishes: 100 and 101 are done
	if fmt.Sprint(inner.marked) != "[102]" || m.marked(p) != 102 {
		t.Fatalf("committed %v (durable %d), want [102]: 102 is still in flight", inner.marked, m.marked(p))
	}
	s.MarkOffset("in", 0, 103, "") // 102: now 100..103 are done
	s.MarkOffset("in", 0, 105, "")
	if fmt.Sprint(inner.marked) != "[102 104 105]" {
		t.Fatalf("committed %v, want [102 104 105]", inner.marked)
	}
	// A new session starts again from the commit; what the old one had in
	// flight is forgotten, the durable prefix is kept.
	m.reset(0)
	m.begin(p, 105)
	m.begin(p, 106)
	s.MarkOffset("in", 0, 107, "")
	if m.marked(p) != 105 {
		t.Fatalf("durable %d after reset, want 105", m.marked(p))
	}
	// A late acknowledgement of the old session (generation 0) for an
	// offset in flight again in the new one (generation 1) is ignored.
	m.reset(1)
	m.begin(p, 105)
	s.MarkOffset("in", 0, 106, "") // inner.gen is 0: the old session
	if len(inner.marked) != 3 || m.marked(p) != 105 {
		t.Fatalf("old session's mark committed %v (durable %d)", inner.marked, m.marked(p))
	}
}

// A randomized check of the same rule: inputs finishing in any order never
// commit past an unfinished one, and all of them finished commit the end.
func TestMarksRandomFinishOrder(t *testing.T) {
	seed := testseed.Seed(t, "finish orders")
	r := rand.New(rand.NewPCG(seed, 2))
	for range 200 {
		m := newMarks()
		inner := &recordingSession{}
		s := markingSession{inner, &markingGroup{marks: m, input: "in"}}
		p := tp{"in", 1}
		n := 1 + r.IntN(40)
		for off := range int64(n) {
			m.begin(p, off)
		}
		finished := make([]bool, n)
		for _, i := range r.Perm(n) {
			finished[i] = true
			s.MarkOffset("in", 1, int64(i)+1, "")
			prefix := 0
			for prefix < n && finished[prefix] {
				prefix++
			}
			if got := m.marked(p); got != int64(prefix) {
				t.Fatalf("seed %d: durable %d, want %d", seed, got, prefix)
			}
		}
		if last := inner.marked[len(inner.marked)-1]; last != int64(n) {
			t.Fatalf("seed %d: last commit %d, want %d", seed, last, n)
		}
	}
}

func TestWaitDurableHoldsAnInputUntilItsKeysWindowIsAcknowledged(t *testing.T) {
	m := newMarks()
	ctx := context.Background()
	p := tp{"in", 0}
	// Nothing handled by this instance yet: a record's old entries are from
	// an earlier assignment and never block.
	m.waitDurable(ctx, nil, p, 5000)
	for off := int64(1000); off < 1004; off++ {
		m.begin(p, off)
	}
	released := make(chan struct{})
	go func() {
		m.waitDurable(ctx, nil, p, 1002) // inputs 1000 and 1001 must be acknowledged
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("input released while the window was unacknowledged")
	case <-time.After(50 * time.Millisecond):
	}
	m.finish(0, p, 1001)
	select {
	case <-released:
		t.Fatal("released after 1000 alone was acknowledged")
	case <-time.After(50 * time.Millisecond):
	}
	m.finish(0, p, 1002)
	select {
	case <-released:
	case <-time.After(time.Second):
		t.Fatal("mark did not release the input")
	}
	// Everything acknowledged: a target beyond the marks (entries written by
	// another instance) must not block, for no mark would ever come.
	m.finish(0, p, 1003)
	m.finish(0, p, 1004)
	m.waitDurable(ctx, nil, p, 9000)
	// A cancelled context releases a waiting input.
	m.begin(p, 9000)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	m.waitDurable(cctx, nil, p, 9001)
	// So does a failed write (the fence): the input it belonged to is
	// never marked.
	f := new(fence)
	f.fail(errors.New("refused"))
	m.waitDurable(ctx, f.done(), p, 9001)
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
