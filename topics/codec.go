package topics

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Wire forms for decoding: time fields are read raw so that a malformed
// time is reported as a FieldError naming it (the outer field shadows the
// embedded one in encoding/json).
type (
	eventWire struct {
		EventEnvelope
		OccurredAt json.RawMessage `json:"occurred_at"`
	}
	commandWire struct {
		CommandEnvelope
		IssuedAt json.RawMessage `json:"issued_at"`
	}
	rejectionWire struct {
		Rejection
		RejectedAt json.RawMessage `json:"rejected_at"`
	}
)

// EncodeEvent validates e and returns its JSON with times in UTC. An invalid
// envelope is never written: readers would reject it forever.
func EncodeEvent(e EventEnvelope) ([]byte, error) {
	e.OccurredAt = e.OccurredAt.UTC()
	b, err := encode(&e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s/%s#%d: %w", e.AggregateType, e.AggregateID, e.Sequence, err)
	}
	return b, nil
}

// DecodeEnvelope parses and validates an event envelope without upcasting;
// most readers want DecodeEvent. Unknown fields are ignored so that adding
// an envelope field does not break old readers. The payload is compacted, as
// the encoder writes it, so a decoded envelope re-encodes to the same bytes.
func DecodeEnvelope(b []byte) (EventEnvelope, error) {
	return decodeEvent(b, eventVersions)
}

// decodeEvent is DecodeEnvelope accepting the event versions in versions
// (nil: any >= 1).
func decodeEvent(b []byte, versions []int) (EventEnvelope, error) {
	var w eventWire
	f := fieldErrors{record: "event", parsed: true}
	if err := unmarshal(&f, b, &w); err != nil {
		return EventEnvelope{}, fmt.Errorf("decode event: %w", err)
	}
	e := w.EventEnvelope
	e.OccurredAt = f.parseTime("occurred_at", w.OccurredAt)
	e.check(&f, versions)
	if err := f.err(); err != nil {
		return EventEnvelope{}, fmt.Errorf("decode event: %w", err)
	}
	e.Payload = compact(e.Payload)
	return e, nil
}

// EncodeCommand validates c and returns its JSON with times in UTC.
func EncodeCommand(c CommandEnvelope) ([]byte, error) {
	c.IssuedAt = c.IssuedAt.UTC()
	b, err := encode(&c)
	if err != nil {
		return nil, fmt.Errorf("encode command %s/%s %s: %w", c.AggregateType, c.AggregateID, c.CommandID, err)
	}
	return b, nil
}

// DecodeCommand parses and validates a command envelope, compacting its
// payload like DecodeEnvelope.
func DecodeCommand(b []byte) (CommandEnvelope, error) {
	var w commandWire
	f := fieldErrors{record: "command", parsed: true}
	if err := unmarshal(&f, b, &w); err != nil {
		return CommandEnvelope{}, fmt.Errorf("decode command: %w", err)
	}
	c := w.CommandEnvelope
	c.IssuedAt = f.parseTime("issued_at", w.IssuedAt)
	c.check(&f)
	if err := f.err(); err != nil {
		return CommandEnvelope{}, fmt.Errorf("decode command: %w", err)
	}
	c.Payload = compact(c.Payload)
	return c, nil
}

// SetOriginal stores the rejected record's bytes so that Original returns
// them unchanged. Only compact, valid UTF-8 JSON goes into Command, because
// the encoder compacts embedded JSON and would alter anything else. A record
// longer than MaxOriginalBytes keeps its prefix in Raw (a prefix of JSON is
// not JSON), its size and its SHA-256, so the rejection still fits the topic.
func (r *Rejection) SetOriginal(b []byte) {
	r.Command, r.Raw = nil, nil
	r.Truncated, r.OriginalSize, r.OriginalSHA256 = false, 0, ""
	switch {
	case len(b) == 0:
	case len(b) > MaxOriginalBytes:
		sum := sha256.Sum256(b)
		r.Raw = bytes.Clone(b[:MaxOriginalBytes])
		r.Truncated, r.OriginalSize, r.OriginalSHA256 = true, int64(len(b)), hex.EncodeToString(sum[:])
	case isCompactJSON(b):
		r.Command = bytes.Clone(b)
	default:
		r.Raw = bytes.Clone(b)
	}
}

// EncodeRejection validates r and returns its JSON with times in UTC, never
// longer than MaxRejectionBytes: an oversized original is truncated (as
// SetOriginal does) and long strings are cut, each saying so. A rejected_at
// that is unset or cannot be written (a record without a timestamp) becomes
// the Unix epoch and a blank reason says so, so that no input can make its
// own rejection unwritable.
func EncodeRejection(r Rejection) ([]byte, error) {
	r.bound()
	b, err := encode(&r)
	if err == nil && len(b) > MaxRejectionBytes {
		err = fmt.Errorf("%d bytes, over MaxRejectionBytes", len(b)) // unreachable: bound keeps it below
	}
	if err != nil {
		return nil, fmt.Errorf("encode rejection of %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return b, nil
}

// bound brings every field of r under the limits that keep its encoding
// below MaxRejectionBytes.
func (r *Rejection) bound() {
	r.AggregateType = clip(r.AggregateType, maxNameBytes)
	r.AggregateID = clip(r.AggregateID, maxNameBytes)
	r.Topic = clip(r.Topic, maxNameBytes)
	r.Reason = clip(r.Reason, MaxReasonBytes)
	if strings.TrimSpace(r.Reason) == "" {
		r.Reason = "no reason given" // an error with an empty message
	}
	switch {
	case r.Truncated && len(r.Raw) > MaxOriginalBytes:
		r.Raw = r.Raw[:MaxOriginalBytes]
	case !r.Truncated && len(r.Original()) > MaxOriginalBytes:
		r.SetOriginal(r.Original())
	}
	r.RejectedAt = r.RejectedAt.UTC()
	if y := r.RejectedAt.Year(); r.RejectedAt.IsZero() || y < 1 || y > 9999 {
		r.RejectedAt = time.Unix(0, 0).UTC()
	}
}

// RejectionKey is the record key to write a rejection under: the rejected
// record's own key, cut to 1 KiB, so that a huge key cannot make the
// rejection record exceed the topic's message size (the key only picks a
// partition of the rejections topic; the rejection keeps the original).
func RejectionKey(key string) string {
	return clip(key, maxNameBytes)
}

// clip cuts s to at most max bytes, on a UTF-8 boundary, ending with a note
// of how long it was.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	note := fmt.Sprintf("... [truncated, %d bytes]", len(s))
	cut := max - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// DecodeRejection parses and validates a rejection record.
func DecodeRejection(b []byte) (Rejection, error) {
	var w rejectionWire
	f := fieldErrors{record: "rejection", parsed: true}
	if err := unmarshal(&f, b, &w); err != nil {
		return Rejection{}, fmt.Errorf("decode rejection: %w", err)
	}
	r := w.Rejection
	r.RejectedAt = f.parseTime("rejected_at", w.RejectedAt)
	r.check(&f)
	if err := f.err(); err != nil {
		return Rejection{}, fmt.Errorf("decode rejection: %w", err)
	}
	return r, nil
}

// unmarshal decodes b into v. A value of the wrong JSON type becomes a
// FieldError in f (decoding goes on, so other fields are still checked);
// malformed JSON is returned as an error matching ErrInvalid.
func unmarshal(f *fieldErrors, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var ute *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ute) && ute.Field != "":
		// Field is a path through the wire struct ("EventEnvelope.sequence");
		// envelopes are flat, so its last element is the JSON name.
		field := ute.Field[strings.LastIndexByte(ute.Field, '.')+1:]
		f.add(field, fmt.Sprintf("JSON %s cannot be %s", ute.Value, ute.Type))
		return nil
	default:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
}

type validator interface{ Validate() error }

// encode validates v and marshals it without HTML escaping: payloads are
// data, not web pages, and escaping would rewrite embedded JSON.
func encode(v validator) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// isObject also insists on UTF-8, which JSON requires and the ClickHouse
// sinks depend on; encoding/json would pass invalid bytes through.
func isObject(p json.RawMessage) bool {
	t := bytes.TrimLeft(p, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && utf8.Valid(p) && json.Valid(p)
}

// isParsedObject is isObject for a value encoding/json has already
// validated as part of a whole record: one pass less over every payload.
func isParsedObject(p json.RawMessage) bool {
	t := bytes.TrimLeft(p, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && utf8.Valid(p)
}

// compact removes insignificant whitespace from valid JSON. What the
// encoders here write has none: without a single whitespace byte the
// value is returned as it is, saving a scan and a copy per record read.
func compact(p json.RawMessage) json.RawMessage {
	if !hasSpace(p) {
		return p
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return p // unreachable for validated payloads
	}
	return buf.Bytes()
}

func isCompactJSON(b []byte) bool {
	if !utf8.Valid(b) || !json.Valid(b) {
		return false
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return false
	}
	return bytes.Equal(c.Bytes(), b)
}

// hasSpace reports whether b holds any byte JSON counts as whitespace.
func hasSpace(b []byte) bool {
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}
