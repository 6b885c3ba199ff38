package offchainorder

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Decide turns a command into events. A non-genesis command on an order
// that does not exist is aggregate.ErrUninitialized; time is m.At in UTC. A
// genesis command (Place, Migrate) needs m.AggregateID to be an execution id
// (ParseID); later commands reach only orders created that way.
func Decide(l aggregate.Lifecycle[State], c aggregate.Command, m aggregate.Meta) ([]aggregate.Event, error) {
	if m.At.IsZero() {
		return nil, ErrMissingTime
	}
	at := m.At.UTC()
	switch c := c.(type) {
	case Place:
		if err := checkGenesis(l); err != nil {
			return nil, err
		}
		e := Placed{
			Symbol: c.Symbol, Shares: c.Shares, Direction: c.Direction, Broker: c.Broker,
			ReferencePrice: copyPtr(c.ReferencePrice), PlacedAt: at,
		}
		return emit(e, func() error { _, err := placed(e); return errors.Join(checkID(m.AggregateID), err) })
	case Migrate:
		if err := checkGenesis(l); err != nil {
			return nil, err
		}
		e := Migrated{
			Symbol: c.Symbol, Shares: c.Shares, Direction: c.Direction, Broker: c.Broker,
			Status: c.Status, Error: c.Error, BrokerOrderID: copyPtr(c.BrokerOrderID),
			Price: copyPtr(c.Price), ExecutedAt: utcPtr(c.ExecutedAt), LegacyID: c.LegacyID, MigratedAt: at,
		}
		return emit(e, func() error { _, err := migrated(e); return errors.Join(checkID(m.AggregateID), err) })
	case ConfirmSubmission:
		e := Submitted{BrokerOrderID: c.BrokerOrderID, SubmittedAt: at}
		return step(l, e, func(s State) error { _, err := s.submit(e); return err })
	case UpdatePartialFill:
		e := PartiallyFilled{SharesFilled: c.SharesFilled, AvgPrice: c.AvgPrice, PartiallyFilledAt: at}
		return step(l, e, func(s State) error { _, err := s.partialFill(e); return err })
	case CompleteFill:
		e := Filled{Price: c.Price, FilledAt: at}
		return step(l, e, func(s State) error {
			if _, err := s.fill(e); err != nil {
				return err
			}
			if c.SharesFilled != nil && !c.SharesFilled.Equal(s.Shares) {
				return fmt.Errorf("%w: %s of %s", ErrFillMismatch, c.SharesFilled, s.Shares)
			}
			return nil
		})
	case MarkFailed:
		e := Failed{Error: c.Error, FailedAt: at}
		return step(l, e, func(s State) error { _, err := s.fail(e); return err })
	}
	return nil, fmt.Errorf("%w %T", ErrUnknownCommand, c)
}

// step emits e from a live order if accept allows it on the current state.
func step(l aggregate.Lifecycle[State], e aggregate.Event, accept func(State) error) ([]aggregate.Event, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	return emit(e, func() error { return accept(l.State) })
}

// checkGenesis maps "already initialized" to ErrAlreadyPlaced.
func checkGenesis(l aggregate.Lifecycle[State]) error {
	err := l.CheckGenesis()
	if errors.Is(err, aggregate.ErrAlreadyInitialized) {
		return ErrAlreadyPlaced
	}
	return err
}

// emit returns e after checking that Evolve will accept it.
func emit(e aggregate.Event, accept func() error) ([]aggregate.Event, error) {
	if err := accept(); err != nil {
		return nil, err
	}
	return []aggregate.Event{e}, nil
}
