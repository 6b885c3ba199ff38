package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalid is matched (errors.Is) by every record that cannot be decoded
// or fails validation: such a record belongs on a rejections topic.
var ErrInvalid = errors.New("invalid record")

// FieldError names one field that failed decoding or validation.
type FieldError struct {
	Record string // "event", "command" or "rejection"
	Field  string // JSON name
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s field %s: %s", e.Record, e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// fieldErrors collects every problem of a record so one decode reports all,
// at most one per field (the first, which is the most specific).
type fieldErrors struct {
	record string
	fields []string
	errs   []error
	// parsed: the record came through encoding/json, which validated all of
	// it, so a raw value in it need not be validated as JSON again.
	parsed bool
}

func (f *fieldErrors) add(field, reason string) {
	if slices.Contains(f.fields, field) {
		return
	}
	f.fields = append(f.fields, field)
	f.errs = append(f.errs, &FieldError{Record: f.record, Field: field, Reason: reason})
}

func (f *fieldErrors) err() error { return errors.Join(f.errs...) }

func (f *fieldErrors) required(field, v string) {
	if strings.TrimSpace(v) == "" {
		f.add(field, "is required")
	}
}

// timestamp checks that t is set and can be written back as RFC 3339: a
// decoded "0000-01-01T00:00:00+01:00" is year -1 in UTC and would not
// re-encode.
func (f *fieldErrors) timestamp(field string, t time.Time) {
	switch {
	case t.IsZero():
		f.add(field, "is required")
	case t.UTC().Year() < 1 || t.UTC().Year() > 9999:
		f.add(field, fmt.Sprintf("year %d outside 1..9999", t.UTC().Year()))
	}
}

// parseTime reads a raw JSON time in UTC. Times are decoded here rather than
// by encoding/json because its error for a bad time does not name the field.
func (f *fieldErrors) parseTime(field string, raw json.RawMessage) time.Time {
	var t time.Time
	if len(raw) == 0 || string(raw) == "null" {
		return t
	}
	if err := t.UnmarshalJSON(raw); err != nil {
		f.add(field, fmt.Sprintf("not an RFC 3339 time: %s", raw))
		return time.Time{}
	}
	return t.UTC()
}

func (f *fieldErrors) version(field string, v int) {
	if v < 1 {
		f.add(field, fmt.Sprintf("must be >= 1, got %d", v))
	}
}

func (f *fieldErrors) object(field string, p json.RawMessage) {
	if ok := (f.parsed && isParsedObject(p)) || (!f.parsed && isObject(p)); !ok {
		f.add(field, "must be a JSON object")
	}
}

// Validate reports every invalid field of the envelope.
func (e *EventEnvelope) Validate() error {
	f := fieldErrors{record: "event"}
	e.check(&f)
	return f.err()
}

func (e *EventEnvelope) check(f *fieldErrors) {
	f.required("aggregate_type", e.AggregateType)
	f.required("aggregate_id", e.AggregateID)
	f.required("event_type", e.EventType)
	if e.Sequence < 1 {
		f.add("sequence", "must be >= 1")
	}
	f.version("event_version", e.EventVersion)
	f.timestamp("occurred_at", e.OccurredAt)
	f.object("payload", e.Payload)
}

// Validate reports every invalid field of the envelope.
func (c *CommandEnvelope) Validate() error {
	f := fieldErrors{record: "command"}
	c.check(&f)
	return f.err()
}

func (c *CommandEnvelope) check(f *fieldErrors) {
	f.required("aggregate_type", c.AggregateType)
	f.required("aggregate_id", c.AggregateID)
	f.required("command_id", c.CommandID)
	f.required("command_type", c.CommandType)
	f.version("command_version", c.CommandVersion)
	f.timestamp("issued_at", c.IssuedAt)
	f.object("payload", c.Payload)
}

// Validate reports every invalid field of the rejection.
func (r *Rejection) Validate() error {
	f := fieldErrors{record: "rejection"}
	r.check(&f)
	return f.err()
}

func (r *Rejection) check(f *fieldErrors) {
	f.required("aggregate_type", r.AggregateType)
	f.required("reason", r.Reason)
	f.required("topic", r.Topic)
	if r.Partition < 0 {
		f.add("partition", fmt.Sprintf("must be >= 0, got %d", r.Partition))
	}
	if r.Offset < 0 {
		f.add("offset", fmt.Sprintf("must be >= 0, got %d", r.Offset))
	}
	if r.Command != nil && r.Raw != nil {
		f.add("command", "only one of command and raw may be set")
	}
	if r.Command != nil && !json.Valid(r.Command) {
		f.add("command", "must be valid JSON")
	}
	f.timestamp("rejected_at", r.RejectedAt)
}
