package bench

import (
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
