package onchaintrade

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Evolve applies one event. Filled and Migrated are genesis events (on a
// live trade they fail it); Enriched is the only transition and fails the
// trade if it is already enriched. Every event is re-validated.
func Evolve(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	switch e := e.(type) {
	case Filled:
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return fromFilled(e) })
	case Migrated:
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return fromMigrated(e) })
	case Enriched:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.enrich(e) })
	}
	return unknown(l, e)
}

// unknown fails the trade, whatever its status, for an event it cannot
// apply (a pointer, or another aggregate's event).
func unknown(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	name := fmt.Sprintf("%T", e)
	err := fmt.Errorf("%w %s", ErrUnknownEvent, name)
	if l.Status == aggregate.Uninitialized {
		return aggregate.Genesis(l, name, func() (State, error) { return State{}, err })
	}
	return aggregate.Transition(l, name, func(s State) (State, error) { return s, err })
}

func fromFilled(e Filled) (State, error) {
	f := fill{e.TradeID, e.Symbol, e.Amount, e.Direction, e.PriceUSDC, e.BlockNumber, e.BlockTimestamp}
	if err := f.checkEvent(true, e.BaseSymbol); err != nil {
		return State{}, err
	}
	if e.FilledAt.IsZero() {
		return State{}, fieldErr("filled_at", errors.New("must be set"))
	}
	return State{
		TradeID: e.TradeID, Symbol: e.Symbol, BaseSymbol: e.BaseSymbol,
		Amount: e.Amount, Direction: e.Direction, PriceUSDC: e.PriceUSDC,
		BlockNumber: e.BlockNumber, BlockTimestamp: e.BlockTimestamp,
		FilledAt: e.FilledAt,
	}, nil
}

// fromMigrated gives an enriched trade iff both gas and Pyth data were
// migrated; filled_at is the block timestamp.
func fromMigrated(e Migrated) (State, error) {
	f := fill{e.TradeID, e.Symbol, e.Amount, e.Direction, e.PriceUSDC, e.BlockNumber, e.BlockTimestamp}
	err := f.checkEvent(false, e.BaseSymbol)
	if e.GasUsed != nil {
		err = errors.Join(err, checkGas("gas_used", *e.GasUsed))
	}
	err = errors.Join(err, checkPyth(e.PythPrice))
	if e.MigratedAt.IsZero() {
		err = errors.Join(err, fieldErr("migrated_at", errors.New("must be set")))
	}
	if err != nil {
		return State{}, err
	}
	s := State{
		TradeID: e.TradeID, Symbol: e.Symbol, BaseSymbol: e.BaseSymbol,
		Amount: e.Amount, Direction: e.Direction, PriceUSDC: e.PriceUSDC,
		BlockNumber: e.BlockNumber, BlockTimestamp: e.BlockTimestamp,
		FilledAt: e.BlockTimestamp,
	}
	if e.GasUsed != nil && e.PythPrice != nil {
		s.Enrichment = &Enrichment{GasUsed: *e.GasUsed, PythPrice: e.PythPrice, EnrichedAt: e.MigratedAt}
	}
	return s, nil
}

func (s State) enrich(e Enriched) (State, error) {
	if s.Enrichment != nil {
		return s, ErrAlreadyEnriched
	}
	err := errors.Join(
		checkGas("gas_used", e.GasUsed),
		checkGas("effective_gas_price", e.EffectiveGasPrice),
		checkPyth(e.PythPrice),
	)
	if e.EnrichedAt.IsZero() {
		err = errors.Join(err, fieldErr("enriched_at", errors.New("must be set")))
	}
	if err != nil {
		return s, err
	}
	price := e.EffectiveGasPrice
	s.Enrichment = &Enrichment{
		GasUsed: e.GasUsed, EffectiveGasPrice: &price,
		PythPrice: e.PythPrice, EnrichedAt: e.EnrichedAt,
	}
	return s, nil
}
