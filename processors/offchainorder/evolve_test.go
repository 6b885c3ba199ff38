package offchainorder_test

import (
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func TestEvolveRevalidatesEvents(t *testing.T) {
	migratedFilled := migratedPending()
	migratedFilled.Status, migratedFilled.BrokerOrderID = oo.StatusFilled, ptr("42")
	cases := []struct {
		name, reason string
		events       []aggregate.Event
	}{
		{"placed with zero shares", "shares", []aggregate.Event{func() oo.Placed { e := placed(); e.Shares = dec("0"); return e }()}},
		{"placed with zero reference price", "reference_price", []aggregate.Event{func() oo.Placed { e := placed(); e.ReferencePrice = ptr(dec("0")); return e }()}},
		{"placed without time", "placed_at", []aggregate.Event{func() oo.Placed { e := placed(); e.PlacedAt = time.Time{}; return e }()}},
		{"submitted without id", "broker_order_id", []aggregate.Event{placed(), oo.Submitted{SubmittedAt: submitAt}}},
		{"partial fill of the whole order", oo.ErrFillNotPartial.Error(), []aggregate.Event{placed(), submitted(), partial("3")}},
		{"partial fill going down", oo.ErrFillDecreased.Error(), []aggregate.Event{placed(), submitted(), partial("2"), partial("1")}},
		{"filled without price", "price", []aggregate.Event{placed(), submitted(), oo.Filled{FilledAt: partialAt}}},
		{"failed without error", "error", []aggregate.Event{placed(), oo.Failed{FailedAt: partialAt}}},
		{"migrated filled without price", oo.ErrMissingPrice.Error(), []aggregate.Event{migratedFilled}},
		{"unknown event", "unknown event", []aggregate.Event{unknownEvent{}}},
		{"unknown event on live order", "unknown event", []aggregate.Event{placed(), unknownEvent{}}},
		{"genesis on live order", "already initialized", []aggregate.Event{placed(), placed()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			thenFailed(t, given(tc.events...), tc.reason)
		})
	}
}

func TestEvolveFailedOrderIgnoresLaterEventsButCountsThem(t *testing.T) {
	l := given(submitted(), placed(), submitted())
	if l.Status != aggregate.Failed || l.Version != 3 {
		t.Fatalf("status %q version %d", l.Status, l.Version)
	}
}

func TestReplayEqualsExecute(t *testing.T) {
	var l aggregate.Lifecycle[oo.State]
	var log []aggregate.Event
	for _, c := range []aggregate.Command{
		place(), oo.ConfirmSubmission{BrokerOrderID: "1"},
		oo.UpdatePartialFill{SharesFilled: dec("1"), AvgPrice: dec("10")}, oo.CompleteFill{Price: dec("10.5")},
	} {
		next, events, err := when(l, c)
		if err != nil {
			t.Fatal(err)
		}
		l, log = next, append(log, events...)
	}
	if mustJSON(t, given(log...)) != mustJSON(t, l) {
		t.Fatal("replay differs from execute")
	}
}

type unknownEvent struct{}

func (unknownEvent) EventType() string { return "OffchainOrderEvent::Cancelled" }
