package ordermanager

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/stagetest"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

func TestOrderPlacerRejectsPoisonWithReason(t *testing.T) {
	_, out, err := Placer().Handle(PendingHedge{}, stagetest.Poison)
	stagetest.RejectsPoison(t, "order placer", out, err)
}

func TestTrackerReportsOutcomeToPosition(t *testing.T) {
	exec := "0b1e1b2c-0000-5000-8000-000000000001"
	var o TrackedOrder
	step := func(seq uint64, e aggregate.Event) []runner.Output {
		t.Helper()
		var out []runner.Output
		var err error
		o, out, err = trackOrder(o, eventIn(t, topics.OffchainOrder, exec, seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
			t.Fatal(err)
		}
		return out
	}
	ref := d("228")
	step(1, offchainorder.Placed{Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun, ReferencePrice: &ref, PlacedAt: t0})
	if o.Status != OrderPending || !o.ReferencePrice.Equal(ref) {
		t.Fatalf("after Placed: %+v", o)
	}
	step(2, offchainorder.Submitted{BrokerOrderID: "DRY-1", SubmittedAt: t0})
	out := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0.Add(time.Second)})
	if o.Status != OrderDone || len(out) != 1 || out[0].Key != "AAPL" {
		t.Fatalf("after Filled: %+v out %v", o, out)
	}
	env, c := decodeCommand(t, out[0])
	done := c.(position.CompleteOffChainOrder)
	if env.CommandID != "complete:"+exec || done.ExecutionID != exec || !done.SharesFilled.Equal(d("2")) || !done.Price.Equal(d("227.5")) || done.BrokerOrderID != "DRY-1" {
		t.Fatalf("complete %+v %+v", env, done)
	}
	if again := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0}); len(again) != 0 {
		t.Fatal("duplicate event reported twice")
	}
	if out[0].Topic != topics.PositionCommands {
		t.Fatalf("outcome sent to %s, want %s", out[0].Topic, topics.PositionCommands)
	}
}

// The broker lost an order's Submitted event and the order aggregate
// re-published it after Filled: the tracker must hold Filled until
// Submitted is in, then report the fill with the broker order id.
func TestTrackerWaitsForAGapInTheOrdersEvents(t *testing.T) {
	exec := "0b1e1b2c-0000-5000-8000-000000000002"
	var o TrackedOrder
	step := func(seq uint64, e aggregate.Event) []runner.Output {
		t.Helper()
		var out []runner.Output
		var err error
		o, out, err = trackOrder(o, eventIn(t, topics.OffchainOrder, exec, seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
			t.Fatal(err)
		}
		return out
	}
	step(1, offchainorder.Placed{Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun, PlacedAt: t0})
	if out := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0}); len(out) != 0 || o.Status != OrderPending || len(o.Parked) != 1 {
		t.Fatalf("event 3 beyond the gap: out %v, state %+v; want it parked", out, o)
	}
	out := step(2, offchainorder.Submitted{BrokerOrderID: "DRY-9", SubmittedAt: t0})
	if len(out) != 1 || o.Status != OrderDone || o.LastSequence != 3 || o.Parked != nil {
		t.Fatalf("gap filled: out %v state %+v; want Filled applied after Submitted", out, o)
	}
	if _, c := decodeCommand(t, out[0]); c.(position.CompleteOffChainOrder).BrokerOrderID != "DRY-9" {
		t.Fatalf("complete %+v", c)
	}
}

// The order placer records which hedge its position has pending (what the
// poller checks before placing anything at the broker) and publishes each
// change on position.hedges, only forward in the position's sequence, and
// records nothing for fills.
func TestOrderPlacerTracksThePendingHedge(t *testing.T) {
	handle := Placer().Handle
	published := func(o runner.Output, want PendingHedge) {
		t.Helper()
		h, err := DecodePendingHedge(o.Value)
		if o.Topic != topics.PendingHedges || o.Key != "AAPL" || err != nil || h != want {
			t.Fatalf("published %s %s %s (%v), want %+v on %s", o.Topic, o.Key, o.Value, err, want, topics.PendingHedges)
		}
	}
	exec := position.ExecutionID("AAPL", 2)
	placed := position.OffChainOrderPlaced{ExecutionID: exec, Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun,
		TriggerReason: position.TriggerReason{Kind: position.TriggerShares, NetPosition: d("2.5")}, PlacedAt: t0}
	st, out, err := handle(PendingHedge{}, eventIn(t, topics.Position, "AAPL", 2, placed))
	if err != nil || len(out) != 2 || st.ExecutionID != exec {
		t.Fatalf("placed: out %v err %v state %+v", out, err, st)
	}
	published(out[0], PendingHedge{ExecutionID: exec, Sequence: 2})
	if _, c := decodeCommand(t, out[1]); c.CommandType() != "Place" || out[1].Key != exec {
		t.Fatalf("command %+v to %s", c, out[1].Key)
	}
	id, _ := market.NewTradeID("0x"+strings.Repeat("ef", 32), 1)
	fill := position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1"), Direction: market.Buy, PriceUSDC: d("228"), BlockTimestamp: t0, SeenAt: t0}
	if next, out, _ := handle(st, eventIn(t, topics.Position, "AAPL", 3, fill)); next != st || len(out) != 0 {
		t.Fatalf("a fill changed %+v to %+v (out %v)", st, next, out)
	}
	filled := position.OffChainOrderFilled{ExecutionID: exec, SharesFilled: d("2"), Direction: market.Sell, BrokerOrderID: "b", Price: d("228"), BrokerTimestamp: t0}
	st, out, err = handle(st, eventIn(t, topics.Position, "AAPL", 4, filled))
	if err != nil || len(out) != 1 || st.ExecutionID != "" || st.Sequence != 4 {
		t.Fatalf("filled: out %v err %v state %+v", out, err, st)
	}
	published(out[0], PendingHedge{Sequence: 4})
	// The Placed event re-published late: its Place goes out again (the
	// order aggregate drops it), but the hedge stays settled.
	if st2, out, _ := handle(st, eventIn(t, topics.Position, "AAPL", 2, placed)); st2.ExecutionID != "" || len(out) != 1 || out[0].Topic != topics.OffchainOrderCommands {
		t.Fatalf("late Placed: state %+v out %v", st2, out)
	}
}
