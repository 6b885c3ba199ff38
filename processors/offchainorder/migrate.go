package offchainorder

import (
	"errors"
	"fmt"
)

// migrated maps a legacy row to its state. Every time the order reached is
// executed_at, or migrated_at when the row had none, so placed_at <=
// submitted_at <= filled_at holds (upstream used migrated_at for placed_at
// and submitted_at, which put them after filled_at). A Failed row with a
// broker order id was submitted, so it gets submitted_at too.
func migrated(e Migrated) (State, error) {
	err := errors.Join(
		checkOrder(e.Symbol, e.Shares, e.Direction, e.Broker),
		checkTime("migrated_at", e.MigratedAt),
		e.checkStatusFields(),
	)
	if e.ExecutedAt != nil {
		err = errors.Join(err, checkTime("executed_at", *e.ExecutedAt))
	}
	if e.BrokerOrderID != nil {
		err = errors.Join(err, checkText("broker_order_id", *e.BrokerOrderID))
	}
	if e.Price != nil {
		err = errors.Join(err, checkPrice("price", *e.Price))
	}
	if err != nil {
		return State{}, err
	}
	at := e.MigratedAt
	if e.ExecutedAt != nil {
		at = *e.ExecutedAt
	}
	s := State{
		Status: e.Status, Symbol: e.Symbol, Shares: e.Shares,
		Direction: e.Direction, Broker: e.Broker, PlacedAt: at,
	}
	if e.BrokerOrderID != nil {
		s.BrokerOrderID, s.SubmittedAt = *e.BrokerOrderID, at
	}
	switch e.Status {
	case StatusFilled:
		s.SharesFilled, s.Price, s.FilledAt = e.Shares, *e.Price, at
	case StatusFailed:
		s.Error, s.FailedAt = e.Error, at
	}
	return s, nil
}

// checkStatusFields enforces which optional fields each legacy status
// carries (the legacy table's CHECK constraint, made strict).
func (e Migrated) checkStatusFields() error {
	has := func(field string, present, want bool, missing error) error {
		switch {
		case present && !want:
			return fieldErr(field, fmt.Errorf("not allowed for status %s", e.Status))
		case !present && want:
			return missing
		}
		return nil
	}
	id, price, msg := e.BrokerOrderID != nil, e.Price != nil, e.Error != ""
	switch e.Status {
	case StatusPending:
		return errors.Join(has("broker_order_id", id, false, nil), has("price", price, false, nil), has("error", msg, false, nil))
	case StatusSubmitted:
		return errors.Join(has("broker_order_id", id, true, ErrMissingBrokerOrderID), has("price", price, false, nil), has("error", msg, false, nil))
	case StatusFilled:
		return errors.Join(has("broker_order_id", id, true, ErrMissingBrokerOrderID), has("price", price, true, ErrMissingPrice), has("error", msg, false, nil))
	case StatusFailed:
		return errors.Join(has("price", price, false, nil), checkText("error", e.Error))
	}
	return fieldErr("status", fmt.Errorf("%q is not Pending, Submitted, Filled or Failed", e.Status))
}
