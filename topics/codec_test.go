package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEvent() EventEnvelope {
	return EventEnvelope{
		AggregateType: Position,
		AggregateID:   "AAPL",
		Sequence:      7,
		EventType:     "PositionEvent::OnChainOrderFilled",
		EventVersion:  1,
		OccurredAt:    time.Date(2026, 3, 1, 15, 4, 5, 123456789, time.FixedZone("EST", -5*3600)),
		CommandID:     "cmd-1",
		CorrelationID: "corr-1",
		CausationID:   "cause-1",
		Payload:       json.RawMessage(`{"amount":"1.5","note":"<a&b>"}`),
	}
}

func sampleCommand() CommandEnvelope {
	return CommandEnvelope{
		AggregateType:  OnChainTrade,
		AggregateID:    "0xabc:5",
		CommandID:      "cmd-1",
		CommandType:    "Witness",
		CommandVersion: 1,
		IssuedAt:       time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("X", 3600)),
		CorrelationID:  "corr-1",
		Payload:        json.RawMessage(`{"symbol":"AAPL"}`),
	}
}

func TestEventRoundTrip(t *testing.T) {
	in := sampleEvent()
	b, err := EncodeEvent(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"occurred_at":"2026-03-01T20:04:05.123456789Z"`)) {
		t.Errorf("occurred_at not normalised to UTC: %s", b)
	}
	if !bytes.Contains(b, []byte(`<a&b>`)) {
		t.Errorf("payload was HTML-escaped: %s", b)
	}
	out, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.OccurredAt.Equal(in.OccurredAt) || out.OccurredAt.Location() != time.UTC {
		t.Errorf("occurred_at %v, want %v in UTC", out.OccurredAt, in.OccurredAt)
	}
	in.OccurredAt = in.OccurredAt.UTC()
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	in := sampleCommand()
	b, err := EncodeCommand(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	in.IssuedAt = in.IssuedAt.UTC()
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

// fieldsOf returns the fields named by the FieldErrors in err.
func fieldsOf(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe *FieldError
		if errors.As(err, &fe) && err == error(fe) {
			out = append(out, fe.Field)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	valid, err := EncodeEvent(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	with := func(field string, v any) []byte {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		field string // the one field a FieldError must name, "" for malformed JSON
		text  string
	}{
		{"no aggregate_type", with("aggregate_type", nil), "aggregate_type", ""},
		{"blank aggregate_id", with("aggregate_id", " "), "aggregate_id", ""},
		{"no event_type", with("event_type", nil), "event_type", ""},
		{"sequence 0", with("sequence", 0), "sequence", ""},
		{"no sequence", with("sequence", nil), "sequence", ""},
		{"event_version 0", with("event_version", 0), "event_version", ""},
		{"unknown event_version", with("event_version", 99), "event_version", "unsupported version 99, supported: 1"},
		{"no occurred_at", with("occurred_at", nil), "occurred_at", ""},
		{"occurred_at before year 1 in UTC", with("occurred_at", "0001-01-01T00:00:00+01:00"), "occurred_at", ""},
		{"payload array", with("payload", []int{1}), "payload", ""},
		{"payload string", with("payload", "{}"), "payload", ""},
		{"payload null", []byte(strings.Replace(string(valid), `"payload":{`, `"payload":null,"x":{`, 1)), "payload", ""},
		{"no payload", with("payload", nil), "payload", ""},
		{"negative sequence", with("sequence", -1), "sequence", "JSON number -1 cannot be uint64"},
		{"fractional version", with("event_version", 1.5), "event_version", "cannot be int"},
		{"string id", with("aggregate_id", 5), "aggregate_id", "cannot be string"},
		{"bad time", with("occurred_at", "yesterday"), "occurred_at", `not an RFC 3339 time: "yesterday"`},
		{"numeric time", with("occurred_at", 5), "occurred_at", "not an RFC 3339 time"},
		{"not json", []byte("{"), "", "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEnvelope(tc.in)
			if err == nil {
				t.Fatalf("decoded %s without error", tc.in)
			}
			if tc.field != "" {
				if got := fieldsOf(err); !reflect.DeepEqual(got, []string{tc.field}) {
					t.Errorf("fields %v, want [%s] (err: %v)", got, tc.field, err)
				}
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestDecodeReportsEveryField(t *testing.T) {
	_, err := DecodeEnvelope([]byte(`{}`))
	want := []string{"aggregate_type", "aggregate_id", "event_type", "sequence", "event_version", "occurred_at", "payload"}
	if got := fieldsOf(err); !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	_, err = DecodeCommand([]byte(`{}`))
	want = []string{"aggregate_type", "aggregate_id", "command_id", "command_type", "command_version", "issued_at", "payload"}
	if got := fieldsOf(err); !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	e := sampleEvent()
	e.Sequence = 0
	if _, err := EncodeEvent(e); !errors.Is(err, ErrInvalid) {
		t.Errorf("EncodeEvent(sequence 0) error = %v, want ErrInvalid", err)
	}
	e = sampleEvent()
	e.Payload = json.RawMessage(`{"a":`)
	if _, err := EncodeEvent(e); !errors.Is(err, ErrInvalid) {
		t.Errorf("EncodeEvent(broken payload) error = %v, want ErrInvalid", err)
	}
	c := sampleCommand()
	c.CommandID = ""
	if got := fieldsOf(must1(EncodeCommand(c))); !reflect.DeepEqual(got, []string{"command_id"}) {
		t.Errorf("EncodeCommand(no command_id) fields %v", got)
	}
}

// A command of a version the aggregates do not know would be decoded as
// the one they do ("command_version: 99" Witness became a Filled trade).
func TestDecodeCommandRefusesUnknownVersion(t *testing.T) {
	for _, v := range []int{0, 2, 99} {
		c := sampleCommand()
		c.CommandVersion = 1
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte(`"command_version":1`), fmt.Appendf(nil, `"command_version":%d`, v), 1)
		_, err = DecodeCommand(b)
		if got := fieldsOf(err); !reflect.DeepEqual(got, []string{"command_version"}) || !errors.Is(err, ErrInvalid) {
			t.Errorf("command_version %d: fields %v (err %v), want [command_version]", v, got, err)
		}
		if v > 0 && !strings.Contains(fmt.Sprint(err), fmt.Sprintf("unsupported version %d, supported: 1", v)) {
			t.Errorf("command_version %d: error %q does not name the supported versions", v, err)
		}
		c.CommandVersion = v
		if _, err := EncodeCommand(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("EncodeCommand(command_version %d) error = %v, want ErrInvalid", v, err)
		}
	}
}

func must1[T any](_ T, err error) error { return err }

func TestRejectionKeepsOriginalBytes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("Y", 7200))
	for _, tc := range []struct {
		name     string
		original []byte
		asJSON   bool
	}{
		{"compact json", []byte(`{"command_type":"Witness","x":"<&>"}`), true},
		{"json with spaces", []byte(`{ "a": 1 }`), false},
		{"binary", []byte{0xff, 0x00, '{'}, false},
		{"invalid utf8 in json string", []byte("{\"a\":\"\xff\"}"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rejection{AggregateType: Position, Reason: "decode command: boom", Topic: PositionCommands, Partition: 2, Offset: 41, RejectedAt: at}
			r.SetOriginal(tc.original)
			if (r.Command != nil) != tc.asJSON {
				t.Errorf("stored as JSON = %v, want %v", r.Command != nil, tc.asJSON)
			}
			b, err := EncodeRejection(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRejection(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !bytes.Equal(got.Original(), tc.original) {
				t.Errorf("original %q, want %q (record %s)", got.Original(), tc.original, b)
			}
			if !got.RejectedAt.Equal(at) || got.RejectedAt.Location() != time.UTC {
				t.Errorf("rejected_at %v, want %v in UTC", got.RejectedAt, at)
			}
		})
	}
	if _, err := DecodeRejection([]byte(`{"partition":-1}`)); err == nil {
		t.Error("decoded an empty rejection")
	} else if got := fieldsOf(err); !reflect.DeepEqual(got, []string{"aggregate_type", "reason", "topic", "partition", "rejected_at"}) {
		t.Errorf("fields %v", got)
	}
}

// A command's source is remembered by its aggregate: only the stages' input
// topics and sane partitions are accepted, so no producer can make that
// memory grow (a 200 KB topic name per command did).
func TestCommandSourceIsBounded(t *testing.T) {
	base := CommandEnvelope{AggregateType: Position, AggregateID: "AAPL", CommandID: "c", CommandType: "X",
		CommandVersion: CommandVersion, IssuedAt: time.Unix(1, 0).UTC(), Payload: []byte(`{}`)}
	for _, src := range []CommandSource{
		{Topic: strings.Repeat("x", 200<<10), Partition: 0, Offset: 1},
		{Topic: PnLEvents, Partition: 0, Offset: 1}, // no stage reads it
		{Topic: OnChainTradeEvents, Partition: 1 << 20, Offset: 1},
		{Topic: OnChainTradeEvents, Partition: 0, Offset: -1},
	} {
		c := base
		c.Source = &src
		if _, err := EncodeCommand(c); err == nil || !strings.Contains(err.Error(), "source") {
			t.Errorf("source topic %.20q partition %d offset %d: err %v, want refused", src.Topic, src.Partition, src.Offset, err)
		}
	}
	c := base
	c.Source = &CommandSource{Topic: OnChainTradeEvents, Partition: 3, Offset: 9}
	if _, err := EncodeCommand(c); err != nil {
		t.Fatal(err)
	}
}
