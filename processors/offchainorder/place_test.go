package offchainorder_test

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func TestPlaceEmitsPlacedAndIsPending(t *testing.T) {
	l, got, err := when(given(), place())
	want := placed()
	want.PlacedAt = meta.At
	thenEvents(t, got, err, want)
	thenState(t, l, oo.State{
		Status: oo.StatusPending, Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy,
		Broker: market.Schwab, PlacedAt: meta.At,
	})
}

func TestPlaceKeepsTheReferencePrice(t *testing.T) {
	c := place()
	c.ReferencePrice = ptr(dec("150.25"))
	l, got, err := when(given(), c)
	want := placed()
	want.ReferencePrice, want.PlacedAt = ptr(dec("150.25")), meta.At
	thenEvents(t, got, err, want)
	if p := l.State.ReferencePrice; p == nil || !p.Equal(dec("150.25")) {
		t.Fatalf("reference price %v", p)
	}
}

func TestPlaceAcceptsFractionalSharesAndEveryBroker(t *testing.T) {
	for _, b := range []market.Broker{market.Schwab, market.Alpaca, market.DryRun} {
		c := place()
		c.Shares, c.Broker, c.Direction = dec("0.374"), b, market.Sell
		if _, _, err := when(given(), c); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
}

func TestPlaceOnLiveOrderIsAlreadyPlaced(t *testing.T) {
	_, got, err := when(given(placed()), place())
	thenError(t, got, err, oo.ErrAlreadyPlaced)
	thenError(t, got, err, aggregate.ErrAlreadyInitialized)
}

func TestPlaceRejectsInvalidFields(t *testing.T) {
	cases := []struct {
		name, field string
		mutate      func(*oo.Place)
	}{
		{"empty symbol", "symbol", func(c *oo.Place) { c.Symbol = "" }},
		{"lowercase symbol", "symbol", func(c *oo.Place) { c.Symbol = "aapl" }},
		{"tokenized symbol", "symbol", func(c *oo.Place) { c.Symbol = "tAAPL" }},
		{"symbol too long", "symbol", func(c *oo.Place) { c.Symbol = "ABCDEFGHIJK" }},
		{"zero shares", "shares", func(c *oo.Place) { c.Shares = dec("0") }},
		{"negative shares", "shares", func(c *oo.Place) { c.Shares = dec("-1") }},
		{"shares with 19 decimals", "shares", func(c *oo.Place) { c.Shares = dec("1.0000000000000000001") }},
		{"no direction", "direction", func(c *oo.Place) { c.Direction = "" }},
		{"no broker", "broker", func(c *oo.Place) { c.Broker = "" }},
		{"unknown broker", "broker", func(c *oo.Place) { c.Broker = "ibkr" }},
		{"non-canonical broker", "broker", func(c *oo.Place) { c.Broker = "dry-run" }},
		{"zero reference price", "reference_price", func(c *oo.Place) { c.ReferencePrice = ptr(dec("0")) }},
		{"negative reference price", "reference_price", func(c *oo.Place) { c.ReferencePrice = ptr(dec("-150")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := place()
			tc.mutate(&c)
			_, got, err := when(given(), c)
			thenError(t, got, err, oo.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

func TestPlaceReportsEveryInvalidField(t *testing.T) {
	_, _, err := when(given(), oo.Place{})
	for _, f := range []string{"symbol", "shares", "direction", "broker"} {
		thenField(t, err, f)
	}
}

func TestDecideNeedsACommandTime(t *testing.T) {
	_, err := oo.Decide(given(), place(), aggregate.Meta{CommandID: "x"})
	thenError(t, nil, err, oo.ErrMissingTime)
}

func TestDecideRejectsUnknownCommands(t *testing.T) {
	c := oo.ConfirmSubmission{BrokerOrderID: "1"}
	for _, l := range []aggregate.Lifecycle[oo.State]{given(), given(placed())} {
		_, err := oo.Decide(l, &c, meta)
		thenError(t, nil, err, oo.ErrUnknownCommand)
	}
}
