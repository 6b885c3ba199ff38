package position

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/market"
	"github.com/shopspring/decimal"
)

// Evolve applies one event. A broken invariant (an overflow, a hedge outcome
// for an execution that is not pending, a second pending hedge, a fill below
// the watermark) fails the lifecycle instead of corrupting the state.
func Evolve(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	name := fmt.Sprintf("%T", e)
	if e != nil {
		name = e.EventType()
	}
	if isGenesis(e) {
		return aggregate.Genesis(l, name, func() (State, error) { return next(State{}, e) })
	}
	return aggregate.Transition(l, name, func(s State) (State, error) { return next(s, e) })
}

func isGenesis(e aggregate.Event) bool {
	switch e.(type) {
	case Initialized, Migrated:
		return true
	}
	return false
}

// next is the state after e. Evolve wraps it in the lifecycle; Decide folds
// with it directly so that a rule violation or an overflow keeps its type
// and rejects the command.
func next(s State, e aggregate.Event) (State, error) {
	switch e := e.(type) {
	case Initialized:
		return open(State{Symbol: e.Symbol, Threshold: e.Threshold, Execution: e.Execution, LastUpdated: e.InitializedAt})
	case Migrated:
		return open(State{Symbol: e.Symbol, Net: e.NetPosition, AccumulatedLong: e.AccumulatedLong,
			AccumulatedShort: e.AccumulatedShort, Threshold: e.Threshold, Execution: e.Execution, LastUpdated: e.MigratedAt})
	case OnChainOrderFilled:
		return s.onChainFilled(e)
	case OffChainOrderPlaced:
		return s.placed(e)
	case OffChainOrderFilled:
		return s.offChainFilled(e)
	case OffChainOrderFailed:
		if err := s.checkPending(e.ExecutionID); err != nil {
			return s, err
		}
		s.Pending, s.LastUpdated = nil, e.FailedAt
		return s, nil
	case ThresholdUpdated:
		if err := e.NewThreshold.Validate(); err != nil {
			return s, err
		}
		s.Threshold, s.LastUpdated = e.NewThreshold, e.UpdatedAt
		return s, nil
	}
	return s, fmt.Errorf("unknown event %T", e)
}

// open checks a new position. A valid threshold also keeps the state's JSON
// decodable: market.Threshold rejects the empty value.
func open(s State) (State, error) {
	if _, err := market.NewSymbol(string(s.Symbol)); err != nil {
		return s, err
	}
	if s.AccumulatedLong.IsNegative() || s.AccumulatedShort.IsNegative() {
		return s, errors.New("gross volume must not be negative")
	}
	for _, v := range []decimal.Decimal{s.Net, s.AccumulatedLong, s.AccumulatedShort} {
		if err := market.CheckAmount(v); err != nil {
			return s, err
		}
	}
	return s, s.Threshold.Validate()
}

func (s State) onChainFilled(e OnChainOrderFilled) (State, error) {
	if !e.Amount.IsPositive() || !e.Direction.Valid() {
		return s, fmt.Errorf("invalid on-chain fill: %s %s", e.Direction, e.Amount)
	}
	mark := FillMark{BlockNumber: e.BlockNumber, LogIndex: e.TradeID.LogIndex, TradeID: e.TradeID}
	if s.LastFill != nil && !s.LastFill.Before(mark) {
		return s, &DuplicateTradeError{TradeID: e.TradeID, BlockNumber: e.BlockNumber, Watermark: *s.LastFill}
	}
	var err error
	if s.Net, err = market.Add(s.Net, e.Direction.Signed(e.Amount)); err != nil {
		return s, err
	}
	if e.Direction == market.Buy {
		s.AccumulatedLong, err = market.Add(s.AccumulatedLong, e.Amount)
	} else {
		s.AccumulatedShort, err = market.Add(s.AccumulatedShort, e.Amount)
	}
	if err != nil {
		return s, err
	}
	price := e.PriceUSDC
	s.LastPriceUSDC, s.LastFill, s.LastUpdated = &price, &mark, e.SeenAt
	return s, nil
}

func (s State) placed(e OffChainOrderPlaced) (State, error) {
	if s.Pending != nil {
		return s, &PendingExecutionError{ExecutionID: s.Pending.ExecutionID}
	}
	if e.Symbol != s.Symbol {
		return s, fmt.Errorf("%w: hedge for %s on position %s", ErrSymbolMismatch, e.Symbol, s.Symbol)
	}
	if e.ExecutionID == "" || !e.Shares.IsPositive() || !e.Direction.Valid() {
		return s, fmt.Errorf("invalid hedge %q: %s %s", e.ExecutionID, e.Direction, e.Shares)
	}
	s.Pending = &Pending{ExecutionID: e.ExecutionID, Shares: e.Shares, Direction: e.Direction, PlacedAt: e.PlacedAt}
	s.LastUpdated = e.PlacedAt
	return s, nil
}

func (s State) offChainFilled(e OffChainOrderFilled) (State, error) {
	if err := s.checkPending(e.ExecutionID); err != nil {
		return s, err
	}
	p := s.Pending
	switch {
	case e.Direction != p.Direction:
		return s, fmt.Errorf("%w: pending %s, filled %s", ErrDirectionMismatch, p.Direction, e.Direction)
	case !e.SharesFilled.IsPositive():
		return s, fmt.Errorf("shares filled must be positive, got %s", e.SharesFilled)
	case e.SharesFilled.GreaterThan(p.Shares):
		return s, fmt.Errorf("%w: pending %s, filled %s", ErrExceedsPending, p.Shares, e.SharesFilled)
	}
	signed := e.Direction.Signed(e.SharesFilled)
	var err error
	if s.Net, err = market.Add(s.Net, signed); err != nil {
		return s, err
	}
	if s.HedgedShares, err = market.Add(s.HedgedShares, signed); err != nil {
		return s, err
	}
	s.Pending, s.LastUpdated = nil, e.BrokerTimestamp
	return s, nil
}

// checkPending matches a hedge outcome with the pending execution.
func (s State) checkPending(id string) error {
	switch {
	case s.Pending == nil:
		return fmt.Errorf("%w: got outcome for %s", ErrNoPendingExecution, id)
	case s.Pending.ExecutionID != id:
		return &ExecutionIDMismatchError{Expected: s.Pending.ExecutionID, Actual: id}
	}
	return nil
}
