package topics

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Upcaster rewrites a payload of one event type from fromVersion to a newer
// version and returns that version. It is called repeatedly until the event
// reaches the reader's current version, so each step only needs to know its
// neighbour (v1->v2, v2->v3, ...).
type Upcaster func(eventType string, fromVersion int, payload json.RawMessage) (json.RawMessage, int, error)

// EventKey names one event type of one aggregate type.
type EventKey struct {
	AggregateType string
	EventType     string
}

// Upcasters registers the upcaster of each event type that has old versions.
type Upcasters map[EventKey]Upcaster

// CurrentVersion reports the event_version a reader understands for an event
// type, or 0 if the reader does not version it (the event passes unchanged).
type CurrentVersion func(aggregateType, eventType string) int

// ErrNoUpcaster means an old event version has no path to the current one.
var ErrNoUpcaster = errors.New("no upcaster")

// ErrFutureVersion means an event was written by a newer schema than the
// reader knows; guessing would silently misread it.
var ErrFutureVersion = errors.New("event version newer than reader")

// DecodeEvent decodes and validates an event envelope and upcasts its payload
// to the version current reports. A nil current disables upcasting. An event
// type the reader versions may carry any version its upcasters bring to the
// current one; any other event must carry a version DecodeEnvelope accepts.
func DecodeEvent(b []byte, up Upcasters, current CurrentVersion) (EventEnvelope, error) {
	e, err := decodeEvent(b, nil)
	if err != nil {
		return EventEnvelope{}, err
	}
	want := 0
	if current != nil {
		want = current(e.AggregateType, e.EventType)
	}
	if want <= 0 {
		f := fieldErrors{record: "event"}
		f.version("event_version", e.EventVersion, eventVersions)
		if err := f.err(); err != nil {
			return EventEnvelope{}, fmt.Errorf("decode event: %w", err)
		}
		return e, nil
	}
	return up.Upcast(e, want)
}

// Upcast brings e to version want, one step at a time. want <= 0 leaves e
// unchanged.
func (u Upcasters) Upcast(e EventEnvelope, want int) (EventEnvelope, error) {
	if want <= 0 || e.EventVersion == want {
		return e, nil
	}
	name := fmt.Sprintf("upcast %s %s/%s#%d v%d->v%d", e.EventType, e.AggregateType, e.AggregateID, e.Sequence, e.EventVersion, want)
	if e.EventVersion > want {
		return EventEnvelope{}, fmt.Errorf("%s: %w", name, ErrFutureVersion)
	}
	up := u[EventKey{e.AggregateType, e.EventType}]
	if up == nil {
		return EventEnvelope{}, fmt.Errorf("%s: %w", name, ErrNoUpcaster)
	}
	for e.EventVersion < want {
		p, v, err := up(e.EventType, e.EventVersion, e.Payload)
		if err != nil {
			return EventEnvelope{}, fmt.Errorf("%s: at v%d: %w", name, e.EventVersion, err)
		}
		// A step that does not move forward would loop forever, and one that
		// overshoots produces a version this reader cannot decode.
		if v <= e.EventVersion || v > want {
			return EventEnvelope{}, fmt.Errorf("%s: step from v%d returned v%d", name, e.EventVersion, v)
		}
		if !isObject(p) {
			return EventEnvelope{}, fmt.Errorf("%s: step from v%d: payload is not a JSON object", name, e.EventVersion)
		}
		e.Payload, e.EventVersion = compact(p), v
	}
	return e, nil
}
