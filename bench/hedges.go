package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HedgeStats says how well positions were kept hedged during a run, from
// position.events and the times the broker appended them: did hedges starve
// behind a backlog of fills?
type HedgeStats struct {
	Hedges int // hedges filled (OffChainOrderFilled)
	// LongestPending is the longest one hedge stayed pending (placed to its
	// outcome applied): while it is, new exposure cannot be hedged.
	LongestPending time.Duration
	// LongestOverIdle is the longest a position was over its threshold with
	// no hedge pending (a hedge nothing placed).
	LongestOverIdle time.Duration
	// LongestOver is the longest a position was over its threshold at all.
	LongestOver time.Duration
	Symbol      string // where LongestOver was
}

// timedEvent is one position event with the time the broker stored it.
type timedEvent struct {
	id  string
	at  time.Time
	ev  aggregate.Event
	cmd string // the command that decided it: a decision's events share it
}

// foldHedgeStats folds each position's events, in order, into HedgeStats.
func foldHedgeStats(evs []timedEvent) HedgeStats {
	type track struct {
		l              aggregate.Lifecycle[position.State]
		overAt, idleAt time.Time
	}
	placedAt := map[string]time.Time{} // by execution id
	var st HedgeStats
	by := map[string]*track{}
	span := func(since *time.Time, on bool, at time.Time, longest *time.Duration) bool {
		switch {
		case on && since.IsZero():
			*since = at
		case !on && !since.IsZero():
			d := at.Sub(*since)
			*since = time.Time{}
			if d > *longest {
				*longest = d
				return true
			}
		}
		return false
	}
	for i, e := range evs {
		tr := by[e.id]
		if tr == nil {
			tr = &track{}
			by[e.id] = tr
		}
		tr.l = position.Definition.Evolve(tr.l, e.ev)
		switch ev := e.ev.(type) {
		case position.OffChainOrderPlaced:
			placedAt[ev.ExecutionID] = e.at
		case position.OffChainOrderFilled:
			st.Hedges++
			st.LongestPending = max(st.LongestPending, e.at.Sub(placedAt[ev.ExecutionID]))
		case position.OffChainOrderFailed:
			st.LongestPending = max(st.LongestPending, e.at.Sub(placedAt[ev.ExecutionID]))
		}
		if i+1 < len(evs) && evs[i+1].id == e.id && e.cmd != "" && evs[i+1].cmd == e.cmd {
			continue // the state between two events of one decision is not a state the position was in
		}
		s := tr.l.State
		free := s
		free.Pending = nil
		_, _, _, over := free.ReadyToHedge()
		if span(&tr.overAt, over, e.at, &st.LongestOver) {
			st.Symbol = e.id
		}
		span(&tr.idleAt, over && s.Pending == nil, e.at, &st.LongestOverIdle)
	}
	return st
}

// readHedgeStats reads position.events to its end and folds it. Events
// re-published after a crash appear twice: each (id, sequence) counts once,
// in sequence order.
func readHedgeStats(ctx context.Context, brokers []string) (HedgeStats, error) {
	type key struct {
		id  string
		seq uint64
	}
	seen := map[key]bool{}
	var evs []timedEvent
	var seqs []uint64
	var bad error
	err := readTopic(ctx, brokers, topics.PositionEvents, func(r *kgo.Record) {
		env, err := topics.DecodeEnvelope(r.Value)
		if err == nil && !seen[key{env.AggregateID, env.Sequence}] {
			seen[key{env.AggregateID, env.Sequence}] = true
			var ev aggregate.Event
			if ev, err = position.Events.Decode(env.EventType, env.Payload); err == nil {
				evs = append(evs, timedEvent{id: env.AggregateID, at: r.Timestamp, ev: ev, cmd: env.CommandID})
				seqs = append(seqs, env.Sequence)
			}
		}
		if err != nil && bad == nil {
			bad = fmt.Errorf("%s@%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
	})
	if err = errors.Join(err, bad); err != nil {
		return HedgeStats{}, err
	}
	// Positions fold independently: order each one's events by sequence.
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := evs[idx[a]], evs[idx[b]]
		if ea.id != eb.id {
			return ea.id < eb.id
		}
		return seqs[idx[a]] < seqs[idx[b]]
	})
	ordered := make([]timedEvent, len(evs))
	for i, j := range idx {
		ordered[i] = evs[j]
	}
	return foldHedgeStats(ordered), nil
}
