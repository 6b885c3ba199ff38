package onchaintrade_test

import (
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

func TestMigrateEmitsMigratedWithBaseSymbol(t *testing.T) {
	l, got, err := when(given(), migrateSPLG())
	thenEvents(t, got, err, migratedSPLG())
	thenState(t, l, ot.State{
		TradeID: splgID, Symbol: "tSPLG", BaseSymbol: "SPLG", Amount: dec("2"),
		Direction: market.Sell, PriceUSDC: dec("80.07753876"),
		BlockTimestamp: blockTime, FilledAt: blockTime, // filled_at = block_timestamp
	})
}

func TestMigratedIsEnrichedOnlyWithGasAndPyth(t *testing.T) {
	cases := []struct {
		name     string
		gas      *uint64
		pyth     *market.PythPrice
		enriched bool
	}{
		{"neither", nil, nil, false},
		{"gas only", u64(90_000), nil, false},
		{"pyth only", nil, coinPyth(), false},
		{"both", u64(90_000), coinPyth(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := migrateSPLG()
			c.GasUsed, c.PythPrice = tc.gas, tc.pyth
			l, got, err := when(given(), c)
			want := migratedSPLG()
			want.GasUsed, want.PythPrice = tc.gas, tc.pyth
			thenEvents(t, got, err, want)
			if l.State.Enriched() != tc.enriched {
				t.Fatalf("enriched = %v", l.State.Enriched())
			}
			if tc.enriched {
				e := l.State.Enrichment
				if e.GasUsed != 90_000 || e.EffectiveGasPrice != nil || !e.EnrichedAt.Equal(meta.At) {
					t.Fatalf("enrichment %+v", e)
				}
			}
		})
	}
}

func TestMigrateAcceptsBlockZero(t *testing.T) {
	c := migrateSPLG()
	c.BlockNumber = 0
	if _, _, err := when(given(), c); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateOnLiveTradeIsAlreadyFilled(t *testing.T) {
	for name, l := range map[string]aggregate.Lifecycle[ot.State]{
		"filled": given(filledSPLG()), "migrated": given(migratedSPLG()),
	} {
		t.Run(name, func(t *testing.T) {
			_, got, err := when(l, migrateSPLG())
			thenError(t, got, err, ot.ErrAlreadyFilled)
		})
	}
}

func TestMigrateRejectsInvalidFields(t *testing.T) {
	cases := []struct {
		name, field string
		mutate      func(*ot.Migrate)
	}{
		{"base ticker instead of tokenized", "symbol", func(c *ot.Migrate) { c.Symbol = "SPLG" }},
		{"zero amount", "amount", func(c *ot.Migrate) { c.Amount = dec("0") }},
		{"zero price", "price_usdc", func(c *ot.Migrate) { c.PriceUSDC = dec("0") }},
		{"bad direction", "direction", func(c *ot.Migrate) { c.Direction = "" }},
		{"bad tx hash", "trade_id", func(c *ot.Migrate) { c.TradeID.TxHash = "abc" }},
		{"zero gas", "gas_used", func(c *ot.Migrate) { c.GasUsed = u64(0) }},
		{"bad pyth", "pyth_price", func(c *ot.Migrate) { c.PythPrice = &market.PythPrice{Value: "x"} }},
		{"no block timestamp", "block_timestamp", func(c *ot.Migrate) { c.BlockTimestamp = time.Time{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := migrateSPLG()
			tc.mutate(&c)
			_, got, err := when(given(), c)
			thenError(t, got, err, ot.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

// The legacy effective_gas_price is kept: in the event, and in the
// enrichment of a trade migrated with gas and Pyth data.
func TestMigrateKeepsEffectiveGasPrice(t *testing.T) {
	c := migrateSPLG()
	c.GasUsed, c.EffectiveGasPrice, c.PythPrice = u64(90_000), u64(1_500_000), coinPyth()
	l, got, err := when(given(), c)
	want := migratedSPLG()
	want.GasUsed, want.EffectiveGasPrice, want.PythPrice = c.GasUsed, c.EffectiveGasPrice, c.PythPrice
	thenEvents(t, got, err, want)
	if e := l.State.Enrichment; e == nil || e.EffectiveGasPrice == nil || *e.EffectiveGasPrice != 1_500_000 {
		t.Fatalf("enrichment %+v", e)
	}
	c.GasUsed = nil
	if _, _, err := when(given(), c); err == nil {
		t.Fatal("effective_gas_price without gas_used accepted")
	}
}
