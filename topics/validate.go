package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Versions this code reads and writes. The aggregates decode a command
// payload by its type alone, so a command of any other version would be
// misread (a "command_version: 99" Witness would be taken for a v1 one):
// decoding refuses it. Events follow the same rule unless the reader
// upcasts that event type (DecodeEvent). Adding a version means adding it
// here together with the code that reads it.
const (
	CommandVersion = 1 // the command_version writers use
	EventVersion   = 1 // the event_version the aggregates write
)

var (
	commandVersions = []int{CommandVersion}
	eventVersions   = []int{EventVersion}
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

// version checks v against the known versions, or only that it is >= 1
// when known is nil (an upcasting reader decides per event type).
func (f *fieldErrors) version(field string, v int, known []int) {
	switch {
	case v < 1:
		f.add(field, fmt.Sprintf("must be >= 1, got %d", v))
	case known != nil && !slices.Contains(known, v):
		f.add(field, fmt.Sprintf("unsupported version %d, supported: %s", v, strings.Trim(fmt.Sprint(known), "[]")))
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
	e.check(&f, eventVersions)
	return f.err()
}

// check validates every field; versions as in fieldErrors.version.
func (e *EventEnvelope) check(f *fieldErrors, versions []int) {
	f.required("aggregate_type", e.AggregateType)
	f.required("aggregate_id", e.AggregateID)
	f.required("event_type", e.EventType)
	if e.Sequence < 1 {
		f.add("sequence", "must be >= 1")
	}
	f.version("event_version", e.EventVersion, versions)
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
	f.version("command_version", c.CommandVersion, commandVersions)
	f.timestamp("issued_at", c.IssuedAt)
	f.object("payload", c.Payload)
	if src := c.Source; src != nil {
		// Only the stages' event inputs, so an aggregate remembers a
		// bounded set of sources whoever produced the command.
		if !slices.Contains(commandSources, src.Topic) || src.Partition < 0 || src.Partition >= maxPartitions || src.Offset < 0 {
			f.add("source", fmt.Sprintf("must name one of %v, a partition in [0,%d) and an offset >= 0", commandSources, maxPartitions))
		}
	}
}

// commandSources are the topics commands are derived from (CommandSource):
// the command topics the fused stages read, and the event topics that
// stages read before the managers were fused into the aggregates (records
// made then are still valid).
var commandSources = []string{OnChainTradeCommands, PositionCommands, OffchainOrderCommands,
	OnChainTradeEvents, PositionEvents, OffchainOrderEvents}

// maxPartitions bounds partition numbers (the CLI's --partitions limit).
const maxPartitions = 1024

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
	if r.Truncated {
		if r.Command != nil || len(r.Raw) == 0 {
			f.add("raw", "a truncated original is kept in raw")
		}
		if r.OriginalSize <= int64(len(r.Raw)) {
			f.add("original_size", fmt.Sprintf("%d is not larger than the %d bytes kept", r.OriginalSize, len(r.Raw)))
		}
		if !isSHA256Hex(r.OriginalSHA256) {
			f.add("original_sha256", "must be 64 lowercase hex digits")
		}
	} else if r.OriginalSize != 0 || r.OriginalSHA256 != "" {
		f.add("original_truncated", "original_size and original_sha256 describe a truncated original only")
	}
	f.timestamp("rejected_at", r.RejectedAt)
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
