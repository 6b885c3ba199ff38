package brokers

import (
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

func TestOrderValidate(t *testing.T) {
	price := decimal.RequireFromString("187.25")
	ok := Order{ClientOrderID: "e1", Symbol: "AAPL", Shares: decimal.NewFromInt(3), Direction: market.Sell, ReferencePrice: &price}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid order: %v", err)
	}
	noPrice := ok
	noPrice.ReferencePrice = nil
	if err := noPrice.Validate(); err != nil {
		t.Fatalf("an order without reference price is valid: %v", err)
	}

	neg := decimal.NewFromInt(-1)
	bad := Order{ClientOrderID: "", Symbol: "aapl", Shares: decimal.Zero, Direction: "Hold", ReferencePrice: &neg}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid order accepted")
	}
	for _, want := range []string{"client order id", "symbol", "shares", "direction", "reference price"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	long := ok
	long.ClientOrderID = strings.Repeat("x", MaxClientOrderIDLen+1)
	if long.Validate() == nil {
		t.Fatal("overlong client order id accepted")
	}
	tooPrecise := ok
	tooPrecise.Shares = decimal.RequireFromString("0.0000000000000000001")
	if tooPrecise.Validate() == nil {
		t.Fatal("shares with 19 fractional digits accepted")
	}
}

func TestStateTerminal(t *testing.T) {
	if StateSubmitted.Terminal() || !StateFilled.Terminal() || !StateFailed.Terminal() {
		t.Fatal("Terminal: want only filled and failed")
	}
}
