package onchaintrade_test

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

// DOMAIN 6.6 #1: the order gave 2.0 tSPLG and received 160.15507752 USDC.
// The bot's side on chain is Sell; the hedge is a broker Buy.
func TestVectorTSPLG(t *testing.T) {
	shares, usdc := dec("2.0"), dec("160.15507752")
	price := usdc.Div(shares)
	if !price.Equal(dec("80.07753876")) {
		t.Fatalf("price %s", price)
	}
	c := witnessSPLG()
	c.PriceUSDC = price
	l, got, err := when(given(), c)
	thenEvents(t, got, err, filledSPLG())
	s := l.State
	if s.BaseSymbol != "SPLG" || s.Symbol != "tSPLG" || !s.Amount.Equal(shares) || s.Direction != market.Sell {
		t.Fatalf("state %+v", s)
	}
	if s.Direction.Opposite() != market.Buy {
		t.Fatal("hedge side is not Buy")
	}
	if id, err := ot.ID(s.TradeID); err != nil || id != splgTx+":3" {
		t.Fatalf("id %q %v", id, err)
	}
}

// DOMAIN 6.6 #2: the "175×" regression used the USDC amount as the share
// count. The trade records the equity amount; the price is USDC/shares.
func TestVectorNVDAs1OverExecutionRegression(t *testing.T) {
	cases := []struct{ shares, usdc, price string }{
		{"0.374", "64.169234", "171.58"},
		{"0.2", "34.645024", "173.23"},
	}
	for _, tc := range cases {
		t.Run(tc.shares, func(t *testing.T) {
			c := witnessSPLG()
			c.Symbol, c.Amount = "NVDAs1", dec(tc.shares)
			c.PriceUSDC = dec(tc.usdc).Div(c.Amount)
			l, _, err := when(given(), c)
			if err != nil {
				t.Fatal(err)
			}
			s := l.State
			if s.BaseSymbol != "NVDA" || !s.Amount.Equal(dec(tc.shares)) || !s.PriceUSDC.Round(2).Equal(dec(tc.price)) {
				t.Fatalf("state %+v", s)
			}
		})
	}
}

// DOMAIN 6.6 #4: Pyth COIN at block 47198127 is 154.45005 ± 0.21005.
func TestVectorPythCOIN(t *testing.T) {
	l, _, err := when(given(filledSPLG()), enrichCOIN())
	if err != nil {
		t.Fatal(err)
	}
	p := l.State.Enrichment.PythPrice
	price, err := p.Price()
	if err != nil || !price.Equal(dec("154.45005")) {
		t.Fatalf("price %s %v", price, err)
	}
	if conf := dec(p.Conf).Shift(p.Expo); !conf.Equal(dec("0.21005")) {
		t.Fatalf("conf %s", conf)
	}
	if p.PublishTime.Unix() != 1_781_166_017 {
		t.Fatalf("publish time %v", p.PublishTime)
	}
}
