package position

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/market"
)

// Domain rule violations. Typed errors below wrap the sentinel they refine,
// so callers can use errors.Is for the rule and errors.As for the details.
var (
	// ErrInvalidCommand wraps every malformed command field.
	ErrInvalidCommand      = errors.New("invalid command")
	ErrSymbolMismatch      = errors.New("symbol does not match the position")
	ErrDuplicateTrade      = errors.New("on-chain fill already applied or out of chain order")
	ErrPendingExecution    = errors.New("a hedge is already pending")
	ErrNoPendingExecution  = errors.New("no hedge is pending")
	ErrExecutionIDMismatch = errors.New("execution id does not match the pending hedge")
	ErrDirectionMismatch   = errors.New("direction does not match the pending hedge")
	ErrExceedsPending      = errors.New("shares filled exceed the pending hedge")
	ErrNoExposure          = errors.New("position has no exposure to hedge")
	ErrWrongDirection      = errors.New("direction would increase the exposure")
	ErrExceedsNet          = errors.New("shares exceed the net exposure")
	ErrFractionalShares    = errors.New("execution accepts whole shares only")
	ErrBrokerMismatch      = errors.New("broker is not the position's broker")
	// ErrFillNotApplied refuses a revert of a fill the position does not
	// hold: never applied, or settled (outside the revert window).
	ErrFillNotApplied = errors.New("on-chain fill is not applied")
	// ErrFillAlreadyReverted refuses a second revert of the same fill.
	ErrFillAlreadyReverted = errors.New("on-chain fill already reverted")
	// ErrRevertMismatch refuses a revert that does not repeat the fill.
	ErrRevertMismatch = errors.New("revert does not match the applied fill")
	// ErrNotMigrated refuses legacy history for a position Migrate did not
	// open.
	ErrNotMigrated = errors.New("position was not migrated")
	// ErrHistoryAfterLiveFill refuses legacy history once a live fill is
	// applied: it cannot be inserted behind it in the FIFO.
	ErrHistoryAfterLiveFill = errors.New("legacy history after a live fill")
)

// FillNotAppliedError says why a reverted fill is not one the position
// holds.
type FillNotAppliedError struct {
	TradeID      market.TradeID
	BlockNumber  uint64
	FillSequence uint64
	Reason       string
}

func (e *FillNotAppliedError) Error() string {
	return fmt.Sprintf("revert of trade %s (block %d, fill sequence %d): not applied: %s",
		e.TradeID, e.BlockNumber, e.FillSequence, e.Reason)
}

func (e *FillNotAppliedError) Unwrap() error { return ErrFillNotApplied }

// DuplicateTradeError rejects an on-chain fill at or below the watermark.
type DuplicateTradeError struct {
	TradeID     market.TradeID
	BlockNumber uint64
	Watermark   FillMark
}

func (e *DuplicateTradeError) Error() string {
	msg := fmt.Sprintf("trade %s (block %d, log %d) already applied or out of chain order: position has applied up to block %d, log %d",
		e.TradeID, e.BlockNumber, e.TradeID.LogIndex, e.Watermark.BlockNumber, e.Watermark.LogIndex)
	if e.Watermark.TradeID.TxHash != "" { // a watermark moved back by a revert has none
		msg += " (trade " + e.Watermark.TradeID.String() + ")"
	}
	return msg
}

func (e *DuplicateTradeError) Unwrap() error { return ErrDuplicateTrade }

// PendingExecutionError rejects a second hedge while one is in flight.
type PendingExecutionError struct{ ExecutionID string }

func (e *PendingExecutionError) Error() string {
	return "a hedge is already pending: execution " + e.ExecutionID
}

func (e *PendingExecutionError) Unwrap() error { return ErrPendingExecution }

// ExecutionIDMismatchError rejects an outcome for another execution than the
// pending one (a late or misrouted broker report).
type ExecutionIDMismatchError struct{ Expected, Actual string }

func (e *ExecutionIDMismatchError) Error() string {
	return fmt.Sprintf("execution id mismatch: pending %s, got %s", e.Expected, e.Actual)
}

func (e *ExecutionIDMismatchError) Unwrap() error { return ErrExecutionIDMismatch }

// invalid names the offending command field.
func invalid(field string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidCommand, field, err)
}
