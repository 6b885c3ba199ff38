package ordermanager

import (
	"context"
	"time"

	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/twmb/franz-go/pkg/kgo"
)

// hintBuffer is how many hints wait for the poller; beyond it they are
// dropped and the next tick places those orders.
const hintBuffer = 1024

// A hinted order whose position's pending hedge is not in the view yet is
// tried again after 1 ms, doubling to hintRetryMax, hintRetries times
// (about a second), after which the tick takes over. The view usually
// trails by a millisecond or two.
const (
	hintRetries  = 45
	hintRetryMax = 25 * time.Millisecond
)

type hint struct {
	order   TrackedOrder
	attempt int
}

// Hint tells the poller the tracker has just recorded o as pending, so it
// is placed now instead of at the next tick (the difference between a
// hedge accepted in milliseconds and in up to Interval). Pass it from the
// tracker stage; it never blocks. A hint is only a wake-up: placing is
// idempotent by client order id, and the same checks as a tick's apply.
func (p *Poller) Hint(o TrackedOrder) { p.sendHint(hint{order: o}) }

func (p *Poller) sendHint(h hint) {
	select {
	case p.hints <- h:
	default: // the tick will find it
	}
}

func (p *Poller) handleHint(ctx context.Context, h hint) {
	o := h.order
	if o.Status != OrderPending || !p.owns(o.ExecutionID) {
		return
	}
	if !p.reconciled {
		// In-flight orders are reconciled by the first complete tick
		// before anything new is placed; the hint waits for it.
		p.deferred = append(p.deferred, h)
		return
	}
	if _, done := p.recent[o.ExecutionID]; done {
		return
	}
	rec := p.advance(ctx, o)
	if rec == nil {
		p.settling = p.settling[:0]
		if p.positionLag && h.attempt < hintRetries {
			wait := min(time.Millisecond<<min(h.attempt, 10), hintRetryMax)
			h.attempt++
			time.AfterFunc(wait, func() { p.sendHint(h) })
		}
		return
	}
	if err := p.produce(ctx, []*kgo.Record{rec}); err != nil && ctx.Err() == nil {
		p.cfg.Logger.Warn("hinted order: command not recorded; left to the tick", "execution_id", o.ExecutionID, "err", err)
	}
}

// Tracking is the order tracker stage wired to p: it tells p which
// partitions it owns, keeps p's index of open orders, and hints every
// order that becomes pending. The
// stage's state and outputs are unchanged: a hint is a side channel, and
// an input redelivered after a crash hints again, harmlessly.
func (p *Poller) Tracking(st runner.Stage[TrackedOrder]) runner.Stage[TrackedOrder] {
	handle := st.Handle
	st.OnAssign = p.Assign
	st.Handle = func(o TrackedOrder, in runner.Input) (TrackedOrder, []runner.Output, error) {
		next, out, err := handle(o, in)
		if err == nil {
			p.index.apply(next, p.cfg.Clock())
			if next.Status == OrderPending && o.Status != OrderPending {
				p.Hint(next)
			}
		}
		return next, out, err
	}
	return st
}
