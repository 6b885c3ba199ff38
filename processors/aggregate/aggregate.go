package aggregate

import "encoding/json"

// Event is one fact of an aggregate. Type names the payload struct on the
// wire ("PositionEvent::OnChainOrderFilled", as upstream spelled them).
type Event interface{ EventType() string }

// Command asks an aggregate to decide something.
type Command interface{ CommandType() string }

// Definition is everything the generic runner needs to know about one
// aggregate type; each aggregate package exports one.
type Definition[S any] struct {
	// Type is the aggregate type in envelopes ("Position").
	Type string
	// Decide turns a command into events, or a domain error.
	Decide func(l Lifecycle[S], c Command, m Meta) ([]Event, error)
	// Evolve applies one event. It never fails; errors fail the lifecycle.
	Evolve func(l Lifecycle[S], e Event) Lifecycle[S]
	// DecodeCommand parses a command payload by its type name.
	DecodeCommand func(commandType string, payload json.RawMessage) (Command, error)
	// DecodeEvent parses an event payload (already upcast) by its type name.
	DecodeEvent func(eventType string, payload json.RawMessage) (Event, error)
}

// Replay folds events into a fresh lifecycle: the state an aggregate has
// after exactly these events.
func Replay[S any](d Definition[S], events []Event) Lifecycle[S] {
	var l Lifecycle[S]
	for _, e := range events {
		l = d.Evolve(l, e)
	}
	return l
}

// Execute runs Decide and applies the resulting events, returning the new
// lifecycle. If applying its own events fails the aggregate, the decision is
// still returned: the failure is now the aggregate's recorded state.
func Execute[S any](d Definition[S], l Lifecycle[S], c Command, m Meta) (Lifecycle[S], []Event, error) {
	events, err := d.Decide(l, c, m)
	if err != nil {
		return l, nil, err
	}
	for _, e := range events {
		l = d.Evolve(l, e)
	}
	return l, events, nil
}
