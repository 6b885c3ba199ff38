// Package trademanager is the trade manager feature: the stage that turns
// the OnChainTrade aggregate's events into Position commands (a fill
// acknowledged, a reverted fill withdrawn), the OnChainTrade aggregate
// fused with it as it runs (Stage), and the flow control that keeps its
// commands from starving the position's order outcomes (Backlog).
//
// It lives next to its aggregate but apart from it: processors/onchaintrade
// stays a pure aggregate (docs/aggregates.md), and the Kafka side of the
// feature is here.
package trademanager

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// Config configures positions that a fill opens.
type Config struct {
	Threshold market.Threshold
	Execution market.Execution
	// Backlog, if set, bounds the fills waiting in position.commands so
	// that order outcomes are not queued behind a burst (Backlog).
	Backlog *Backlog
}

// Group is the trade manager's goka group.
const Group = "trade-manager"

// Manager turns every live fill (Filled) into an AcknowledgeOnChainFill
// for the position of its base symbol, and every Reverted fill into a
// RevertOnChainFill. A Migrated trade sends nothing: the migrated
// position's net already counts it, and the migrate tool gives the
// position its history itself (RecordMigratedFill, docs/migration.md).
// onchain-trade topics are partitioned by base symbol, so one partition
// carries a symbol's fills in chain order and the commands reach the
// position in that order. It keeps how far it has read each trade, so a
// Filled event re-published after a crash is not acknowledged twice.
func Manager(cfg Config) runner.Stage[Derived] {
	st := runner.Stage[Derived]{
		Group:   Group,
		Reject:  runner.Rejecter(topics.Position, Group),
		Input:   topics.OnChainTradeEvents,
		Outputs: []string{topics.PositionCommands, topics.PositionRejections},
		Handle: deriving(topics.Position, Group, func(in runner.Input, ev runner.Event) ([]runner.Output, error) {
			return acknowledge(cfg, in, ev)
		}),
	}
	if cfg.Backlog != nil {
		// onchain-trade keys hash by base symbol like position keys, so a
		// fill's command goes to the partition number it came from.
		st.Admit = func(ctx context.Context, in runner.Input) { cfg.Backlog.Admit(ctx, in.Partition) }
	}
	return st
}

func acknowledge(cfg Config, in runner.Input, env runner.Event) ([]runner.Output, error) {
	bad := func(err error) ([]runner.Output, error) {
		o, rerr := runner.StageRejection(topics.Position, Group, in, err)
		return []runner.Output{o}, rerr
	}
	ev, err := runner.TypedEvent(env, onchaintrade.Events)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	var ack position.AcknowledgeOnChainFill
	if e, ok := ev.(onchaintrade.Reverted); ok {
		return revertFill(in, env, e, bad)
	}
	switch e := ev.(type) {
	case onchaintrade.Filled:
		ack = position.AcknowledgeOnChainFill{
			Symbol: e.Symbol, TradeID: e.TradeID, BlockNumber: e.BlockNumber, Amount: e.Amount,
			Direction: e.Direction, PriceUSDC: e.PriceUSDC, BlockTimestamp: e.BlockTimestamp,
		}
	default:
		// Enrichment does not change exposure; a Migrated trade is history,
		// already in its migrated position's net.
		return nil, nil
	}
	base, err := position.BaseSymbol(ack.Symbol)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	th, ex := cfg.Threshold, cfg.Execution
	ack.Threshold, ack.Execution = &th, &ex
	// A fill witnessed again after a revert is a new incarnation of the
	// trade: its sequence tells it (and its revert) from the first, and
	// gives it a command id of its own (the position drops a repeated one).
	cmdID := "ack:" + ack.TradeID.String()
	if env.Sequence > 1 {
		ack.FillSequence = env.Sequence
		cmdID += "#" + strconv.FormatUint(env.Sequence, 10)
	}
	var cmd aggregate.Command = ack
	o, err := runner.CommandOut(topics.Position, string(base), cmdID, env, in, cmd)
	if err != nil {
		return nil, err
	}
	return []runner.Output{o}, nil
}

// revertFill withdraws the reverted fill from its position.
func revertFill(in runner.Input, env runner.Event, e onchaintrade.Reverted,
	bad func(error) ([]runner.Output, error)) ([]runner.Output, error) {
	base, err := position.BaseSymbol(e.Symbol)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	var cmd aggregate.Command = position.RevertOnChainFill{
		Symbol: e.Symbol, TradeID: e.TradeID, BlockNumber: e.BlockNumber, FillSequence: e.FillSequence,
		Amount: e.Amount, Direction: e.Direction, PriceUSDC: e.PriceUSDC, Reason: string(e.Reason),
	}
	id := "revert:" + e.TradeID.String() + "#" + strconv.FormatUint(env.Sequence, 10)
	o, err := runner.CommandOut(topics.Position, string(base), id, env, in, cmd)
	if err != nil {
		return nil, err
	}
	return []runner.Output{o}, nil
}
