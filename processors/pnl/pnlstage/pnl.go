// Package pnlstage is the PnL feature's stage: it folds the Position
// aggregate's events into the FIFO book of processors/pnl and emits a
// record per fill to pnl.events. processors/pnl stays the pure book; the
// stage (its group, state record and gap rule) is here. It runs fused into
// the position stage (processors/position/positionstage).
package pnlstage

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// Group is the PnL stage's goka group.
const Group = "pnl"

// Stage computes FIFO realized PnL per base symbol from the position's own
// event order, both venues in one book, and emits one record per fill to
// pnl.events (and one per reverted fill, flagged revert). Events are applied strictly in sequence order (gapRule):
// a repeat is skipped, and an event beyond a gap (the broker lost an
// earlier one, which is re-published later) waits in the state until the
// gap is filled, instead of being applied ahead of it.
func Stage() runner.Stage[State] {
	return runner.Stage[State]{
		Group:   Group,
		Input:   topics.PositionEvents,
		Outputs: []string{topics.PnLEvents, topics.PositionRejections},
		Reject:  runner.Rejecter(topics.Position, Group),
		Handle:  handlePnL,
	}
}

// State is the PnL stage's state per symbol: the book, and the position
// events that arrived beyond a gap, by sequence, waiting for it.
type State struct {
	pnl.Book
	Parked map[uint64][]byte `json:"parked,omitempty"`
}

func (st *State) cursor() runner.Cursor {
	return runner.Cursor{Last: &st.Book.LastSequence, Parked: &st.Parked}
}

var handlePnL = runner.FoldEvents(runner.Rejecter(topics.Position, Group), (*State).cursor,
	func(st State, in runner.Input, ev runner.Event) (State, []runner.Output, error) {
		next, out, err := applyPnL(st.Book, in, ev)
		st.Book = next
		return st, out, err
	})

// applyPnL applies one position event, the next in sequence, to the book.
func applyPnL(book pnl.Book, in runner.Input, env runner.Event) (pnl.Book, []runner.Output, error) {
	bad := func(err error) (pnl.Book, []runner.Output, error) {
		// Recorded and skipped; the sequence still advances so the rest
		// of the stream is processed.
		book.LastSequence = env.Sequence
		o, rerr := runner.StageRejection(topics.Position, Group, in, err)
		return book, []runner.Output{o}, rerr
	}
	ev, err := runner.TypedEvent(env, position.Events)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	if book.Symbol == "" {
		sym, err := market.NewSymbol(env.AggregateID)
		if err != nil {
			return bad(fmt.Errorf("event %s: position id: %w", env.ID(), err))
		}
		last := book.LastSequence
		book = pnl.NewBook(sym)
		book.LastSequence = last
	}
	fill, ok, err := FillOf(ev)
	switch {
	case err != nil:
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	case !ok:
		book.LastSequence = env.Sequence
		return book, nil, nil
	}
	fill.Sequence = env.Sequence
	next, rec, err := book.Apply(fill)
	if err != nil {
		if errors.Is(err, pnl.ErrInvalidBook) {
			return book, nil, fmt.Errorf("pnl book of %s: %w", book.Symbol, err)
		}
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return book, nil, fmt.Errorf("encode pnl record: %w", err)
	}
	return next, []runner.Output{{Topic: topics.PnLEvents, Key: string(book.Symbol), Value: b}}, nil
}

// FillOf is the fill a position event books, if any (ok false: the event
// books none). Both venues go into one book; a MigratedFillRecorded is a
// migrated position's legacy history, booked in its legacy order ahead of
// the live fills that continue the same book (docs/migration.md).
func FillOf(ev aggregate.Event) (fill pnl.Fill, ok bool, err error) {
	switch e := ev.(type) {
	case position.OnChainOrderFilled:
		return pnl.Fill{Venue: pnl.Onchain, Direction: e.Direction, Quantity: e.Amount, Price: e.PriceUSDC, OccurredAt: e.BlockTimestamp}, true, nil
	case position.OffChainOrderFilled:
		return pnl.Fill{Venue: pnl.Offchain, Direction: e.Direction, Quantity: e.SharesFilled, Price: e.Price, OccurredAt: e.BrokerTimestamp}, true, nil
	case position.MigratedFillRecorded:
		v, err := pnl.ParseVenue(e.Venue)
		if err != nil {
			return fill, false, fmt.Errorf("migrated fill %s: %w", e.SourceID, err)
		}
		return pnl.Fill{Venue: v, Direction: e.Direction, Quantity: e.Amount, Price: e.PriceUSDC, OccurredAt: e.At}, true, nil
	case position.OnChainFillReverted:
		// Booked as the reverted fill's opposite at its price, when the
		// position withdrew it (docs/design.md, "Reorgs").
		return pnl.Revert(pnl.Fill{Venue: pnl.Onchain, Direction: e.Direction, Quantity: e.Amount, Price: e.PriceUSDC, OccurredAt: e.RevertedAt}), true, nil
	}
	return fill, false, nil
}
