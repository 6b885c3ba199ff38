package ordermanager

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

func legacyOrder(status offchainorder.Status) offchainorder.Migrated {
	e := offchainorder.Migrated{Symbol: "AAPL", Shares: d("3"), Direction: market.Sell, Broker: market.DryRun,
		Status: status, LegacyID: 42, MigratedAt: t0}
	switch status {
	case offchainorder.StatusSubmitted:
		e.BrokerOrderID = ptr("LEGACY-7")
	case offchainorder.StatusFilled:
		e.BrokerOrderID, e.Price = ptr("LEGACY-7"), ptr(d("227.5"))
	case offchainorder.StatusFailed:
		e.Error = "rejected"
	}
	return e
}

// A terminal legacy order is history (already in the migrated net, its
// fill recorded by the migrate tool): no position command. An in-flight
// one stays open, and its outcome goes to the position like any hedge's.
func TestTrackerMigratedOrders(t *testing.T) {
	exec := "0b1e1b2c-0000-5000-8000-0000000000aa"
	for _, tc := range []struct {
		status offchainorder.Status
		want   OrderStatus
	}{
		{offchainorder.StatusFilled, OrderDone},
		{offchainorder.StatusFailed, OrderDone},
		{offchainorder.StatusSubmitted, OrderSubmitted},
		{offchainorder.StatusPending, OrderPending},
	} {
		o, out, err := trackOrder(TrackedOrder{}, eventIn(t, topics.OffchainOrder, exec, 1, legacyOrder(tc.status)))
		if err != nil || len(out) != 0 {
			t.Fatalf("%s: out %v err %v, want no command", tc.status, out, err)
		}
		if o.Status != tc.want || !o.Migrated || o.LegacyID != 42 || o.ExecutionID != exec {
			t.Fatalf("%s: tracked %+v, want %s", tc.status, o, tc.want)
		}
	}
	o, _, _ := trackOrder(TrackedOrder{}, eventIn(t, topics.OffchainOrder, exec, 1, legacyOrder(offchainorder.StatusSubmitted)))
	if o.BrokerOrderID != "LEGACY-7" {
		t.Fatalf("broker order id %q", o.BrokerOrderID)
	}
	o, out, err := trackOrder(o, eventIn(t, topics.OffchainOrder, exec, 2, offchainorder.Filled{Price: d("228"), FilledAt: t0}))
	if err != nil || len(out) != 1 || o.Status != OrderDone {
		t.Fatalf("fill of the in-flight legacy order: out %v err %v state %+v", out, err, o)
	}
	_, c := decodeCommand(t, out[0])
	if done, ok := c.(position.CompleteOffChainOrder); !ok || done.ExecutionID != exec || done.BrokerOrderID != "LEGACY-7" ||
		!done.SharesFilled.Equal(d("3")) || out[0].Key != "AAPL" {
		t.Fatalf("command %+v to %s", c, out[0].Key)
	}
}

// The poller asks the broker about a migrated submitted order by its
// broker order id, and fails a migrated pending one without calling the
// broker at all (placing it could trade twice), naming the legacy row.
func TestPollerReconcilesMigratedOrders(t *testing.T) {
	now := t0
	b := &recorder{Broker: openDryRun(t, filepath.Join(t.TempDir(), "ledger.jsonl"))}
	p, _ := newPoller(t, b, &now, nopOrders{})

	submitted := order(OrderSubmitted, t0)
	submitted.Migrated, submitted.LegacyID = true, 41
	submitted.BrokerOrderID = placeAt(t, b.Broker, TrackedOrder{ExecutionID: "legacy-client-id", Symbol: "AAPL",
		Shares: d("1"), Direction: market.Sell, ReferencePrice: submitted.ReferencePrice})
	id, c := commandOf(t, p.advance(context.Background(), submitted))
	if fill, ok := c.(offchainorder.CompleteFill); !ok || id != "fill:"+submitted.ExecutionID || !fill.Price.Equal(d("228")) {
		t.Fatalf("migrated submitted: %s %+v", id, c)
	}

	// Still open at the broker long after the stale timeout: it waits for
	// the broker, never failed as stale.
	resting := order(OrderSubmitted, t0)
	resting.ExecutionID, resting.Migrated, resting.LegacyID = "0b1e1b2c-0000-5000-8000-0000000000cc", true, 43
	resting.BrokerOrderID = "LEGACY-RESTING"
	stale := &recorder{Broker: &openOrders{}}
	sp, _ := newPoller(t, stale, &now, nopOrders{})
	for range 3 {
		now = now.Add(time.Hour)
		if r := sp.advance(context.Background(), resting); r != nil {
			id, c := commandOf(t, r)
			t.Fatalf("a resting legacy order got %s %+v", id, c)
		}
	}
	if calls := stale.Calls(); len(calls) != 3 {
		t.Fatalf("broker calls %v, want the order polled each time", calls)
	}
	// A live order in the same state is failed as stale (the rule it is
	// exempt from).
	live := resting
	live.Migrated = false
	if r := sp.advance(context.Background(), live); r != nil { // first sighted now
		t.Fatal("live resting order failed at first sight")
	}
	now = now.Add(time.Hour)
	if id, _ := commandOf(t, sp.advance(context.Background(), live)); id != "fail:"+live.ExecutionID {
		t.Fatalf("live resting order: %s, want failed as stale", id)
	}
	now = t0

	pending := order(OrderPending, t0)
	pending.ExecutionID, pending.Migrated, pending.LegacyID = "0b1e1b2c-0000-5000-8000-0000000000bb", true, 42
	id, c = commandOf(t, p.advance(context.Background(), pending))
	f, ok := c.(offchainorder.MarkFailed)
	if !ok || id != "fail:"+pending.ExecutionID || !strings.Contains(f.Error, "offchain_trades row 42") {
		t.Fatalf("migrated pending: %s %+v", id, c)
	}
	if calls := b.Calls(); len(calls) != 1 || calls[0] != "Status "+submitted.BrokerOrderID {
		t.Fatalf("broker calls %v, want one status of the submitted order", calls)
	}
	// The order aggregate accepts the failure of a migrated pending order.
	l := aggregate.Replay(offchainorder.Definition, []aggregate.Event{legacyOrder(offchainorder.StatusPending)})
	if _, _, err := aggregate.Execute(offchainorder.Definition, l, f, aggregate.Meta{CommandID: id, At: t0}); err != nil {
		t.Fatalf("MarkFailed on a migrated pending order: %v", err)
	}
}

// openOrders is a broker at which every order rests, submitted.
type openOrders struct{ flaky }

func (*openOrders) Status(context.Context, string) (brokers.OrderStatus, error) {
	return brokers.OrderStatus{State: brokers.StateSubmitted}, nil
}
