package pnlstage

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

func TestPnLStageBooksARevertedFillAsItsOpposite(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("cd", 32), 1)
	var st State
	var recs []pnl.Record
	for seq, e := range []aggregate.Event{
		position.Initialized{Symbol: "AAPL", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0},
		position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("3"), Direction: market.Buy, PriceUSDC: d("100"), BlockTimestamp: t0, SeenAt: t0},
		position.OffChainOrderFilled{ExecutionID: "x", SharesFilled: d("2"), Direction: market.Sell, BrokerOrderID: "b", Price: d("105"), BrokerTimestamp: t0},
		position.OnChainFillReverted{TradeID: id, BlockNumber: 1, Amount: d("3"), Direction: market.Buy, PriceUSDC: d("100"), Reason: "reorg", RevertedAt: t0},
	} {
		var out []runner.Output
		var err error
		st, out, err = handlePnL(st, eventIn(t, topics.Position, "AAPL", uint64(seq+1), e))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			var r pnl.Record
			if err := json.Unmarshal(o.Value, &r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	if len(recs) != 3 {
		t.Fatalf("records %+v", recs)
	}
	r := recs[2]
	if !r.Revert || r.Direction != market.Sell || r.Venue != pnl.Onchain || !r.Quantity.Equal(d("3")) || !r.Price.Equal(d("100")) ||
		!r.RealizedPnL.IsZero() || !r.CumulativePnL.Equal(d("10")) || !r.NetPositionAfter.Equal(d("-2")) || r.PositionSequence != 4 ||
		r.PreviousSequence == nil || *r.PreviousSequence != 3 {
		t.Fatalf("revert record %+v", r)
	}
	if recs[0].Revert || recs[1].Revert {
		t.Fatal("fills flagged as reverts")
	}
}
