package rain_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/sources/chain/rain"
)

func TestClassify(t *testing.T) {
	f := func(in, out string) rain.Fill {
		return rain.Fill{InputToken: usdc, OutputToken: tAAPL, InputAmount: d(in), OutputAmount: d(out)}
	}
	// Prices round half away from zero at 18 digits, as the views store them.
	tr, err := rain.Classify(f("1", "3"), "USDC", "AAPL0x")
	if err != nil {
		t.Fatal(err)
	}
	checkTrade(t, "thirds", tr, "AAPL0x", market.Sell, "3", "1", "0.333333333333333333")
	tr, err = rain.Classify(f("2", "3"), "tAAPL", "USDC")
	if err != nil {
		t.Fatal(err)
	}
	checkTrade(t, "buy", tr, "tAAPL", market.Buy, "2", "3", "1.5")
	tr, err = rain.Classify(f("2", "3"), "USDC", "tAAPL")
	if err != nil {
		t.Fatal(err)
	}
	checkTrade(t, "round up", tr, "tAAPL", market.Sell, "3", "2", "0.666666666666666667")

	// A normalized Float: 2 as 2e66 × 10^-66, 160.15507752 likewise.
	two, _ := new(big.Int).SetString("2"+zeros(66), 10)
	usd, _ := new(big.Int).SetString("16015507752"+zeros(56), 10)
	tr, err = rain.Classify(rain.Fill{InputAmount: decimal.NewFromBigInt(usd, -64), OutputAmount: decimal.NewFromBigInt(two, -66)}, "USDC", "tSPLG")
	if err != nil {
		t.Fatal(err)
	}
	checkTrade(t, "normalized Floats", tr, "tSPLG", market.Sell, "2", "160.15507752", "80.07753876")
	if tr.Amount.Exponent() < -market.MaxScale || tr.USDC.Exponent() < -market.MaxScale {
		t.Errorf("amounts keep exponents %d and %d", tr.Amount.Exponent(), tr.USDC.Exponent())
	}

	for _, c := range []struct {
		name     string
		fill     rain.Fill
		in, out  string
		want     error
		contains string
	}{
		{"USDC both sides", f("1", "1"), "USDC", "USDC", rain.ErrNotEquityPair, `"USDC"`},
		{"equity both sides", f("1", "1"), "tAAPL", "tMSFT", rain.ErrNotEquityPair, "tMSFT"},
		{"not tokenized", f("1", "1"), "USDC", "WETH", rain.ErrNotEquityPair, `"WETH"`},
		{"usdc lowercase", f("1", "1"), "usdc", "tAAPL", rain.ErrNotEquityPair, "usdc"},
		{"no symbol", f("1", "1"), "USDC", "", rain.ErrNotEquityPair, ""},
		{"zero shares", f("5", "0"), "USDC", "tAAPL", rain.ErrZeroAmount, "shares"},
		{"zero usdc", f("0", "5"), "USDC", "tAAPL", rain.ErrZeroAmount, "USDC"},
		{"negative shares", f("5", "-1"), "USDC", "tAAPL", rain.ErrNegativeAmount, "-1"},
		{"negative usdc", f("-5", "1"), "USDC", "tAAPL", rain.ErrNegativeAmount, "-5"},
		{"shares beyond 18 decimals", f("1", "0.0000000000000000001"), "USDC", "tAAPL", market.ErrOutOfRange, "amount"},
		{"shares beyond 20 digits", f("1", "100000000000000000000"), "USDC", "tAAPL", market.ErrOutOfRange, "amount"},
		{"usdc beyond 18 decimals", f("0.0000000000000000001", "1"), "USDC", "tAAPL", market.ErrOutOfRange, "usdc"},
		{"price beyond 20 digits", f("100000000000", "0.000000001"), "USDC", "tAAPL", market.ErrOutOfRange, "price_usdc"},
	} {
		_, err := rain.Classify(c.fill, c.in, c.out)
		if !errors.Is(err, c.want) || !strings.Contains(fmtErr(err), c.contains) {
			t.Errorf("%s: err = %v, want %v containing %q", c.name, err, c.want, c.contains)
		}
	}
	// The price rounds to 0: not positive, so no trade.
	if _, err := rain.Classify(f("0.000000000000000001", "3"), "USDC", "tAAPL"); err == nil || !strings.Contains(err.Error(), "price_usdc must be positive") {
		t.Errorf("price rounding to 0: err = %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
