package ordermanager

import (
	"context"
	"time"
)

// marketGate caches the broker's market hours: orders are placed only while
// the market is open, and hedges decided while it is closed wait for the
// open (fills keep accumulating in the position meanwhile).
type marketGate struct {
	known    bool
	open     bool
	nextOpen time.Time
	checkAt  time.Time // when to ask the broker again
}

// marketOpen reports whether orders may be placed now, asking the broker
// at most every MarketCheckEvery, and at once when a closed market's next
// open has come. Until the broker has answered once, the market counts as
// closed: nothing is placed on a guess.
func (p *Poller) marketOpen(ctx context.Context, now time.Time) bool {
	g := &p.market
	due := !now.Before(g.checkAt) || (g.known && !g.open && !g.nextOpen.IsZero() && !now.Before(g.nextOpen))
	if !due {
		return g.open
	}
	st, err := p.cfg.Broker.Market(ctx)
	if err != nil {
		// Ask again soon; keep the last answer meanwhile.
		g.checkAt = now.Add(min(5*time.Second, p.cfg.MarketCheckEvery))
		p.cfg.Logger.Warn("broker market hours unavailable", "err", err, "market_open", g.known && g.open)
		return g.known && g.open
	}
	if !g.known || st.Open != g.open {
		if st.Open {
			p.cfg.Logger.Info("market open: placing hedges")
		} else {
			p.cfg.Logger.Info("market closed: hedges wait for the open", "next_open", st.NextOpen)
		}
	}
	g.known, g.open, g.nextOpen = true, st.Open, st.NextOpen
	g.checkAt = now.Add(p.cfg.MarketCheckEvery)
	if !st.Open && !st.NextOpen.IsZero() && st.NextOpen.After(now) && st.NextOpen.Before(g.checkAt) {
		g.checkAt = st.NextOpen
	}
	return g.open
}

// holdWhileClosed keeps a pending order waiting for the open without its
// stale timer running: a hedge decided on Friday evening is placed on
// Monday morning, not failed.
func (p *Poller) holdWhileClosed(o TrackedOrder, now time.Time) {
	p.sighted[o.ExecutionID] = sighting{status: o.Status, at: now}
	delete(p.notPending, o.ExecutionID)
}
