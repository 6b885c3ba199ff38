package position

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
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
		return migratedState(e)
	case MigratedFillRecorded:
		return s.migratedFillRecorded(e)
	case OnChainOrderFilled:
		return s.onChainFilled(e)
	case OnChainFillReverted:
		return s.onChainReverted(e)
	case OffChainOrderPlaced:
		return s.placed(e)
	case OffChainOrderFilled:
		return s.offChainFilled(e)
	case OffChainOrderFailed:
		if err := s.checkPending(e.ExecutionID); err != nil {
			return s, err
		}
		if p := s.Pending; p.Reserved {
			// The legacy net counted this hedge as done: give its shares back.
			var err error
			back := p.Direction.Signed(p.Shares).Neg()
			if s.Net, err = market.Add(s.Net, back); err != nil {
				return s, err
			}
			if s.HedgedShares, err = market.Add(s.HedgedShares, back); err != nil {
				return s, err
			}
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

func migratedState(e Migrated) (State, error) {
	s, err := open(State{Symbol: e.Symbol, Net: e.NetPosition, AccumulatedLong: e.AccumulatedLong,
		AccumulatedShort: e.AccumulatedShort, Threshold: e.Threshold, Execution: e.Execution, LastUpdated: e.MigratedAt,
		Migrated: true})
	if err != nil || e.Pending == nil {
		return s, err
	}
	p := e.Pending
	if p.ExecutionID == "" || !p.Shares.IsPositive() || !p.Direction.Valid() {
		return s, fmt.Errorf("invalid migrated pending hedge %q: %s %s", p.ExecutionID, p.Direction, p.Shares)
	}
	s.Pending = &Pending{ExecutionID: p.ExecutionID, Shares: p.Shares, Direction: p.Direction, PlacedAt: e.MigratedAt,
		Reserved: true}
	return s, nil
}

// migratedFillRecorded moves only the history mark.
func (s State) migratedFillRecorded(e MigratedFillRecorded) (State, error) {
	switch {
	case !s.Migrated:
		return s, fmt.Errorf("%w: %s", ErrNotMigrated, s.Symbol)
	case s.Live:
		return s, fmt.Errorf("%w: %s %s on %s", ErrHistoryAfterLiveFill, e.Venue, e.SourceID, s.Symbol)
	case e.Symbol != s.Symbol:
		return s, fmt.Errorf("%w: history for %s on position %s", ErrSymbolMismatch, e.Symbol, s.Symbol)
	case s.History.recorded(e.Venue, e.SourceID, e.At):
		return s, fmt.Errorf("legacy fill %s %s at %s already recorded", e.Venue, e.SourceID, e.At)
	}
	h := HistoryMark{At: e.At}
	if s.History != nil {
		h.Count = s.History.Count
		if s.History.At.Equal(e.At) {
			h.Keys = slices.Clone(s.History.Keys)
		}
	}
	h.Keys, h.Count = append(h.Keys, historyKey(e.Venue, e.SourceID)), h.Count+1
	s.History = &h
	if e.Venue == VenueOnChain {
		// The last on-chain price is what a dollar threshold and the
		// dry-run broker value the position at; a migrated position has it
		// from its newest legacy fill, as if the bot had never been switched.
		price := e.PriceUSDC
		s.LastPriceUSDC = &price
	}
	return s, nil
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
	s.Live = true
	if !s.holdsLiveFill() {
		// Every fill in the window is reverted (or there is none yet, or
		// the state predates the window): the watermark is settled.
		s.Settled = s.LastFill
	}
	s.Revertible = s.pushRevertible(AppliedFill{BlockNumber: mark.BlockNumber, LogIndex: mark.LogIndex,
		Digest: fillDigest(e.TradeID, e.FillSequence, e.Direction, e.Amount, e.PriceUSDC)})
	s.LastPriceUSDC, s.LastFill, s.LastUpdated = &price, &mark, e.SeenAt
	return s, nil
}

// pushRevertible appends f to a copy of the window (states are values that
// Decide and Evolve both fold) and drops what leaves it, keeping Settled.
func (s *State) pushRevertible(f AppliedFill) []AppliedFill {
	w := make([]AppliedFill, 0, min(len(s.Revertible)+1, RevertWindowFills+1))
	from := 0
	for i, old := range s.Revertible {
		if len(s.Revertible)+1-i <= RevertWindowFills && old.BlockNumber+RevertWindowBlocks >= f.BlockNumber {
			break
		}
		if !old.Reverted {
			m := old.mark()
			s.Settled = &m
		}
		from = i + 1
	}
	w = append(w, s.Revertible[from:]...)
	return append(w, f)
}

func (s State) holdsLiveFill() bool {
	for _, f := range s.Revertible {
		if !f.Reverted {
			return true
		}
	}
	return false
}

// onChainReverted withdraws the window's fill that e repeats.
func (s State) onChainReverted(e OnChainFillReverted) (State, error) {
	i, err := s.findRevertible(e)
	if err != nil {
		return s, err
	}
	if e.RevertedAt.IsZero() || e.Reason == "" {
		return s, errors.New("invalid revert: reason and reverted_at are required")
	}
	var err2 error
	if s.Net, err2 = market.Sub(s.Net, e.Direction.Signed(e.Amount)); err2 != nil {
		return s, err2
	}
	if e.Direction == market.Buy {
		s.AccumulatedLong = s.AccumulatedLong.Sub(e.Amount)
	} else {
		s.AccumulatedShort = s.AccumulatedShort.Sub(e.Amount)
	}
	w := append([]AppliedFill(nil), s.Revertible...)
	w[i].Reverted = true
	s.Revertible, s.LastFill = w, s.Settled
	for j := len(w) - 1; j >= 0; j-- {
		if !w[j].Reverted {
			m := w[j].mark()
			s.LastFill = &m
			break
		}
	}
	s.LastUpdated = e.RevertedAt
	return s, nil
}

// findRevertible is the index of the window's fill e repeats (same place
// in chain order, same digest), or why there is none.
func (s State) findRevertible(e OnChainFillReverted) (int, error) {
	mark := FillMark{BlockNumber: e.BlockNumber, LogIndex: e.TradeID.LogIndex}
	digest := fillDigest(e.TradeID, e.FillSequence, e.Direction, e.Amount, e.PriceUSDC)
	other := false
	for i := len(s.Revertible) - 1; i >= 0; i-- {
		f := s.Revertible[i]
		if f.mark() != mark {
			continue
		}
		if f.Digest != digest {
			other = true
			continue
		}
		if f.Reverted {
			return -1, fmt.Errorf("%w: trade %s (block %d, fill sequence %d)", ErrFillAlreadyReverted,
				e.TradeID, e.BlockNumber, fillSeq(e.FillSequence))
		}
		return i, nil
	}
	if other {
		return -1, fmt.Errorf("%w: the fill applied at block %d, log %d is not trade %s (fill sequence %d) %s %s at %s",
			ErrRevertMismatch, e.BlockNumber, e.TradeID.LogIndex, e.TradeID, fillSeq(e.FillSequence), e.Direction, e.Amount, e.PriceUSDC)
	}
	notApplied := func(why string) error {
		return &FillNotAppliedError{TradeID: e.TradeID, BlockNumber: e.BlockNumber, FillSequence: fillSeq(e.FillSequence), Reason: why}
	}
	if s.LastFill == nil || s.LastFill.Before(mark) {
		return -1, notApplied("it is beyond every applied fill")
	}
	return -1, notApplied(fmt.Sprintf("it is not among the position's revertible fills (the last %d applied, within %d blocks): "+
		"it was refused when it came, or it is settled", RevertWindowFills, RevertWindowBlocks))
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
	// A reserved hedge is already in the migrated net, whole: its fill
	// moves net only by the shares it left unfilled, which go back.
	moved := e.Direction.Signed(e.SharesFilled)
	if p.Reserved {
		moved = e.Direction.Signed(p.Shares.Sub(e.SharesFilled)).Neg()
	}
	var err error
	if s.Net, err = market.Add(s.Net, moved); err != nil {
		return s, err
	}
	if s.HedgedShares, err = market.Add(s.HedgedShares, moved); err != nil {
		return s, err
	}
	s.Pending, s.Live, s.LastUpdated = nil, true, e.BrokerTimestamp
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
