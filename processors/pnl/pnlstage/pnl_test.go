package pnlstage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/internal/stagetest"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

func TestPnLStageAppliesFillsOnceInPositionOrder(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("cd", 32), 1)
	var book State
	var recs []pnl.Record
	feed := func(seq uint64, e aggregate.Event) {
		t.Helper()
		var out []runner.Output
		var err error
		book, out, err = handlePnL(book, eventIn(t, topics.Position, "AAPL", seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
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
	feed(1, position.Initialized{Symbol: "AAPL", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0})
	feed(2, position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1.5"), Direction: market.Sell, PriceUSDC: d("150"), BlockTimestamp: t0, SeenAt: t0})
	feed(2, position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1.5"), Direction: market.Sell, PriceUSDC: d("150"), BlockTimestamp: t0, SeenAt: t0}) // duplicate
	feed(3, position.OffChainOrderFilled{ExecutionID: "x", SharesFilled: d("1"), Direction: market.Buy, BrokerOrderID: "b", Price: d("148.5"), BrokerTimestamp: t0})
	if len(recs) != 2 {
		t.Fatalf("want 2 records (duplicate skipped), got %d", len(recs))
	}
	last := recs[1]
	if last.Venue != pnl.Offchain || !last.RealizedPnL.Equal(d("1.5")) || !last.NetPositionAfter.Equal(d("-0.5")) || last.PositionSequence != 3 {
		t.Fatalf("offchain record %+v", last)
	}
}

func TestPnLStageRejectsPoisonWithReason(t *testing.T) {
	_, out, err := handlePnL(State{}, stagetest.Poison)
	stagetest.RejectsPoison(t, "pnl", out, err)
}

// Issue 8: the broker lost position event 553 but kept 554; 553 came again
// later. The PnL of every order of arrival with gaps and repeats must equal
// the PnL of the events in order.
func TestPnLStageWaitsForGaps(t *testing.T) {
	seed := testseed.Seed(t, "arrival orders")
	r := rand.New(rand.NewPCG(seed, 3))
	var evs []aggregate.Event
	evs = append(evs, position.Initialized{Symbol: "NVDA", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0})
	for i := range 40 {
		id, _ := market.NewTradeID(fmt.Sprintf("0x%064x", i+1), 0)
		dir := market.Buy
		if r.IntN(2) == 0 {
			dir = market.Sell
		}
		evs = append(evs, position.OnChainOrderFilled{TradeID: id, BlockNumber: uint64(i + 1), Amount: decimal.New(1+r.Int64N(300), -1),
			Direction: dir, PriceUSDC: decimal.New(17000+r.Int64N(2000), -2), BlockTimestamp: t0, SeenAt: t0})
	}
	run := func(order []int) string {
		var st State
		var recs []string
		for _, i := range order {
			var out []runner.Output
			var err error
			st, out, err = handlePnL(st, eventIn(t, topics.Position, "NVDA", uint64(i+1), evs[i]))
			if err != nil && !errors.Is(err, runner.ErrDuplicate) {
				t.Fatal(err)
			}
			for _, o := range out {
				recs = append(recs, string(o.Value))
			}
		}
		if len(st.Parked) != 0 {
			t.Fatalf("seed %d: %d events still parked", seed, len(st.Parked))
		}
		return strings.Join(recs, "\n")
	}
	inOrder := make([]int, len(evs))
	for i := range inOrder {
		inOrder[i] = i
	}
	want := run(inOrder)
	for range 50 {
		// Each event arrives once or twice, a lost one later than its
		// successors: swap random neighbours, duplicate random ones.
		order := slices.Clone(inOrder)
		for range 10 {
			i := r.IntN(len(order) - 1)
			order[i], order[i+1] = order[i+1], order[i]
		}
		for range 5 {
			order = slices.Insert(order, r.IntN(len(order)), order[r.IntN(len(order))])
		}
		if got := run(order); got != want {
			t.Fatalf("arrival order %v gives other PnL records than in order", order)
		}
	}
}
