package ordermanager

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/topics"
)

// openIndex is the order tracker's orders that are not done, so a tick
// works the open orders instead of walking every order ever placed (the
// walk grew with the history: BENCHMARKS.md). The tracker stage keeps it as
// it processes (Poller.Tracking), and the poller merges a walk of the
// tracker's view into it on assignment and every FullWalkEvery, for the
// orders a stage recovered from its table without processing them.
//
// Both sources lag or lead each other, so an entry only ever moves to a
// higher LastSequence: a view behind the stage cannot bring back an older
// state, and a done order cannot come back (its sequence is remembered for
// doneFor).
type openIndex struct {
	mu     sync.Mutex
	orders map[string]TrackedOrder
	done   map[string]closed // orders closed recently, by execution id
}

type closed struct {
	seq uint64
	at  time.Time
}

// doneFor is how long a closed order's sequence is remembered: far longer
// than a view lags its table.
const doneFor = 10 * time.Minute

func newOpenIndex() *openIndex {
	return &openIndex{orders: map[string]TrackedOrder{}, done: map[string]closed{}}
}

// apply records o's state as of its LastSequence, if newer than known.
func (x *openIndex) apply(o TrackedOrder, now time.Time) {
	if o.ExecutionID == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if d, ok := x.done[o.ExecutionID]; ok && d.seq >= o.LastSequence {
		return
	}
	if cur, ok := x.orders[o.ExecutionID]; ok && cur.LastSequence > o.LastSequence {
		return
	}
	if o.Status == OrderDone {
		delete(x.orders, o.ExecutionID)
		x.done[o.ExecutionID] = closed{seq: o.LastSequence, at: now}
		return
	}
	x.orders[o.ExecutionID] = o
}

// closeIfOlder removes an open order the view shows done at seq.
func (x *openIndex) closeIfOlder(id string, seq uint64, now time.Time) {
	x.apply(TrackedOrder{ExecutionID: id, Status: OrderDone, LastSequence: seq}, now)
}

// open returns the open orders of the owned partitions, forgets those of
// other partitions (another instance works them; a walk brings them back
// if they return) and closed orders older than doneFor.
func (x *openIndex) open(owned []int32, partitions int32, now time.Time) []TrackedOrder {
	x.mu.Lock()
	defer x.mu.Unlock()
	maps.DeleteFunc(x.done, func(_ string, d closed) bool { return now.Sub(d.at) > doneFor })
	out := make([]TrackedOrder, 0, len(x.orders))
	for id, o := range x.orders {
		if !slices.Contains(owned, topics.PartitionFor([]byte(id), partitions)) {
			delete(x.orders, id)
			continue
		}
		out = append(out, o)
	}
	return out
}

// get returns an open order.
func (x *openIndex) get(id string) (TrackedOrder, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, ok := x.orders[id]
	return o, ok
}
