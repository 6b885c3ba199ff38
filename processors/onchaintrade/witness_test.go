package onchaintrade_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

func TestWitnessOnUninitializedEmitsFilledWithBothSymbols(t *testing.T) {
	l, got, err := when(given(), witnessSPLG())
	thenEvents(t, got, err, filledSPLG())
	thenState(t, l, ot.State{
		TradeID: splgID, Symbol: "tSPLG", BaseSymbol: "SPLG", Amount: dec("2"),
		Direction: market.Sell, PriceUSDC: dec("80.07753876"), BlockNumber: 38_000_000,
		BlockTimestamp: blockTime, FilledAt: meta.At,
	})
	if l.Version != 1 || l.State.Enriched() {
		t.Fatalf("version %d enriched %v", l.Version, l.State.Enriched())
	}
}

func TestWitnessLowercasesTheTxHash(t *testing.T) {
	c := witnessSPLG()
	c.TradeID.TxHash = "0x" + strings.ToUpper(splgTx[2:])
	_, got, err := when(given(), c)
	thenEvents(t, got, err, filledSPLG())
}

func TestWitnessNormalizesTimesToUTC(t *testing.T) {
	c := witnessSPLG()
	c.BlockTimestamp = blockTime.In(time.FixedZone("EST", -5*3600))
	m := aggregate.Meta{CommandID: "cmd-1", At: meta.At.In(time.FixedZone("CET", 3600))}
	got, err := ot.Decide(given(), c, m)
	thenEvents(t, got, err, filledSPLG())
	if f := got[0].(ot.Filled); f.FilledAt.Location() != time.UTC || f.BlockTimestamp.Location() != time.UTC {
		t.Fatalf("times not UTC: %v %v", f.FilledAt, f.BlockTimestamp)
	}
}

func TestWitnessDerivesTheBaseOfEveryMarker(t *testing.T) {
	for sym, base := range map[string]market.Symbol{"tAAPL": "AAPL", "AAPL0x": "AAPL", "NVDAs1": "NVDA", "tBRK.B": "BRK.B"} {
		t.Run(sym, func(t *testing.T) {
			c := witnessSPLG()
			c.Symbol = sym
			l, _, err := when(given(), c)
			if err != nil {
				t.Fatal(err)
			}
			if l.State.Symbol != sym || l.State.BaseSymbol != base {
				t.Fatalf("symbol %q base %q", l.State.Symbol, l.State.BaseSymbol)
			}
		})
	}
}

func TestWitnessOnFilledTradeIsTheDuplicateGuard(t *testing.T) {
	for name, l := range map[string]aggregate.Lifecycle[ot.State]{
		"filled":   given(filledSPLG()),
		"enriched": given(filledSPLG(), enrichedCOIN()),
		"migrated": given(migratedSPLG()),
	} {
		t.Run(name, func(t *testing.T) {
			_, got, err := when(l, witnessSPLG())
			thenError(t, got, err, ot.ErrAlreadyFilled)
			thenError(t, got, err, aggregate.ErrAlreadyInitialized)
		})
	}
}

func TestWitnessDuplicateGuardWinsOverInvalidFields(t *testing.T) {
	_, got, err := when(given(filledSPLG()), ot.Witness{})
	thenError(t, got, err, ot.ErrAlreadyFilled)
}

func TestWitnessOnFailedTradeReportsTheFailure(t *testing.T) {
	l := given(ot.Enriched{}) // an event before genesis fails the trade
	_, got, err := when(l, witnessSPLG())
	var fe *aggregate.FailedError
	if !errors.As(err, &fe) || got != nil {
		t.Fatalf("error = %v, events %v", err, got)
	}
}

func TestWitnessRejectsInvalidFields(t *testing.T) {
	cases := []struct {
		name, field string
		mutate      func(*ot.Witness)
	}{
		{"usdc is not an equity", "symbol", func(c *ot.Witness) { c.Symbol = "USDC" }},
		{"base ticker is not tokenized", "symbol", func(c *ot.Witness) { c.Symbol = "AAPL" }},
		{"marker without base", "symbol", func(c *ot.Witness) { c.Symbol = "t" }},
		{"empty symbol", "symbol", func(c *ot.Witness) { c.Symbol = "" }},
		{"zero amount", "amount", func(c *ot.Witness) { c.Amount = dec("0") }},
		{"negative amount", "amount", func(c *ot.Witness) { c.Amount = dec("-2") }},
		{"amount with 19 decimals", "amount", func(c *ot.Witness) { c.Amount = dec("0.0000000000000000001") }},
		{"amount with 21 integer digits", "amount", func(c *ot.Witness) { c.Amount = dec("100000000000000000000") }},
		{"zero price", "price_usdc", func(c *ot.Witness) { c.PriceUSDC = dec("0") }},
		{"negative price", "price_usdc", func(c *ot.Witness) { c.PriceUSDC = dec("-1") }},
		{"missing direction", "direction", func(c *ot.Witness) { c.Direction = "" }},
		{"bad direction", "direction", func(c *ot.Witness) { c.Direction = "Hold" }},
		{"short tx hash", "trade_id", func(c *ot.Witness) { c.TradeID.TxHash = "0xabc" }},
		{"non-hex tx hash", "trade_id", func(c *ot.Witness) { c.TradeID.TxHash = "0x" + strings.Repeat("g", 64) }},
		{"missing tx hash", "trade_id", func(c *ot.Witness) { c.TradeID = market.TradeID{} }},
		{"block zero", "block_number", func(c *ot.Witness) { c.BlockNumber = 0 }},
		{"no block timestamp", "block_timestamp", func(c *ot.Witness) { c.BlockTimestamp = time.Time{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := witnessSPLG()
			tc.mutate(&c)
			_, got, err := when(given(), c)
			thenError(t, got, err, ot.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

func TestWitnessReportsEveryInvalidField(t *testing.T) {
	_, _, err := when(given(), ot.Witness{})
	for _, f := range []string{"trade_id", "symbol", "amount", "price_usdc", "direction", "block_number", "block_timestamp"} {
		thenField(t, err, f)
	}
}

func TestDecideNeedsACommandTime(t *testing.T) {
	_, err := ot.Decide(given(), witnessSPLG(), aggregate.Meta{CommandID: "x"})
	thenError(t, nil, err, ot.ErrMissingTime)
}

func TestDecideRejectsUnknownCommands(t *testing.T) {
	c := witnessSPLG()
	_, err := ot.Decide(given(), &c, meta) // a pointer is not a registered command
	thenError(t, nil, err, ot.ErrUnknownCommand)
}
