package offchainorder_test

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func TestUpdatePartialFill(t *testing.T) {
	l, got, err := when(given(placed(), submitted()), oo.UpdatePartialFill{SharesFilled: dec("1"), AvgPrice: dec("190.125")})
	thenEvents(t, got, err, oo.PartiallyFilled{SharesFilled: dec("1"), AvgPrice: dec("190.125"), PartiallyFilledAt: meta.At})
	thenState(t, l, oo.State{
		Status: oo.StatusPartiallyFilled, Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy,
		Broker: market.Schwab, BrokerOrderID: "1004055538153", SharesFilled: dec("1"), AvgPrice: dec("190.125"),
		PlacedAt: placedAt, SubmittedAt: submitAt, PartiallyFilledAt: meta.At,
	})
}

func TestUpdatePartialFillRepeatsAndGrows(t *testing.T) {
	base := given(placed(), submitted(), partial("1"))
	for _, shares := range []string{"1", "1.5", "2.999999999999999999"} {
		l, _, err := when(base, oo.UpdatePartialFill{SharesFilled: dec(shares), AvgPrice: dec("190")})
		if err != nil || !l.State.SharesFilled.Equal(dec(shares)) {
			t.Fatalf("%s: %v %s", shares, err, l.State.SharesFilled)
		}
	}
}

func TestUpdatePartialFillRules(t *testing.T) {
	base := given(placed(), submitted(), partial("1.5"))
	cases := []struct {
		name, shares string
		err          error
	}{
		{"the whole order is not partial", "3", oo.ErrFillNotPartial},
		{"more than the order", "3.5", oo.ErrFillNotPartial},
		{"below the previous fill", "1", oo.ErrFillDecreased},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := when(base, oo.UpdatePartialFill{SharesFilled: dec(tc.shares), AvgPrice: dec("190")})
			thenError(t, got, err, tc.err)
		})
	}
}

func TestUpdatePartialFillRejectsInvalidFields(t *testing.T) {
	base := given(placed(), submitted())
	cases := []struct {
		name, field string
		c           oo.UpdatePartialFill
	}{
		{"zero shares filled", "shares_filled", oo.UpdatePartialFill{SharesFilled: dec("0"), AvgPrice: dec("1")}},
		{"negative shares filled", "shares_filled", oo.UpdatePartialFill{SharesFilled: dec("-1"), AvgPrice: dec("1")}},
		{"zero price", "avg_price", oo.UpdatePartialFill{SharesFilled: dec("1"), AvgPrice: dec("0")}},
		{"price with 19 decimals", "avg_price", oo.UpdatePartialFill{SharesFilled: dec("1"), AvgPrice: dec("1.0000000000000000001")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := when(base, tc.c)
			thenError(t, got, err, oo.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

func TestCompleteFill(t *testing.T) {
	for _, state := range []string{"Submitted", "PartiallyFilled"} {
		t.Run(state, func(t *testing.T) {
			before := given(history[state]...)
			l, got, err := when(before, oo.CompleteFill{Price: dec("190.2")})
			thenEvents(t, got, err, oo.Filled{Price: dec("190.2"), FilledAt: meta.At})
			want := before.State
			want.Status, want.SharesFilled, want.Price, want.FilledAt = oo.StatusFilled, dec("3"), dec("190.2"), meta.At
			thenState(t, l, want)
		})
	}
}

func TestCompleteFillSharesMustMatchTheOrder(t *testing.T) {
	base := given(placed(), submitted(), partial("1"))
	if _, _, err := when(base, oo.CompleteFill{Price: dec("190"), SharesFilled: ptr(dec("3.000"))}); err != nil {
		t.Fatalf("matching shares refused: %v", err)
	}
	for _, shares := range []string{"2", "3.5"} {
		_, got, err := when(base, oo.CompleteFill{Price: dec("190"), SharesFilled: ptr(dec(shares))})
		thenError(t, got, err, oo.ErrFillMismatch)
	}
}

func TestCompleteFillRejectsInvalidPrice(t *testing.T) {
	for _, p := range []string{"0", "-190", "100000000000000000000"} {
		_, got, err := when(given(placed(), submitted()), oo.CompleteFill{Price: dec(p)})
		thenError(t, got, err, oo.ErrInvalid)
		thenField(t, err, "price")
	}
}

// DOMAIN 6.6 #5: a real Schwab fill of 1 GME at 22.7299. Upstream stored
// round(2272.99) = 2273 cents; the order keeps the exact price.
func TestVectorSchwabGMEFill(t *testing.T) {
	l, _, err := when(given(), oo.Place{Symbol: "GME", Shares: dec("1"), Direction: market.Buy, Broker: market.Schwab})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err = when(l, oo.ConfirmSubmission{BrokerOrderID: "1004055538153"})
	if err != nil {
		t.Fatal(err)
	}
	l, got, err := when(l, oo.CompleteFill{Price: dec("22.7299"), SharesFilled: ptr(dec("1.0"))})
	thenEvents(t, got, err, oo.Filled{Price: dec("22.7299"), FilledAt: meta.At})
	if s := l.State; s.Status != oo.StatusFilled || !s.Price.Equal(dec("22.7299")) || !s.SharesFilled.Equal(dec("1")) || s.BrokerOrderID != "1004055538153" {
		t.Fatalf("state %+v", s)
	}
}
