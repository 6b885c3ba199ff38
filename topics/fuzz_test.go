package topics

import (
	"bytes"
	"reflect"
	"testing"
)

// Properties for any input: decoding never panics; whatever decodes
// re-encodes, decodes again to the same value, and that encoding is a fixed
// point (the canonical form).

func FuzzDecodeEnvelope(f *testing.F) {
	valid, err := EncodeEvent(sampleEvent())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{
		valid,
		[]byte(`{"aggregate_type":"Position","aggregate_id":"AAPL","sequence":1,"event_type":"E","event_version":1,"occurred_at":"2026-01-01T00:00:00+05:00","payload":{ "a" : [1, 2.50, "x\u00e9"] }}`),
		[]byte(`{"aggregate_type":"Position","aggregate_id":"AAPL","sequence":0,"event_type":"E","event_version":1,"occurred_at":"2026-01-01T00:00:00Z","payload":{}}`),
		[]byte(`{"payload":null}`),
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`[`),
		{},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			return
		}
		out, err := EncodeEvent(e)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode %+v: %v", b, e, err)
		}
		e2, err := DecodeEnvelope(out)
		if err != nil {
			t.Fatalf("cannot decode own encoding %q: %v", out, err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", e, e2)
		}
		out2, err := EncodeEvent(e2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not canonical:\n%q\n%q (%v)", out, out2, err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	valid, err := EncodeCommand(sampleCommand())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{
		valid,
		[]byte(`{"aggregate_type":"OnChainTrade","aggregate_id":"0x1:2","command_id":"c","command_type":"Witness","command_version":1,"issued_at":"2026-01-01T00:00:00.5-03:00","payload":{"n":"1e3"}}`),
		[]byte(`{"aggregate_type":"OnChainTrade","aggregate_id":"0x1:2","command_type":"Witness","command_version":1,"issued_at":"2026-01-01T00:00:00Z","payload":{}}`),
		[]byte(`{"command_version":-1}`),
		[]byte(`"x"`),
		{0xff},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		out, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode %+v: %v", b, c, err)
		}
		c2, err := DecodeCommand(out)
		if err != nil {
			t.Fatalf("cannot decode own encoding %q: %v", out, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", c, c2)
		}
		out2, err := EncodeCommand(c2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not canonical:\n%q\n%q (%v)", out, out2, err)
		}
	})
}

// FuzzRejectionOriginal checks that any record, however broken, survives a
// trip through the rejections topic byte for byte (a prefix with its size
// and hash when it is longer than MaxOriginalBytes), in a record that fits.
func FuzzRejectionOriginal(f *testing.F) {
	for _, s := range [][]byte{[]byte(`{"a":1}`), []byte(`{ "a": 1 }`), []byte("\xff"), []byte(`"\u2028<>"`), {}, bytes.Repeat([]byte("\x01"), MaxOriginalBytes+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Rejection{AggregateType: Position, Reason: "r", Topic: PositionCommands, RejectedAt: sampleEvent().OccurredAt}
		r.SetOriginal(b)
		enc, err := EncodeRejection(r)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if len(enc) > MaxRejectionBytes {
			t.Fatalf("%d-byte original gave a %d-byte rejection", len(b), len(enc))
		}
		got, err := DecodeRejection(enc)
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		checkOriginal(t, got, b)
	})
}
