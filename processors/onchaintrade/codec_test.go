package onchaintrade_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

func allCommands() []aggregate.Command {
	m := migrateSPLG()
	m.GasUsed, m.PythPrice = u64(90_000), coinPyth()
	eth := enrichCOIN()
	eth.ETHUSDPrice = ethUSDPyth()
	return []aggregate.Command{witnessSPLG(), enrichCOIN(), eth, migrateSPLG(), m, revertSPLG()}
}

func allEvents() []aggregate.Event {
	m := migratedSPLG()
	m.GasUsed, m.PythPrice = u64(90_000), coinPyth()
	eth := enrichedCOIN()
	eth.ETHUSDPrice = ethUSDPyth()
	return []aggregate.Event{filledSPLG(), enrichedCOIN(), eth, migratedSPLG(), m, revertedSPLG()}
}

func TestDefinition(t *testing.T) {
	d := ot.Definition
	if d.Type != "OnChainTrade" || d.Decide == nil || d.Evolve == nil || d.DecodeCommand == nil || d.DecodeEvent == nil {
		t.Fatalf("definition %+v", d)
	}
}

func TestTypeNames(t *testing.T) {
	want := map[string]bool{
		"Witness": true, "Enrich": true, "Migrate": true, "Revert": true,
		"OnChainTradeEvent::Filled": true, "OnChainTradeEvent::Enriched": true, "OnChainTradeEvent::Migrated": true,
		"OnChainTradeEvent::Reverted": true,
	}
	got := map[string]bool{}
	for _, c := range allCommands() {
		got[c.CommandType()] = true
	}
	for _, e := range allEvents() {
		got[e.EventType()] = true
	}
	if len(got) != len(want) {
		t.Fatalf("names %v", got)
	}
	for n := range want {
		if !got[n] {
			t.Fatalf("missing %s in %v", n, got)
		}
	}
	if len(ot.Commands) != 4 || len(ot.Events) != 4 {
		t.Fatalf("decoders: %d commands, %d events", len(ot.Commands), len(ot.Events))
	}
}

func TestCommandsRoundTripThroughJSON(t *testing.T) {
	for _, c := range allCommands() {
		t.Run(c.CommandType(), func(t *testing.T) {
			raw := mustJSON(t, c)
			back, err := ot.Commands.Decode(c.CommandType(), json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(t, back) != raw {
				t.Fatalf("round trip:\n got %s\nwant %s", mustJSON(t, back), raw)
			}
			l := given()
			if c.CommandType() == "Enrich" || c.CommandType() == "Revert" {
				l = given(filledSPLG())
			}
			want, err1 := ot.Decide(l, c, meta)
			got, err2 := ot.Decide(l, back, meta)
			if err1 != nil || err2 != nil || render(t, got) != render(t, want) {
				t.Fatalf("decoded command decides differently: %v %v", err1, err2)
			}
		})
	}
}

func TestEventsRoundTripThroughJSON(t *testing.T) {
	for _, e := range allEvents() {
		t.Run(e.EventType(), func(t *testing.T) {
			raw := mustJSON(t, e)
			back, err := ot.Events.Decode(e.EventType(), json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(t, back) != raw {
				t.Fatalf("round trip:\n got %s\nwant %s", mustJSON(t, back), raw)
			}
		})
	}
}

func TestDecodersRejectUnknownFields(t *testing.T) {
	for _, c := range allCommands() {
		raw := strings.Replace(mustJSON(t, c), "{", `{"bogus":1,`, 1)
		if _, err := ot.Commands.Decode(c.CommandType(), json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), "bogus") {
			t.Errorf("%s: unknown field accepted: %v", c.CommandType(), err)
		}
	}
	for _, e := range allEvents() {
		raw := strings.Replace(mustJSON(t, e), "{", `{"bogus":1,`, 1)
		if _, err := ot.Events.Decode(e.EventType(), json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), "bogus") {
			t.Errorf("%s: unknown field accepted: %v", e.EventType(), err)
		}
	}
	// Upstream's field names do not silently decode to zero.
	if _, err := ot.Commands.Decode("Enrich", json.RawMessage(`{"gas_used":1,"effective_gas_price":1,"pyth":null}`)); err == nil {
		t.Error("misspelled pyth_price accepted")
	}
	for _, raw := range []string{
		`{"gas_used":1,"effective_gas_price":1,"eth_usd":{"value":"1","expo":0,"conf":"0","publish_time":"2026-01-01T00:00:00Z"}}`,
		`{"gas_used":1,"effective_gas_price":1,"eth_usd_price":{"value":"1","expo":0,"conf":"0","publish_time":"2026-01-01T00:00:00Z","bogus":1}}`,
		`{"gas_used":1,"effective_gas_price":1,"eth_usd_price":{"value":1,"expo":0,"conf":"0","publish_time":"2026-01-01T00:00:00Z"}}`,
	} {
		if _, err := ot.Commands.Decode("Enrich", json.RawMessage(raw)); err == nil {
			t.Errorf("Enrich %s accepted", raw)
		}
	}
}

func TestDecodersRejectUnknownTypes(t *testing.T) {
	if _, err := ot.Commands.Decode("Acknowledge", json.RawMessage(`{}`)); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := ot.Events.Decode("Filled", json.RawMessage(`{}`)); err == nil {
		t.Error("event without its OnChainTradeEvent:: prefix accepted")
	}
}

func TestWitnessDecodesLegacyDirectionAndDecimalStrings(t *testing.T) {
	raw := `{"trade_id":{"tx_hash":"` + splgTx + `","log_index":3},"symbol":"tSPLG","amount":"2.0",` +
		`"direction":"SELL","price_usdc":"80.07753876","block_number":38000000,"block_timestamp":"2025-12-01T15:30:00Z"}`
	c, err := ot.Commands.Decode("Witness", json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := when(given(), c)
	thenEvents(t, got, err, filledSPLG())
}

func TestEventJSONFieldNames(t *testing.T) {
	raw := mustJSON(t, filledSPLG())
	for _, f := range []string{`"trade_id":{"tx_hash":"0xf05d`, `"symbol":"tSPLG"`, `"base_symbol":"SPLG"`, `"amount":"2"`,
		`"direction":"Sell"`, `"price_usdc":"80.07753876"`, `"block_number":38000000`, `"block_timestamp":"2025-12-01T15:30:00Z"`, `"filled_at":"2025-12-24T12:00:00Z"`} {
		if !strings.Contains(raw, f) {
			t.Errorf("%s missing from %s", f, raw)
		}
	}
}
