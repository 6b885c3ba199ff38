package managers

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/market"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// PnLGroup is the PnL stage's goka group.
const PnLGroup = "pnl"

// PnL computes FIFO realized PnL per base symbol from the position's own
// event order, both venues in one book, and emits one record per fill to
// pnl.events. Events at or below the book's last sequence are duplicates
// (a re-published event) and are skipped.
func PnL() runner.Stage[pnl.Book] {
	return runner.Stage[pnl.Book]{
		Reject:  rejecter(topics.Position, PnLGroup),
		Group:   PnLGroup,
		Inputs:  []string{topics.PositionEvents},
		Outputs: []string{topics.PnLEvents, topics.PositionRejections},
		Handle:  handlePnL,
	}
}

func handlePnL(book pnl.Book, in runner.Input) (pnl.Book, []runner.Output, error) {
	bad := func(err error) (pnl.Book, []runner.Output, error) {
		o, rerr := rejectOut(topics.Position, PnLGroup, in, err)
		return book, []runner.Output{o}, rerr
	}
	env, err := topics.DecodeEnvelope(in.Value)
	if err != nil {
		return bad(fmt.Errorf("undecodable event: %w", err))
	}
	if env.Sequence <= book.LastSequence {
		return book, nil, nil
	}
	ev, err := position.Events.Decode(env.EventType, env.Payload)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", EventID(env), err))
	}
	if book.Symbol == "" {
		sym, err := market.NewSymbol(env.AggregateID)
		if err != nil {
			return bad(fmt.Errorf("event %s: position id: %w", EventID(env), err))
		}
		book = pnl.NewBook(sym)
	}
	var fill pnl.Fill
	switch e := ev.(type) {
	case position.OnChainOrderFilled:
		fill = pnl.Fill{Venue: pnl.Onchain, Direction: e.Direction, Quantity: e.Amount, Price: e.PriceUSDC, OccurredAt: e.BlockTimestamp}
	case position.OffChainOrderFilled:
		fill = pnl.Fill{Venue: pnl.Offchain, Direction: e.Direction, Quantity: e.SharesFilled, Price: e.Price, OccurredAt: e.BrokerTimestamp}
	default:
		book.LastSequence = env.Sequence
		return book, nil, nil
	}
	fill.Sequence = env.Sequence
	next, rec, err := book.Apply(fill)
	if err != nil {
		if errors.Is(err, pnl.ErrInvalidBook) {
			return book, nil, fmt.Errorf("pnl book of %s: %w", book.Symbol, err)
		}
		// A fill the book cannot take is recorded and skipped; the sequence
		// still advances so the rest of the stream is processed.
		book.LastSequence = env.Sequence
		return bad(fmt.Errorf("event %s: %w", EventID(env), err))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return book, nil, fmt.Errorf("encode pnl record: %w", err)
	}
	return next, []runner.Output{{Topic: topics.PnLEvents, Key: string(book.Symbol), Value: b}}, nil
}
