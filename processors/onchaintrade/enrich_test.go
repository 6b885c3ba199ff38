package onchaintrade_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

func enrichCOIN() ot.Enrich {
	return ot.Enrich{GasUsed: 182_311, EffectiveGasPrice: 6_000_000, PythPrice: coinPyth()}
}

func TestEnrichFilledTradeEmitsEnriched(t *testing.T) {
	l, got, err := when(given(filledSPLG()), enrichCOIN())
	thenEvents(t, got, err, enrichedCOIN())
	e := l.State.Enrichment
	if e == nil || e.GasUsed != 182_311 || *e.EffectiveGasPrice != 6_000_000 || !e.EnrichedAt.Equal(meta.At) {
		t.Fatalf("enrichment %+v", e)
	}
	if p, _ := e.PythPrice.Price(); !p.Equal(dec("154.45005")) {
		t.Fatalf("pyth price %s", p)
	}
}

func TestEnrichWithoutPyth(t *testing.T) {
	c := enrichCOIN()
	c.PythPrice = nil
	l, got, err := when(given(filledSPLG()), c)
	want := enrichedCOIN()
	want.PythPrice = nil
	thenEvents(t, got, err, want)
	if !l.State.Enriched() || l.State.Enrichment.PythPrice != nil {
		t.Fatalf("enrichment %+v", l.State.Enrichment)
	}
}

func TestEnrichUnfilledTradeIsNotFilled(t *testing.T) {
	_, got, err := when(given(), enrichCOIN())
	thenError(t, got, err, ot.ErrNotFilled)
	thenError(t, got, err, aggregate.ErrUninitialized)
}

func TestEnrichTwiceIsAlreadyEnriched(t *testing.T) {
	_, got, err := when(given(filledSPLG(), enrichedCOIN()), enrichCOIN())
	thenError(t, got, err, ot.ErrAlreadyEnriched)
}

func TestEnrichMigratedTrade(t *testing.T) {
	withBoth := migratedSPLG()
	withBoth.GasUsed, withBoth.PythPrice = u64(90_000), coinPyth()
	_, got, err := when(given(withBoth), enrichCOIN())
	thenError(t, got, err, ot.ErrAlreadyEnriched)

	gasOnly := migratedSPLG()
	gasOnly.GasUsed = u64(90_000)
	_, got, err = when(given(gasOnly), enrichCOIN())
	thenEvents(t, got, err, enrichedCOIN())
}

func TestEnrichFailedTradeReportsTheFailure(t *testing.T) {
	_, got, err := when(given(ot.Enriched{}), enrichCOIN())
	var fe *aggregate.FailedError
	if !errors.As(err, &fe) || got != nil {
		t.Fatalf("error = %v", err)
	}
}

func TestEnrichRejectsInvalidFields(t *testing.T) {
	cases := []struct {
		name, field string
		mutate      func(*ot.Enrich)
	}{
		{"zero gas", "gas_used", func(c *ot.Enrich) { c.GasUsed = 0 }},
		{"gas above int64", "gas_used", func(c *ot.Enrich) { c.GasUsed = math.MaxInt64 + 1 }},
		{"zero gas price", "effective_gas_price", func(c *ot.Enrich) { c.EffectiveGasPrice = 0 }},
		{"gas price above int64", "effective_gas_price", func(c *ot.Enrich) { c.EffectiveGasPrice = math.MaxUint64 }},
		{"pyth value not an integer", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Value = "1.5" }},
		{"pyth value overflows int64", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Value = "9223372036854775808" }},
		{"negative pyth price", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Value = "-15445005" }},
		{"zero pyth price", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Value = "0" }},
		{"negative conf", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Conf = "-1" }},
		{"missing conf", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Conf = "" }},
		{"no publish time", "pyth_price", func(c *ot.Enrich) { c.PythPrice.PublishTime = time.Time{} }},
		{"huge exponent", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Expo = math.MinInt32 }},
		{"unrepresentable price", "pyth_price", func(c *ot.Enrich) { c.PythPrice.Expo = -30 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := enrichCOIN()
			tc.mutate(&c)
			_, got, err := when(given(filledSPLG()), c)
			thenError(t, got, err, ot.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

func TestEnrichAcceptsTheLargestGasValues(t *testing.T) {
	c := ot.Enrich{GasUsed: math.MaxInt64, EffectiveGasPrice: math.MaxInt64}
	if _, _, err := when(given(filledSPLG()), c); err != nil {
		t.Fatal(err)
	}
}

func TestEnrichKeepsPythPublishTimeInUTC(t *testing.T) {
	c := enrichCOIN()
	c.PythPrice.PublishTime = c.PythPrice.PublishTime.In(time.FixedZone("X", 7200))
	_, got, err := when(given(filledSPLG()), c)
	thenEvents(t, got, err, enrichedCOIN())
	if got[0].(ot.Enriched).PythPrice.PublishTime.Location() != time.UTC {
		t.Fatal("publish time not UTC")
	}
}
