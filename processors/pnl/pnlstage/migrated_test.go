package pnlstage

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

// records feeds the events (sequences 1..n) to a fresh PnL stage and
// returns each record as "venue direction quantity@price realized
// cumulative net".
func records(t *testing.T, events ...aggregate.Event) []string {
	t.Helper()
	var st State
	var out []string
	for i, e := range events {
		next, outs, err := handlePnL(st, eventIn(t, topics.Position, "AAPL", uint64(i+1), e))
		if err != nil {
			t.Fatalf("event %d %s: %v", i+1, e.EventType(), err)
		}
		st = next
		for _, o := range outs {
			var r pnl.Record
			if err := json.Unmarshal(o.Value, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s %s@%s realized %s cumulative %s net %s", r.Venue, r.Direction, r.Quantity,
				r.Price, r.RealizedPnL, r.CumulativePnL, r.NetPositionAfter))
		}
	}
	return out
}

// The upstream mixed-venue example (on-chain Buy 100 @ 10, off-chain Sell
// 50 @ 11, on-chain Sell 30 @ 12: realized 50 then 60, net 20), migrated
// as history and continued by live fills, books exactly what the same
// fills booked live from the start.
func TestMigratedHistoryContinuesTheSameFIFOBook(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	hist := func(venue string, dir market.Direction, q, p string, m int) position.MigratedFillRecorded {
		return position.MigratedFillRecorded{Symbol: "AAPL", Venue: venue, SourceID: fmt.Sprintf("legacy-%d", m), Direction: dir,
			Amount: d(q), PriceUSDC: d(p), At: at(m), RecordedAt: at(100)}
	}
	id := func(n uint64) market.TradeID {
		tid, _ := market.NewTradeID(fmt.Sprintf("0x%064x", n), 1)
		return tid
	}
	onchain := func(n uint64, dir market.Direction, q, p string, m int) position.OnChainOrderFilled {
		return position.OnChainOrderFilled{TradeID: id(n), BlockNumber: n, Amount: d(q), Direction: dir, PriceUSDC: d(p),
			BlockTimestamp: at(m), SeenAt: at(m)}
	}
	hedge := func(q, p string, m int) position.OffChainOrderFilled {
		return position.OffChainOrderFilled{ExecutionID: "x", SharesFilled: d(q), Direction: market.Sell, BrokerOrderID: "b",
			Price: d(p), BrokerTimestamp: at(m)}
	}
	th, exec := market.WholeShare(), market.DefaultExecution(market.DryRun)
	// The live run's placements and the migrated run's Migrated event move
	// no book; they are in the streams as the position emits them.
	live := records(t,
		position.Initialized{Symbol: "AAPL", Threshold: th, Execution: exec, InitializedAt: t0},
		onchain(1, market.Buy, "100", "10", 1),
		hedge("50", "11.00", 2),
		onchain(3, market.Sell, "30", "12", 3),
		onchain(4, market.Sell, "25", "13", 200),
		hedge("5", "9", 201),
	)
	migrated := records(t,
		position.Migrated{Symbol: "AAPL", NetPosition: d("20"), AccumulatedLong: d("100"), AccumulatedShort: d("30"),
			Threshold: th, Execution: exec, MigratedAt: at(100)},
		hist("onchain", market.Buy, "100", "10", 1),
		hist("offchain", market.Sell, "50", "11.00", 2),
		hist("onchain", market.Sell, "30", "12", 3),
		onchain(4, market.Sell, "25", "13", 200),
		hedge("5", "9", 201),
	)
	if len(live) != 5 || fmt.Sprint(live) != fmt.Sprint(migrated) {
		t.Fatalf("migrated then live:\n%q\nlive from the start:\n%q", migrated, live)
	}
	for i, want := range []string{"realized 0 cumulative 0 net 100", "realized 50 cumulative 50 net 50",
		"realized 60 cumulative 110 net 20", "realized 60 cumulative 170 net -5", "realized 0 cumulative 170 net -10"} {
		if got := migrated[i]; len(got) < len(want) || got[len(got)-len(want):] != want {
			t.Errorf("record %d: %s, want ... %s", i+1, got, want)
		}
	}
}

// A MigratedFillRecorded with a venue the book does not know is recorded
// as a rejection, not booked.
func TestMigratedFillWithUnknownVenueIsRejected(t *testing.T) {
	var st State
	_, outs, err := handlePnL(st, eventIn(t, topics.Position, "AAPL", 1, position.MigratedFillRecorded{Symbol: "AAPL", Venue: "dex",
		SourceID: "x", Direction: market.Buy, Amount: d("1"), PriceUSDC: d("1"), At: t0, RecordedAt: t0}))
	if err != nil || len(outs) != 1 || outs[0].Topic != topics.PositionRejections {
		t.Fatalf("out %v err %v, want one rejection", outs, err)
	}
}
