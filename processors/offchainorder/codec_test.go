package offchainorder_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func allCommands() []aggregate.Command {
	m := migrate(oo.StatusFilled)
	m.BrokerOrderID, m.Price, m.ExecutedAt, m.LegacyID = ptr("42"), ptr(dec("22.73")), &executedAt, 7
	f := migrate(oo.StatusFailed)
	f.Error = "Unknown failure"
	withPrice := place()
	withPrice.ReferencePrice = ptr(dec("150.25"))
	return []aggregate.Command{
		place(), withPrice, oo.ConfirmSubmission{BrokerOrderID: "1"},
		oo.UpdatePartialFill{SharesFilled: dec("1"), AvgPrice: dec("190.125")},
		oo.CompleteFill{Price: dec("190")}, oo.CompleteFill{Price: dec("190"), SharesFilled: ptr(dec("3"))},
		oo.MarkFailed{Error: "x"}, migrate(oo.StatusPending), m, f,
	}
}

func allEvents() []aggregate.Event {
	m := migratedPending()
	m.Status, m.BrokerOrderID, m.Price, m.ExecutedAt = oo.StatusFilled, ptr("42"), ptr(dec("22.73")), &executedAt
	m.LegacyID = 7
	withPrice := placed()
	withPrice.ReferencePrice = ptr(dec("150.25"))
	return []aggregate.Event{placed(), withPrice, submitted(), partial("1"), filled(), failed(), migratedPending(), m}
}

func TestDefinition(t *testing.T) {
	d := oo.Definition
	if d.Type != "OffchainOrder" || d.Decide == nil || d.Evolve == nil || d.DecodeCommand == nil || d.DecodeEvent == nil {
		t.Fatalf("definition %+v", d)
	}
	if len(oo.Commands) != 6 || len(oo.Events) != 6 {
		t.Fatalf("decoders: %d commands, %d events", len(oo.Commands), len(oo.Events))
	}
}

func TestEventTypeNames(t *testing.T) {
	for _, e := range allEvents() {
		if !strings.HasPrefix(e.EventType(), "OffchainOrderEvent::") {
			t.Errorf("%T: %s", e, e.EventType())
		}
		if _, ok := oo.Events[e.EventType()]; !ok {
			t.Errorf("%s not decodable", e.EventType())
		}
	}
	for _, c := range allCommands() {
		if _, ok := oo.Commands[c.CommandType()]; !ok {
			t.Errorf("%s not decodable", c.CommandType())
		}
	}
}

func TestCommandsRoundTripThroughJSON(t *testing.T) {
	for _, c := range allCommands() {
		raw := mustJSON(t, c)
		back, err := oo.Commands.Decode(c.CommandType(), json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", c.CommandType(), err)
		}
		if got := mustJSON(t, back); got != raw {
			t.Fatalf("%s round trip:\n got %s\nwant %s", c.CommandType(), got, raw)
		}
	}
}

func TestEventsRoundTripThroughJSON(t *testing.T) {
	for _, e := range allEvents() {
		raw := mustJSON(t, e)
		back, err := oo.Events.Decode(e.EventType(), json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", e.EventType(), err)
		}
		if got := mustJSON(t, back); got != raw {
			t.Fatalf("%s round trip:\n got %s\nwant %s", e.EventType(), got, raw)
		}
	}
}

func TestDecodersRejectUnknownFields(t *testing.T) {
	for _, c := range allCommands() {
		raw := strings.Replace(mustJSON(t, c), "{", `{"bogus":1,`, 1)
		if _, err := oo.Commands.Decode(c.CommandType(), json.RawMessage(raw)); err == nil {
			t.Errorf("%s: unknown field accepted", c.CommandType())
		}
	}
	for _, e := range allEvents() {
		raw := strings.Replace(mustJSON(t, e), "{", `{"bogus":1,`, 1)
		if _, err := oo.Events.Decode(e.EventType(), json.RawMessage(raw)); err == nil {
			t.Errorf("%s: unknown field accepted", e.EventType())
		}
	}
	// upstream's price_cents is not silently ignored
	if _, err := oo.Commands.Decode("CompleteFill", json.RawMessage(`{"price_cents":2273}`)); err == nil {
		t.Error("price_cents accepted")
	}
}

func TestDecodersRejectUnknownTypes(t *testing.T) {
	if _, err := oo.Commands.Decode("Fail", json.RawMessage(`{}`)); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := oo.Events.Decode("Placed", json.RawMessage(`{}`)); err == nil {
		t.Error("event without prefix accepted")
	}
}

func TestPlaceDecodesWireSpellings(t *testing.T) {
	c, err := oo.Commands.Decode("Place", json.RawMessage(`{"symbol":"AAPL","shares":"3","direction":"BUY","broker":"dry-run"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.(oo.Place); p.Direction != market.Buy || p.Broker != market.DryRun {
		t.Fatalf("%+v", p)
	}
	if _, _, err := when(given(), c); err != nil {
		t.Fatal(err)
	}
}

func TestStateJSONOmitsStepsNotReached(t *testing.T) {
	raw := mustJSON(t, given(placed()).State)
	for _, f := range []string{"submitted_at", "filled_at", "failed_at", "price", "avg_price", "broker_order_id", "error"} {
		if strings.Contains(raw, `"`+f+`"`) {
			t.Errorf("%s in %s", f, raw)
		}
	}
}
