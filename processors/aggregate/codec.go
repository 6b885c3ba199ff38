package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Decoder maps type names to decoders of their payload struct, so every
// aggregate package decodes commands and events the same way:
//
//	var events = aggregate.Decoder[aggregate.Event]{
//		"PositionEvent::Initialized": aggregate.As[Initialized, aggregate.Event],
//	}
type Decoder[T any] map[string]func(json.RawMessage) (T, error)

// Decode parses payload as the type registered under name.
func (d Decoder[T]) Decode(name string, payload json.RawMessage) (T, error) {
	dec, ok := d[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("unknown type %q", name)
	}
	v, err := dec(payload)
	if err != nil {
		return v, fmt.Errorf("decode %s: %w", name, err)
	}
	return v, nil
}

// As decodes a payload into a V and returns it as the interface T. Unknown
// fields are rejected: a misspelled field must not silently become zero.
func As[V any, T any](payload json.RawMessage) (T, error) {
	var v V
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, err
	}
	// Token, not More: More reports false for a stray '}' or ']'.
	if _, err := dec.Token(); err != io.EOF {
		var zero T
		return zero, fmt.Errorf("trailing data after JSON value")
	}
	t, ok := any(v).(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%T does not implement %T", v, zero)
	}
	return t, nil
}
