package ordermanager

import (
	"context"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/topics"
)

// TestOpenIndexMovesOnlyForward: the stage and the view lead and lag each
// other; an entry only moves to a higher sequence, and a closed order does
// not come back from a view that has not caught up.
func TestOpenIndexMovesOnlyForward(t *testing.T) {
	x := newOpenIndex()
	o := order(OrderSubmitted, t0)
	o.LastSequence = 2
	x.apply(o, t0)
	older := o
	older.Status, older.LastSequence = OrderPending, 1
	x.apply(older, t0) // a view behind the stage
	if got, _ := x.get(o.ExecutionID); got.Status != OrderSubmitted {
		t.Fatalf("an older state replaced a newer one: %+v", got)
	}
	x.closeIfOlder(o.ExecutionID, 3, t0)
	x.apply(o, t0) // the view still shows it submitted
	if _, open := x.get(o.ExecutionID); open {
		t.Fatal("a closed order came back from a lagging view")
	}
	if n := len(x.open([]int32{0}, 1, t0.Add(doneFor+time.Second))); n != 0 {
		t.Fatalf("%d open orders after the close", n)
	}
	x.apply(o, t0.Add(doneFor+time.Second)) // long after: the tombstone is gone
	if _, open := x.get(o.ExecutionID); !open {
		t.Fatal("the closed order's memory outlived doneFor")
	}
}

// TestTicksWorkTheIndexNotTheTable: after the first walk, ticks walk the
// tracker's view only every FullWalkEvery and on a new assignment; orders
// the tracker stage processes reach the poller through the index at once,
// orders only in the view (recovered, never processed here) by the next
// walk; orders of partitions no longer owned leave the work.
func TestTicksWorkTheIndexNotTheTable(t *testing.T) {
	now := t0
	h := newHours(t, true)
	orders := table()
	out := &sentCommands{sent: make(chan struct{}, 8)}
	p, err := NewPoller(PollerConfig{Broker: h, Orders: orders, Producer: out, Partitions: 2,
		Interval: time.Second, StaleAfter: 10 * time.Minute, MaxBackoff: 8 * time.Second, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p.Assign([]int32{0, 1})
	walks := func() int {
		n := len(orders.walks)
		for len(orders.walks) > 0 {
			<-orders.walks
		}
		return n
	}
	tick := func() {
		t.Helper()
		now = now.Add(time.Second)
		if err := p.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	tick()
	if n := walks(); n != 1 {
		t.Fatalf("first tick: %d walks, want 1", n)
	}
	// An order the tracker stage processes: placed by the next tick, no walk.
	st := p.Tracking(Tracker())
	id := "0b1e1b2c-0000-5000-8000-000000000031"
	if _, _, err := st.Handle(TrackedOrder{}, eventIn(t, topics.OffchainOrder, id, 1,
		offchainorder.Placed{Symbol: "AAPL", Shares: d("1"), Direction: "Sell", Broker: "dry_run", ReferencePrice: ptr(d("228")), PlacedAt: now})); err != nil {
		t.Fatal(err)
	}
	<-p.hints // the hint; this test drives ticks only
	tick()
	if _, places, _ := h.counts(); places != 1 || walks() != 0 {
		t.Fatalf("an order the stage processed: %d places, want it placed from the index without a walk", places)
	}
	// An order only in the view waits for the next walk.
	recovered := order(OrderPending, now)
	recovered.ExecutionID = "0b1e1b2c-0000-5000-8000-000000000032"
	orders.orders[recovered.ExecutionID] = recovered
	for range 30 {
		tick()
	}
	if _, places, _ := h.counts(); places != 1 || walks() != 0 {
		t.Fatalf("30 s later: %d places, %d walks; want the view untouched before a minute", places, walks())
	}
	for range 31 {
		tick()
	}
	if _, places, _ := h.counts(); places != 2 || walks() != 1 {
		t.Fatalf("after a minute: %d places, %d walks; want the recovered order found by one walk", places, walks())
	}
	// Losing a partition drops its orders from the work; gaining one walks.
	p.Assign([]int32{1 - topics.PartitionFor([]byte(id), 2)})
	tick()
	if walks() != 0 {
		t.Fatal("losing a partition walked the view")
	}
	for _, o := range p.index.open(p.owned, 2, now) {
		if o.ExecutionID == id {
			t.Fatal("an order of a partition no longer owned is still worked")
		}
	}
	p.Assign([]int32{0, 1})
	tick()
	if walks() != 1 {
		t.Fatal("a partition owned anew did not walk the view")
	}
}

func ptr[T any](v T) *T { return &v }
