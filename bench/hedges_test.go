package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/shopspring/decimal"
)

// A position over its 1-share threshold from t+1s (fill) to t+5s (hedge
// filled), its hedge pending t+1s..t+5s, and idle over threshold from
// t+5s to t+7s (a hedge that left it over and placed nothing new would be a
// bug; here it is made by a failed hedge and a fill that adds to it).
func TestFoldHedgeStats(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	d := decimal.RequireFromString
	id, _ := market.NewTradeID("0xab00000000000000000000000000000000000000000000000000000000000000", 1)
	exec := position.ExecutionID("NVDA", 3)
	evs := []timedEvent{
		{"NVDA", at(0), position.Initialized{Symbol: "NVDA", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0}, "c1"},
		{"NVDA", at(1), position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("2.5"), Direction: market.Sell, PriceUSDC: d("180"), BlockTimestamp: t0, SeenAt: t0}, "c2"},
		{"NVDA", at(1), position.OffChainOrderPlaced{ExecutionID: exec, Symbol: "NVDA", Shares: d("2"), Direction: market.Buy, Broker: market.DryRun,
			TriggerReason: position.TriggerReason{Kind: position.TriggerShares, NetPosition: d("-2.5")}, PlacedAt: t0}, "c3"},
		{"NVDA", at(5), position.OffChainOrderFailed{ExecutionID: exec, Error: "x", FailedAt: t0}, "c4"},
		{"NVDA", at(7), position.OffChainOrderPlaced{ExecutionID: position.ExecutionID("NVDA", 5), Symbol: "NVDA", Shares: d("2"), Direction: market.Buy, Broker: market.DryRun,
			TriggerReason: position.TriggerReason{Kind: position.TriggerShares, NetPosition: d("-2.5")}, PlacedAt: t0}, "c5"},
		{"NVDA", at(9), position.OffChainOrderFilled{ExecutionID: position.ExecutionID("NVDA", 5), SharesFilled: d("2"), Direction: market.Buy, BrokerOrderID: "b", Price: d("180"), BrokerTimestamp: t0}, "c6"},
	}
	st := foldHedgeStats(evs)
	if st.Hedges != 1 || st.LongestPending != 4*time.Second || st.LongestOverIdle != 2*time.Second || st.LongestOver != 8*time.Second || st.Symbol != "NVDA" {
		t.Fatalf("stats %+v", st)
	}
}

// Every hedge is timed from its cause: a fill's Witness produce time
// (ack:<trade>, with or without a fill sequence), or the previous hedge's
// fill at the dry-run broker (its accepted_at plus the fill delay) for one
// placed on a completion or failure. Trades of other loads, chains from
// before the load and causes without a time are left out or counted apart.
func TestCorrelateHedges(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sent := NewSent()
	sent.put("0xt1", at(0))
	sent.put("0xt2", at(100))
	accepted := map[string]time.Time{
		"e1": at(300), "e2": at(1500), "e3": at(2000), "e4": at(400), "old": at(-5000), "e-old": at(-4000), "e5": at(900),
	}
	booked := map[string]time.Time{"e1": at(350), "e2": at(1600), "e4": at(500)}
	placed := []placedHedge{
		{"e1", "ack:0xt1"},         // fill-triggered: accepted 300, booked 350
		{"e4", "ack:0xt2#2"},       // a second incarnation of a trade: accepted 300, booked 400
		{"e2", "complete:e1"},      // after e1 filled at 300 (+100 delay): accepted 1100, booked 1200
		{"e3", "fail:e4"},          // after e4 failed at 400 (+100): accepted 1500, not booked
		{"e9", "complete:e2"},      // not accepted, not booked yet
		{"e-old", "complete:old"},  // a chain from before the load
		{"x", "ack:0xother"},       // a trade of another load
		{"e5", "threshold:NVDA:1"}, // a cause with no time
	}
	l := correlateHedges(placed, accepted, booked, sent, 100*time.Millisecond)
	ms := func(ds []time.Duration) []int {
		var out []int
		for _, d := range ds {
			out = append(out, int(d/time.Millisecond))
		}
		return out
	}
	eq := func(name string, got []time.Duration, want ...int) {
		t.Helper()
		if g := ms(got); len(g) != len(want) || (len(g) > 0 && !slices.Equal(g, want)) {
			t.Fatalf("%s: %v, want %v", name, g, want)
		}
	}
	eq("accepted", l.Accepted, 300, 300)
	eq("booked", l.Booked, 350, 400)
	eq("all accepted", l.AllAccepted, 300, 300, 1100, 1500)
	eq("all booked", l.AllBooked, 350, 400, 1200)
	if l.NotAccepted != 1 || l.NotBooked != 2 || l.Untimed != 1 {
		t.Fatalf("not accepted %d, not booked %d, untimed %d", l.NotAccepted, l.NotBooked, l.Untimed)
	}
}
