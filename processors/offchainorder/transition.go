package offchainorder

import (
	"errors"
	"fmt"
)

// The functions here are the state machine. Evolve applies events with
// them; Decide runs them on the event it is about to emit, so both enforce
// exactly the same rules. Each checks the status first, then the fields,
// then the rules that compare the event with the state.

func placed(e Placed) (State, error) {
	err := errors.Join(checkOrder(e.Symbol, e.Shares, e.Direction, e.Broker), checkTime("placed_at", e.PlacedAt))
	if e.ReferencePrice != nil {
		err = errors.Join(err, checkPrice("reference_price", *e.ReferencePrice))
	}
	if err != nil {
		return State{}, err
	}
	return State{
		Status: StatusPending, Symbol: e.Symbol, Shares: e.Shares, Direction: e.Direction,
		Broker: e.Broker, ReferencePrice: e.ReferencePrice, PlacedAt: e.PlacedAt,
	}, nil
}

func (s State) submit(e Submitted) (State, error) {
	switch s.Status {
	case StatusPending:
	case StatusFailed:
		// A failed order may never have been submitted; it is over either way.
		return s, ErrAlreadyCompleted
	default:
		return s, ErrAlreadySubmitted
	}
	if err := errors.Join(checkText("broker_order_id", e.BrokerOrderID), checkTime("submitted_at", e.SubmittedAt)); err != nil {
		return s, err
	}
	s.Status, s.BrokerOrderID, s.SubmittedAt = StatusSubmitted, e.BrokerOrderID, e.SubmittedAt
	return s, nil
}

// filling allows fills only of a submitted, unfinished order.
func (s State) filling() error {
	switch s.Status {
	case StatusSubmitted, StatusPartiallyFilled:
		return nil
	case StatusPending:
		return ErrNotSubmitted
	}
	return ErrAlreadyCompleted
}

func (s State) partialFill(e PartiallyFilled) (State, error) {
	if err := s.filling(); err != nil {
		return s, err
	}
	err := errors.Join(
		checkPrice("shares_filled", e.SharesFilled),
		checkPrice("avg_price", e.AvgPrice),
		checkTime("partially_filled_at", e.PartiallyFilledAt),
	)
	if err != nil {
		return s, err
	}
	if !e.SharesFilled.LessThan(s.Shares) {
		return s, fmt.Errorf("%w: %s of %s", ErrFillNotPartial, e.SharesFilled, s.Shares)
	}
	if e.SharesFilled.LessThan(s.SharesFilled) {
		return s, fmt.Errorf("%w: %s after %s", ErrFillDecreased, e.SharesFilled, s.SharesFilled)
	}
	s.Status, s.SharesFilled, s.AvgPrice, s.PartiallyFilledAt = StatusPartiallyFilled, e.SharesFilled, e.AvgPrice, e.PartiallyFilledAt
	return s, nil
}

func (s State) fill(e Filled) (State, error) {
	if err := s.filling(); err != nil {
		return s, err
	}
	if err := errors.Join(checkPrice("price", e.Price), checkTime("filled_at", e.FilledAt)); err != nil {
		return s, err
	}
	s.Status, s.SharesFilled, s.Price, s.FilledAt = StatusFilled, s.Shares, e.Price, e.FilledAt
	return s, nil
}

func (s State) fail(e Failed) (State, error) {
	if s.Status.Terminal() {
		return s, ErrAlreadyCompleted
	}
	if err := errors.Join(checkText("error", e.Error), checkTime("failed_at", e.FailedAt)); err != nil {
		return s, err
	}
	s.Status, s.Error, s.FailedAt = StatusFailed, e.Error, e.FailedAt
	return s, nil
}
