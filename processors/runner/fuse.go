package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Fused is the state of a fused stage per key: the upstream stage's and
// the downstream one's, written as one table record.
type Fused[U, D any] struct {
	Up   U `json:"up"`
	Down D `json:"down"`
}

// ErrUnfusedState is a table record written before its stage was fused:
// the upstream's state alone. Read as a fused one it would silently be an
// empty state (a position at zero, a trade never seen), so it is refused.
var ErrUnfusedState = errors.New("table record written by a hedgeline before the managers ran inside the aggregates " +
	"(no \"up\" state): this version cannot continue that state; see docs/design.md, \"Fused stages\"")

// UnmarshalJSON refuses a record without the upstream's state.
func (f *Fused[U, D]) UnmarshalJSON(b []byte) error {
	var parts struct {
		Up   json.RawMessage `json:"up"`
		Down json.RawMessage `json:"down"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("%w: %w", ErrUnfusedState, err) // not even an object
	}
	if parts.Up == nil {
		return ErrUnfusedState
	}
	if err := json.Unmarshal(parts.Up, &f.Up); err != nil {
		return err
	}
	if parts.Down == nil {
		return nil
	}
	return json.Unmarshal(parts.Down, &f.Down)
}

// Fuse runs down inside up's callback. Every output of up on down's input
// topic is handed to down at once, in order, instead of going through
// Kafka to down's own goka group: one hop, one table write and one
// consumer fewer per input, while up's outputs are still produced for
// everyone else (sinks, users).
//
// This keeps down's effect exactly once only because both stages keep one
// key's state: down must be keyed like up's input (an aggregate's events
// carry its command's key), which Fuse checks for every output it hands
// over. down sees the output's bytes as its input's value, and the fused
// stage's input topic, partition, offset and timestamp: a command down
// derives names as its source the record that caused it, which is
// monotonic per partition as the receiving aggregate's re-send check needs.
//
// A duplicate reported by up (ErrDuplicate) skips down; one reported by
// down drops only down's part of that output (up's events were new, so
// down has applied them before: its state came from a newer run).
func Fuse[U, D any](up Stage[U], down Stage[D]) (Stage[Fused[U, D]], error) {
	if !slices.Contains(up.Outputs, down.Input) {
		return Stage[Fused[U, D]]{}, fmt.Errorf("fuse %s into %s: %s does not emit %s", down.Group, up.Group, up.Group, down.Input)
	}
	outputs := slices.Clone(up.Outputs)
	for _, t := range down.Outputs {
		if !slices.Contains(outputs, t) {
			outputs = append(outputs, t)
		}
	}
	return Stage[Fused[U, D]]{
		Group:    up.Group,
		Input:    up.Input,
		Outputs:  outputs,
		Reject:   up.Reject,
		Admit:    bothAdmit(up.Admit, down.Admit),
		OnAssign: bothAssign(up.OnAssign, down.OnAssign),
		Handle: func(st Fused[U, D], in Input) (Fused[U, D], []Output, error) {
			u, out, err := up.Handle(st.Up, in)
			if err != nil {
				if errors.Is(err, ErrDuplicate) {
					st.Up = u
				}
				return st, nil, err
			}
			st.Up = u
			all := out
			for _, o := range out {
				if o.Topic != down.Input {
					continue
				}
				if o.Key != in.Key {
					return st, nil, fmt.Errorf("fused %s: %s emitted key %q for input key %q: %s keeps one key's state",
						up.Group, o.Topic, o.Key, in.Key, down.Group)
				}
				derived := in
				derived.Value, derived.Event = o.Value, o.Event
				d, dout, err := down.Handle(st.Down, derived)
				if err != nil && !errors.Is(err, ErrDuplicate) {
					return st, nil, fmt.Errorf("fused %s: %w", down.Group, err)
				}
				st.Down = d
				if err == nil {
					all = append(all[:len(all):len(all)], dout...)
				}
			}
			return st, all, nil
		},
	}, nil
}

func bothAssign(a, b func([]int32)) func([]int32) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ps []int32) { a(ps); b(ps) }
}

func bothAdmit(a, b func(context.Context, Input)) func(context.Context, Input) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, in Input) { a(ctx, in); b(ctx, in) }
}
