package rain

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

// USDC is the ERC20 symbol of the quote token; fills against anything else
// are not equity trades.
const USDC = "USDC"

var (
	// ErrNotEquityPair: the fill is not USDC against a tokenized equity.
	ErrNotEquityPair = errors.New("not a USDC/tokenized-equity pair")
	// ErrZeroAmount: one side moved nothing; upstream skipped such fills
	// (no shares, or a price of 0). A skip, not a failure.
	ErrZeroAmount = errors.New("zero amount")
	// ErrNegativeAmount: a decoded amount below zero (only a Float can be).
	ErrNegativeAmount = errors.New("negative amount")
)

// Trade is a fill as the order owner's trade of a tokenized equity.
type Trade struct {
	Symbol market.TokenizedSymbol
	// Direction is the owner's side on chain: Sell when the order gave the
	// equity for USDC. The hedge is the opposite.
	Direction market.Direction
	Amount    decimal.Decimal // shares
	USDC      decimal.Decimal // the USDC side of the fill
	PriceUSDC decimal.Decimal // USDC / shares, rounded to market.MaxScale digits
}

// Classify turns a fill and its tokens' ERC20 symbols into a trade. The
// order receiving USDC and giving a tokenized equity sold it; giving USDC
// for the equity bought it; any other pair is ErrNotEquityPair. A negative
// amount is ErrNegativeAmount, a zero one ErrZeroAmount. Amount and price
// must pass the checks every OnChainTrade Witness passes
// (market.PositiveAmount: positive, at most 20 integer and 18 fractional
// digits); the price is rounded half away from zero to 18 digits, as the
// views store it.
func Classify(f Fill, inputSymbol, outputSymbol string) (Trade, error) {
	var t Trade
	var equitySymbol string
	switch {
	case inputSymbol == USDC && outputSymbol != USDC:
		t.Direction, equitySymbol, t.Amount, t.USDC = market.Sell, outputSymbol, f.OutputAmount, f.InputAmount
	case outputSymbol == USDC && inputSymbol != USDC:
		t.Direction, equitySymbol, t.Amount, t.USDC = market.Buy, inputSymbol, f.InputAmount, f.OutputAmount
	default:
		return Trade{}, fmt.Errorf("%w: input %q, output %q", ErrNotEquityPair, inputSymbol, outputSymbol)
	}
	sym, err := market.ParseTokenized(equitySymbol)
	if err != nil {
		return Trade{}, fmt.Errorf("%w: input %q, output %q: %w", ErrNotEquityPair, inputSymbol, outputSymbol, err)
	}
	t.Symbol = sym
	for _, a := range []struct {
		what string
		v    decimal.Decimal
	}{{"shares", t.Amount}, {"USDC", t.USDC}} {
		switch {
		case a.v.IsNegative():
			return Trade{}, fmt.Errorf("%w: %s %s of %s", ErrNegativeAmount, a.what, a.v, sym)
		case a.v.IsZero():
			return Trade{}, fmt.Errorf("%w: %s of %s is 0", ErrZeroAmount, a.what, sym)
		}
	}
	if err := market.PositiveAmount("amount", t.Amount); err != nil {
		return Trade{}, fmt.Errorf("%s: %w", sym, err)
	}
	if err := market.CheckAmount(t.USDC); err != nil {
		return Trade{}, fmt.Errorf("%s: usdc: %w", sym, err)
	}
	// Exact after the checks; a normalized Float (2 as 2e66×10^-66) would
	// otherwise carry 66 fractional zeros downstream.
	t.Amount, t.USDC = t.Amount.Truncate(market.MaxScale), t.USDC.Truncate(market.MaxScale)
	t.PriceUSDC = t.USDC.DivRound(t.Amount, market.MaxScale)
	if err := market.PositiveAmount("price_usdc", t.PriceUSDC); err != nil {
		return Trade{}, fmt.Errorf("%s: %s USDC for %s shares: %w", sym, t.USDC, t.Amount, err)
	}
	return t, nil
}
