package offchainorder

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Evolve applies one event. Placed and Migrated are genesis events; the
// rest are transitions that fail the order when the state machine does not
// allow them or a field is invalid.
func Evolve(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	switch e := e.(type) {
	case Placed:
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return placed(e) })
	case Migrated:
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return migrated(e) })
	case Submitted:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.submit(e) })
	case PartiallyFilled:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.partialFill(e) })
	case Filled:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.fill(e) })
	case Failed:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.fail(e) })
	}
	return unknown(l, e)
}

// unknown fails the order, whatever its status, for an event it cannot
// apply (a pointer, or another aggregate's event).
func unknown(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	name := fmt.Sprintf("%T", e)
	err := fmt.Errorf("%w %s", ErrUnknownEvent, name)
	if l.Status == aggregate.Uninitialized {
		return aggregate.Genesis(l, name, func() (State, error) { return State{}, err })
	}
	return aggregate.Transition(l, name, func(s State) (State, error) { return s, err })
}
