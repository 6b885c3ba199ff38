package onchaintrade

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Evolve applies one event. Filled and Migrated are genesis events (on a
// live trade they fail it), except that Filled on a reverted trade records
// the fill again; Enriched fails the trade if it is already enriched or
// reverted, Reverted if it is already reverted or does not repeat the
// current fill. Every event is re-validated.
func Evolve(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	switch e := e.(type) {
	case Filled:
		if l.Status == aggregate.Live && l.State.Reverted() {
			seq := l.Version + 1
			return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.refill(e, seq) })
		}
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return fromFilled(e) })
	case Migrated:
		return aggregate.Genesis(l, e.EventType(), func() (State, error) { return fromMigrated(e) })
	case Enriched:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.enrich(e) })
	case Reverted:
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) { return s.revert(e) })
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
	if e.EffectiveGasPrice != nil {
		err = errors.Join(err, checkGas("effective_gas_price", *e.EffectiveGasPrice))
		if e.GasUsed == nil {
			err = errors.Join(err, fieldErr("effective_gas_price", errors.New("given without gas_used")))
		}
	}
	err = errors.Join(err, checkPyth("pyth_price", e.PythPrice))
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
		s.Enrichment = &Enrichment{GasUsed: *e.GasUsed, EffectiveGasPrice: copyGas(e.EffectiveGasPrice),
			PythPrice: e.PythPrice, EnrichedAt: e.MigratedAt}
	}
	return s, nil
}

// refill is the state after a fill witnessed again, at sequence seq: a new
// fill of the same trade id, with no enrichment (its receipt is new).
func (s State) refill(e Filled, seq uint64) (State, error) {
	if !s.Reverted() {
		return s, ErrAlreadyFilled
	}
	if e.TradeID != s.TradeID {
		return s, fieldErr("trade_id", fmt.Errorf("%s is not this trade (%s)", e.TradeID, s.TradeID))
	}
	n, err := fromFilled(e)
	if err != nil {
		return s, err
	}
	n.FillSequence = seq
	return n, nil
}

// revert is the state after Reverted: the fill stays (the views show what
// was withdrawn), marked with its reversal.
func (s State) revert(e Reverted) (State, error) {
	if s.Reverted() {
		return s, ErrAlreadyReverted
	}
	var errs []error
	if e.TradeID != s.TradeID || e.Symbol != s.Symbol || e.BaseSymbol != s.BaseSymbol ||
		!e.Amount.Equal(s.Amount) || e.Direction != s.Direction || !e.PriceUSDC.Equal(s.PriceUSDC) ||
		e.BlockNumber != s.BlockNumber || !e.BlockTimestamp.Equal(s.BlockTimestamp) || e.FillSequence != s.fillSequence() {
		errs = append(errs, fmt.Errorf("reverted fill %s (block %d, fill sequence %d) is not the trade's fill %s (block %d, fill sequence %d)",
			e.TradeID, e.BlockNumber, e.FillSequence, s.TradeID, s.BlockNumber, s.fillSequence()))
	}
	errs = append(errs, checkReason(e.Reason, e.ForkBlock, e.ForkHash, s.BlockNumber))
	if e.RevertedAt.IsZero() {
		errs = append(errs, fieldErr("reverted_at", errors.New("must be set")))
	}
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	s.Reversal = &Reversal{Reason: e.Reason, ForkBlock: e.ForkBlock, ForkHash: e.ForkHash, RevertedAt: e.RevertedAt}
	return s, nil
}

func (s State) enrich(e Enriched) (State, error) {
	if s.Reverted() {
		return s, ErrReverted
	}
	if s.Enrichment != nil {
		return s, ErrAlreadyEnriched
	}
	err := errors.Join(
		checkGas("gas_used", e.GasUsed),
		checkGas("effective_gas_price", e.EffectiveGasPrice),
		checkPyth("pyth_price", e.PythPrice),
		checkPyth("eth_usd_price", e.ETHUSDPrice),
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
		PythPrice: e.PythPrice, ETHUSDPrice: e.ETHUSDPrice, EnrichedAt: e.EnrichedAt,
	}
	return s, nil
}
