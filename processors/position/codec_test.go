package position

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

func everyEvent() []aggregate.Event {
	return []aggregate.Event{
		initialized(shares("1"), schwab),
		Migrated{Symbol: aapl, NetPosition: dec("-1.5"), AccumulatedLong: dec("2"), AccumulatedShort: dec("3.5"),
			Threshold: dollars("2"), Execution: alpaca, MigratedAt: t0},
		filled(7, market.Sell, "0.123456", "150.25"),
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 3), Symbol: aapl, Shares: dec("1.5"), Direction: market.Buy,
			Broker: market.Alpaca, ReferencePrice: ptr(dec("150.25")), PlacedAt: t0,
			TriggerReason: TriggerReason{Kind: TriggerDollars, NetPosition: dec("-1.5"), DollarValue: ptr(dec("225.375")),
				PriceUSDC: ptr(dec("150.25")), ThresholdDollars: ptr(dec("2"))}},
		placed("X", "1", market.Sell), // null reference price, manual trigger
		offFilled("X", "1", market.Sell),
		OffChainOrderFailed{ExecutionID: "X", Error: "rejected", FailedAt: t0},
		ThresholdUpdated{OldThreshold: shares("1"), NewThreshold: dollars("5"), UpdatedAt: t0},
		reverted(7, market.Sell, "0.123456", "150.25"),
		Migrated{Symbol: aapl, NetPosition: dec("7"), AccumulatedLong: dec("10"), AccumulatedShort: dec("0"),
			Threshold: shares("1"), Execution: schwab, MigratedAt: t0,
			Pending: &MigratedPending{ExecutionID: "X", Shares: dec("3"), Direction: market.Sell}},
		recorded(history(market.Sell, "2.5", "150.25", t0)),
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, e := range everyEvent() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Definition.DecodeEvent(e.EventType(), b)
		if err != nil {
			t.Fatalf("%s: %v", e.EventType(), err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(e) {
			t.Fatalf("decoded %T, want %T", got, e)
		}
		if b2, _ := json.Marshal(got); string(b2) != string(b) {
			t.Fatalf("%s:\n got %s\nwant %s", e.EventType(), b2, b)
		}
		if !strings.HasPrefix(e.EventType(), "PositionEvent::") {
			t.Fatalf("event type %s", e.EventType())
		}
	}
}

func TestCommandsRoundTrip(t *testing.T) {
	withoutConfig := fill(3, market.Buy, "1", "150") // threshold and execution omitted
	for _, c := range append(everyCommand(), withoutConfig) {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Definition.DecodeCommand(c.CommandType(), b)
		if err != nil {
			t.Fatalf("%s: %v", c.CommandType(), err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(c) {
			t.Fatalf("decoded %T, want %T", got, c)
		}
		if b2, _ := json.Marshal(got); string(b2) != string(b) {
			t.Fatalf("%s:\n got %s\nwant %s", c.CommandType(), b2, b)
		}
	}
}

func TestWireFormat(t *testing.T) {
	b, _ := json.Marshal(placed("X", "1", market.Sell))
	want := `{"execution_id":"X","symbol":"AAPL","shares":"1","direction":"Sell","broker":"schwab",` +
		`"trigger_reason":{"kind":"manual","net_position":"0"},"reference_price":null,"placed_at":"2025-10-01T14:30:00Z"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	for _, tc := range []struct{ typ, payload string }{
		{"PositionEvent::OffChainOrderFailed", `{"execution_id":"X","error":"e","failed_at":"2025-10-01T14:30:00Z","retry":true}`},
		{"PositionEvent::OffChainOrderPlaced", `{"execution_id":"X","symbol":"AAPL","shares":"1","direction":"Sell","broker":"schwab",` +
			`"trigger_reason":{"kind":"manual","net_position":"0","extra":1},"reference_price":null,"placed_at":"2025-10-01T14:30:00Z"}`},
		{"PositionEvent::OnChainOrderFilled", `{"trade_id":{"tx_hash":"0x01","log_index":1,"block":2}}`},
		{"FailOffChainOrder", `{"execution_id":"X","eror":"typo"}`},
		{"UpdateThreshold", `{"threshold":{"shares":"1"},"reason":"ops"}`},
		{"AcknowledgeOnChainFill", `{"symbol":"tAAPL","execution":{"broker":"schwab","fractional":false,"x":1}}`},
	} {
		var err error
		if strings.HasPrefix(tc.typ, "PositionEvent::") {
			_, err = Events.Decode(tc.typ, json.RawMessage(tc.payload))
		} else {
			_, err = Commands.Decode(tc.typ, json.RawMessage(tc.payload))
		}
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: err %v, want unknown field", tc.typ, err)
		}
	}
}

func TestDecodeRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ typ, payload string }{
		{"PositionEvent::OffChainOrderPlaced", `{"trigger_reason":{"kind":"vibes"}}`},
		{"PositionEvent::ThresholdUpdated", `{"new_threshold":{}}`},
		{"PlaceOffChainOrder", `{"direction":"Hold"}`},
		{"Initialize", `{"execution":{"broker":"ib"}}`},
		{"Nope", `{}`},
		{"PositionEvent::Nope", `{}`},
	} {
		var err error
		if strings.HasPrefix(tc.typ, "PositionEvent::") {
			_, err = Events.Decode(tc.typ, json.RawMessage(tc.payload))
		} else {
			_, err = Commands.Decode(tc.typ, json.RawMessage(tc.payload))
		}
		if err == nil {
			t.Errorf("%s %s decoded", tc.typ, tc.payload)
		}
	}
}

// The runner stores the lifecycle as the table value.
func TestLifecycleRoundTrip(t *testing.T) {
	l := given(initialized(dollars("2"), alpaca), filled(1, market.Sell, "2.5", "150"), placed("X", "2", market.Buy))
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back aggregate.Lifecycle[State]
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(back); string(b2) != string(b) {
		t.Fatalf("got  %s\nwant %s", b2, b)
	}
	// Deciding on the decoded state gives the same events.
	_, e1, err1 := when(l, complete("X", "1", market.Buy, "150"))
	_, e2, err2 := when(back, complete("X", "1", market.Buy, "150"))
	if err1 != nil || err2 != nil || render(t, e1) != render(t, e2) {
		t.Fatalf("%v %v\n%s\n%s", err1, err2, render(t, e1), render(t, e2))
	}
}

func TestFailedLifecycleRoundTrip(t *testing.T) {
	l := given(filled(1, market.Buy, "1", "1")) // failed before genesis: zero state
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back aggregate.Lifecycle[State]
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if back.Status != aggregate.Failed || back.Failure != l.Failure {
		t.Fatalf("got %+v", back)
	}
}
