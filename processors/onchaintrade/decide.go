package onchaintrade

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Decide turns a command into events. Times are m.At and the command's
// block timestamp, both in UTC; nothing else is read.
func Decide(l aggregate.Lifecycle[State], c aggregate.Command, m aggregate.Meta) ([]aggregate.Event, error) {
	if m.At.IsZero() {
		return nil, ErrMissingTime
	}
	switch c := c.(type) {
	case Witness:
		return witness(l, c, m)
	case Enrich:
		return enrich(l, c, m)
	case Migrate:
		return migrate(l, c, m)
	case Revert:
		return revert(l, c, m)
	}
	return nil, fmt.Errorf("%w %T", ErrUnknownCommand, c)
}

// checkGenesis maps "already initialized" to the duplicate guard.
func checkGenesis(l aggregate.Lifecycle[State]) error {
	err := l.CheckGenesis()
	if errors.Is(err, aggregate.ErrAlreadyInitialized) {
		return ErrAlreadyFilled
	}
	return err
}

// witness records the fill, or records it again on a reverted trade: the
// same transaction mined in the canonical chain after a reorg (at any block,
// with whatever amounts it had there).
func witness(l aggregate.Lifecycle[State], c Witness, m aggregate.Meta) ([]aggregate.Event, error) {
	again := l.Status == aggregate.Live && l.State.Reverted()
	if !again {
		if err := checkGenesis(l); err != nil {
			return nil, err
		}
	}
	tid, sym, err := fill(c).check(true)
	if err != nil {
		return nil, err
	}
	if again && tid != l.State.TradeID {
		return nil, fieldErr("trade_id", fmt.Errorf("%s is not this trade (%s)", tid, l.State.TradeID))
	}
	e := Filled{
		TradeID: tid, Symbol: c.Symbol, BaseSymbol: sym.Base,
		Amount: c.Amount, Direction: c.Direction, PriceUSDC: c.PriceUSDC,
		BlockNumber: c.BlockNumber, BlockTimestamp: utc(c.BlockTimestamp),
		FilledAt: utc(m.At),
	}
	if again {
		return emit(e, func() error { _, err := l.State.refill(e, l.Version+1); return err })
	}
	return emit(e, func() error { _, err := fromFilled(e); return err })
}

func enrich(l aggregate.Lifecycle[State], c Enrich, m aggregate.Meta) ([]aggregate.Event, error) {
	if err := l.Check(); err != nil {
		if errors.Is(err, aggregate.ErrUninitialized) {
			return nil, ErrNotFilled
		}
		return nil, err
	}
	if l.State.Reverted() {
		return nil, ErrReverted
	}
	e := Enriched{
		GasUsed: c.GasUsed, EffectiveGasPrice: c.EffectiveGasPrice,
		PythPrice: pythUTC(c.PythPrice), ETHUSDPrice: pythUTC(c.ETHUSDPrice), EnrichedAt: utc(m.At),
	}
	return emit(e, func() error { _, err := l.State.enrich(e); return err })
}

func migrate(l aggregate.Lifecycle[State], c Migrate, m aggregate.Meta) ([]aggregate.Event, error) {
	if err := checkGenesis(l); err != nil {
		return nil, err
	}
	f := fill{c.TradeID, c.Symbol, c.Amount, c.Direction, c.PriceUSDC, c.BlockNumber, c.BlockTimestamp}
	tid, sym, err := f.check(false)
	if err != nil {
		return nil, err
	}
	e := Migrated{
		TradeID: tid, Symbol: c.Symbol, BaseSymbol: sym.Base,
		Amount: c.Amount, Direction: c.Direction, PriceUSDC: c.PriceUSDC,
		BlockNumber: c.BlockNumber, BlockTimestamp: utc(c.BlockTimestamp),
		GasUsed: copyGas(c.GasUsed), EffectiveGasPrice: copyGas(c.EffectiveGasPrice),
		PythPrice: pythUTC(c.PythPrice), MigratedAt: utc(m.At),
	}
	return emit(e, func() error { _, err := fromMigrated(e); return err })
}

// revert withdraws the current fill. The lifecycle and the repeat guard
// come before the fields, as for Witness.
func revert(l aggregate.Lifecycle[State], c Revert, m aggregate.Meta) ([]aggregate.Event, error) {
	if err := l.Check(); err != nil {
		if errors.Is(err, aggregate.ErrUninitialized) {
			return nil, fmt.Errorf("%w: nothing to revert", ErrNotFilled)
		}
		return nil, err
	}
	s := l.State
	if s.Reverted() {
		return nil, fmt.Errorf("%w: %s (block %d) was reverted at %s (%s)", ErrAlreadyReverted,
			s.TradeID, s.BlockNumber, s.Reversal.RevertedAt.Format(time.RFC3339), s.Reversal.Reason)
	}
	if err := c.check(s); err != nil {
		return nil, err
	}
	e := Reverted{
		TradeID: s.TradeID, Symbol: s.Symbol, BaseSymbol: s.BaseSymbol,
		Amount: s.Amount, Direction: s.Direction, PriceUSDC: s.PriceUSDC,
		BlockNumber: s.BlockNumber, BlockTimestamp: s.BlockTimestamp,
		FillSequence: s.fillSequence(), Reason: c.Reason, ForkBlock: c.ForkBlock,
		ForkHash: strings.ToLower(c.ForkHash), RevertedAt: utc(m.At),
	}
	return emit(e, func() error { _, err := s.revert(e); return err })
}

// emit returns e after checking that Evolve will accept it, so Decide never
// records an event that would fail the aggregate.
func emit(e aggregate.Event, accept func() error) ([]aggregate.Event, error) {
	if err := accept(); err != nil {
		return nil, err
	}
	return []aggregate.Event{e}, nil
}
