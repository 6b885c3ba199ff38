// Package aggregate holds what every aggregate shares: the Lifecycle wrapper
// that makes event application total (it never fails, it only moves the
// aggregate to Failed), and the metadata a command carries into Decide.
//
// Aggregates are pure: Decide(state, command, meta) -> events, and
// Evolve(state, event) -> state. Time and ids come from the command
// metadata, never from the clock, so a replay yields byte-identical events.
package aggregate

import (
	"errors"
	"fmt"
	"time"
)

// Status is where an aggregate is in its life.
type Status string

const (
	Uninitialized Status = ""
	Live          Status = "live"
	Failed        Status = "failed"
)

// Lifecycle wraps an aggregate's state S. Version is the sequence of the last
// applied event; the next event an aggregate emits gets Version+1.
type Lifecycle[S any] struct {
	Status  Status `json:"status,omitempty"`
	Version uint64 `json:"version"`
	// State is the live state, or the last valid state once Failed.
	// omitzero: the runner stores the lifecycle of every key that received a
	// command, also one that was refused before genesis, and the zero state
	// of some aggregates does not decode (market.Direction and Broker reject
	// ""), which would fail the stage on that key's next command.
	State S `json:"state,omitzero"`
	// Failure says why the aggregate stopped (only when Failed).
	Failure string `json:"failure,omitempty"`
}

// Sentinel lifecycle errors. Decide functions return them (wrapped) so a
// caller can tell "not yet created" from "already exists".
var (
	ErrUninitialized      = errors.New("aggregate is not initialized")
	ErrAlreadyInitialized = errors.New("aggregate is already initialized")
)

// FailedError is returned for every command sent to a Failed aggregate. It
// carries the original failure so the operator sees why it stopped.
type FailedError struct{ Reason string }

func (e *FailedError) Error() string { return "aggregate is failed: " + e.Reason }

// Check returns nil for a Live aggregate, ErrUninitialized or a *FailedError
// otherwise. Decide functions start with it for non-genesis commands.
func (l Lifecycle[S]) Check() error {
	switch l.Status {
	case Live:
		return nil
	case Failed:
		return &FailedError{Reason: l.Failure}
	default:
		return ErrUninitialized
	}
}

// CheckGenesis returns nil when the aggregate may be created,
// ErrAlreadyInitialized when it is Live and a *FailedError when Failed.
func (l Lifecycle[S]) CheckGenesis() error {
	switch l.Status {
	case Uninitialized:
		return nil
	case Failed:
		return &FailedError{Reason: l.Failure}
	default:
		return ErrAlreadyInitialized
	}
}

// Genesis applies an event that creates the aggregate. Applied to a Live
// aggregate it is a consistency error and the aggregate fails.
func Genesis[S any](l Lifecycle[S], event string, create func() (S, error)) Lifecycle[S] {
	l.Version++
	switch l.Status {
	case Failed:
		return l
	case Live:
		return l.fail(fmt.Errorf("genesis event %s on a live aggregate: %w", event, ErrAlreadyInitialized))
	}
	s, err := create()
	if err != nil {
		return l.fail(fmt.Errorf("apply %s: %w", event, err))
	}
	l.Status, l.State = Live, s
	return l
}

// Transition applies an event to a Live aggregate. An error, or an event on
// an uninitialized aggregate, fails it and keeps the last valid state.
func Transition[S any](l Lifecycle[S], event string, next func(S) (S, error)) Lifecycle[S] {
	l.Version++
	switch l.Status {
	case Failed:
		return l
	case Uninitialized:
		return l.fail(fmt.Errorf("event %s on an uninitialized aggregate: %w", event, ErrUninitialized))
	}
	s, err := next(l.State)
	if err != nil {
		return l.fail(fmt.Errorf("apply %s: %w", event, err))
	}
	l.State = s
	return l
}

func (l Lifecycle[S]) fail(err error) Lifecycle[S] {
	l.Status, l.Failure = Failed, err.Error()
	return l
}

// Meta is what the runner knows about a command besides its body. Decide
// uses At as "now" and never reads the clock.
type Meta struct {
	// AggregateID is the id the command was addressed to (the record key).
	AggregateID string
	CommandID   string
	At          time.Time
}
