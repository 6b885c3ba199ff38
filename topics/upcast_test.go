package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// filledUpcaster is a realistic two-step history of one event type:
// v1 {"qty":"5"} -> v2 {"shares":"5"} -> v3 {"shares":"5","venue":"onchain"}.
func filledUpcaster(eventType string, from int, p json.RawMessage) (json.RawMessage, int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, 0, err
	}
	switch from {
	case 1:
		m["shares"] = m["qty"]
		delete(m, "qty")
	case 2:
		m["venue"] = "onchain"
	default:
		return nil, 0, fmt.Errorf("%s: unknown version %d", eventType, from)
	}
	out, err := json.Marshal(m)
	return out, from + 1, err
}

const filled = "PositionEvent::OnChainOrderFilled"

// encodedAt writes the event as a writer of that version would: EncodeEvent
// itself only writes the versions this code knows.
func encodedAt(t *testing.T, version int, payload string) []byte {
	t.Helper()
	e := sampleEvent()
	e.EventType, e.EventVersion, e.Payload = filled, version, json.RawMessage(payload)
	e.OccurredAt = e.OccurredAt.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func currentIs(v int) CurrentVersion {
	return func(agg, ev string) int {
		if agg == Position && ev == filled {
			return v
		}
		return 0
	}
}

func TestDecodeEventUpcastsStepByStep(t *testing.T) {
	up := Upcasters{{Position, filled}: filledUpcaster}
	for _, tc := range []struct {
		version int
		payload string
	}{
		{1, `{"qty":"5"}`},
		{2, `{"shares":"5"}`},
		{3, `{"shares":"5","venue":"onchain"}`},
	} {
		e, err := DecodeEvent(encodedAt(t, tc.version, tc.payload), up, currentIs(3))
		if err != nil {
			t.Fatalf("from v%d: %v", tc.version, err)
		}
		if e.EventVersion != 3 || string(e.Payload) != `{"shares":"5","venue":"onchain"}` {
			t.Errorf("from v%d: got v%d %s", tc.version, e.EventVersion, e.Payload)
		}
	}
}

func TestDecodeEventUpcastFailures(t *testing.T) {
	v1 := encodedAt(t, 1, `{"qty":"5"}`)
	for _, tc := range []struct {
		name    string
		up      Upcasters
		current CurrentVersion
		is      error
		text    string
	}{
		{"no upcaster", nil, currentIs(2), ErrNoUpcaster, "v1->v2"},
		{"step does not advance", Upcasters{{Position, filled}: func(_ string, v int, p json.RawMessage) (json.RawMessage, int, error) {
			return p, v, nil
		}}, currentIs(3), nil, "returned v1"},
		{"step overshoots", Upcasters{{Position, filled}: func(_ string, v int, p json.RawMessage) (json.RawMessage, int, error) {
			return p, 9, nil
		}}, currentIs(3), nil, "returned v9"},
		{"step breaks payload", Upcasters{{Position, filled}: func(_ string, v int, p json.RawMessage) (json.RawMessage, int, error) {
			return json.RawMessage(`[]`), v + 1, nil
		}}, currentIs(3), nil, "not a JSON object"},
		{"step fails", Upcasters{{Position, filled}: func(_ string, v int, p json.RawMessage) (json.RawMessage, int, error) {
			return nil, 0, errors.New("boom")
		}}, currentIs(3), nil, "at v1: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent(v1, tc.up, tc.current)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
		})
	}
	_, err := DecodeEvent(encodedAt(t, 4, `{}`), nil, currentIs(3))
	if !errors.Is(err, ErrFutureVersion) {
		t.Errorf("v4 read by a v3 reader: error %v, want ErrFutureVersion", err)
	}
}

func TestDecodeEventWithoutVersioning(t *testing.T) {
	b := encodedAt(t, 1, `{"qty":"5"}`)
	for name, cur := range map[string]CurrentVersion{"nil current": nil, "unversioned type": currentIs(0)} {
		e, err := DecodeEvent(b, nil, cur)
		if err != nil || e.EventVersion != 1 || string(e.Payload) != `{"qty":"5"}` {
			t.Errorf("%s: got v%d %s, %v; want v1 unchanged", name, e.EventVersion, e.Payload, err)
		}
	}
}

// Without an upcaster for its type, an event of a version this code does
// not write must not be read as if it were one it does.
func TestDecodeEventRefusesUnknownVersionWithoutUpcasting(t *testing.T) {
	b := encodedAt(t, 2, `{"shares":"5"}`)
	for name, cur := range map[string]CurrentVersion{"nil current": nil, "unversioned type": currentIs(0)} {
		_, err := DecodeEvent(b, nil, cur)
		if got := fieldsOf(err); len(got) != 1 || got[0] != "event_version" || !strings.Contains(err.Error(), "supported: 1") {
			t.Errorf("%s: error %v, want a FieldError naming event_version and the supported versions", name, err)
		}
	}
	if _, err := DecodeEnvelope(b); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeEnvelope(v2): error %v, want ErrInvalid", err)
	}
}
