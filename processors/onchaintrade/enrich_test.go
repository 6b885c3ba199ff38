package onchaintrade_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
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

// ethUSDPyth is an ETH/USD reading as Pyth's feed reports it (expo -8):
// 3000.12345 ± 1.5.
func ethUSDPyth() *market.PythPrice {
	return &market.PythPrice{Value: "300012345000", Expo: -8, Conf: "150000000", PublishTime: time.Unix(1_781_166_016, 0).UTC()}
}

func TestEnrichCarriesTheETHUSDPrice(t *testing.T) {
	c := enrichCOIN()
	c.ETHUSDPrice = ethUSDPyth()
	c.ETHUSDPrice.PublishTime = c.ETHUSDPrice.PublishTime.In(time.FixedZone("X", -3600))
	l, got, err := when(given(filledSPLG()), c)
	want := enrichedCOIN()
	want.ETHUSDPrice = ethUSDPyth()
	thenEvents(t, got, err, want)
	if got[0].(ot.Enriched).ETHUSDPrice.PublishTime.Location() != time.UTC {
		t.Error("ETH/USD publish time not UTC")
	}
	e := l.State.Enrichment
	if e == nil || e.ETHUSDPrice == nil || e.ETHUSDPrice.Expo != -8 || e.ETHUSDPrice.Value != "300012345000" {
		t.Fatalf("enrichment %+v", e)
	}
	if p, _ := e.ETHUSDPrice.Price(); !p.Equal(dec("3000.12345")) {
		t.Fatalf("ETH/USD price %s", p)
	}
	// The equity's price is untouched by the second reading.
	if p, _ := e.PythPrice.Price(); !p.Equal(dec("154.45005")) {
		t.Fatalf("pyth price %s", p)
	}
	if mustJSON(t, given(filledSPLG(), want)) != mustJSON(t, l) {
		t.Fatal("replaying the event gives another state")
	}
}

// An Enrich or Enriched without the reading encodes as before the field
// existed, and such a recorded payload decodes and re-encodes unchanged.
func TestEnrichWithoutETHUSDIsByteIdentical(t *testing.T) {
	for _, raw := range []string{
		`{"gas_used":182311,"effective_gas_price":6000000,"pyth_price":{"value":"15445005","expo":-5,"conf":"21005","publish_time":"2026-06-11T08:20:17Z"}}`,
		`{"gas_used":21000,"effective_gas_price":1}`,
	} {
		c, err := ot.Commands.Decode("Enrich", json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := mustJSON(t, c); got != raw {
			t.Errorf("Enrich re-encoded:\n got %s\nwant %s", got, raw)
		}
	}
	raw := `{"gas_used":21000,"effective_gas_price":1,"enriched_at":"2025-12-24T12:00:00Z"}`
	e, err := ot.Events.Decode("OnChainTradeEvent::Enriched", json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, e); got != raw {
		t.Errorf("Enriched re-encoded:\n got %s\nwant %s", got, raw)
	}
	l := given(filledSPLG(), e)
	if got := mustJSON(t, l.State.Enrichment); strings.Contains(got, "eth_usd") {
		t.Errorf("state without a reading mentions it: %s", got)
	}
}

func TestEnrichRejectsABadETHUSDPrice(t *testing.T) {
	cases := []struct {
		name, reason string
		mutate       func(*market.PythPrice)
	}{
		{"negative value", "price must be positive", func(p *market.PythPrice) { p.Value = "-300012345000" }},
		{"zero value", "price must be positive", func(p *market.PythPrice) { p.Value = "0" }},
		{"value not an integer", "is not an int64", func(p *market.PythPrice) { p.Value = "3000.1" }},
		{"expo too small", "expo -39 outside ±38", func(p *market.PythPrice) { p.Expo = -39 }},
		{"expo too large", "expo 2147483647 outside ±38", func(p *market.PythPrice) { p.Expo = math.MaxInt32 }},
		{"price finer than 18 places", "more than 18 fractional digits", func(p *market.PythPrice) { p.Expo = -30 }},
		{"negative conf", "is not a uint64", func(p *market.PythPrice) { p.Conf = "-1" }},
		{"no publish time", "publish_time must be set", func(p *market.PythPrice) { p.PublishTime = time.Time{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := enrichCOIN()
			c.ETHUSDPrice = ethUSDPyth()
			tc.mutate(c.ETHUSDPrice)
			_, got, err := when(given(filledSPLG()), c)
			thenError(t, got, err, ot.ErrInvalid)
			thenField(t, err, "eth_usd_price")
			if hasField(err, "pyth_price") {
				t.Errorf("the equity's reading is blamed too: %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "invalid eth_usd_price: ") || !strings.Contains(msg, tc.reason) {
				t.Errorf("error %q, want it to name eth_usd_price and say %q", msg, tc.reason)
			}
		})
	}
}

// A recorded Enriched with a bad reading fails the trade on replay, like
// every other field.
func TestEvolveEnrichedRevalidatesTheETHUSDPrice(t *testing.T) {
	bad := enrichedCOIN()
	bad.ETHUSDPrice = ethUSDPyth()
	bad.ETHUSDPrice.Value = "-1"
	thenFailed(t, given(filledSPLG(), bad), "eth_usd_price", given(filledSPLG()).State)
}
