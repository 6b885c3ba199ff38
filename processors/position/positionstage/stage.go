// Package positionstage is the position stage as the stack runs it: the
// Position aggregate with the order manager's placer and the PnL stage
// fused into it (runner.Fuse) and its table record (State). The order
// poller does not read that record: the placer publishes each symbol's
// pending hedge on topics.PendingHedges.
//
// The composition is a package of its own because it joins two features:
// the order manager imports processors/position for the commands it sends
// to positions, so it cannot be composed inside processors/position (which
// stays a pure aggregate anyway, docs/aggregates.md), nor inside
// ordermanager or pnlstage without one of them owning the other's stage.
// It is not in stack/, which wires processes (clients, roles, views): like
// trademanager.Stage and ordermanager.Stage, every stage the stack runs is
// built by one call into the processors, and the record layout (State)
// stays next to the test that checks the fused stages against the hops
// they replace.
package positionstage

import (
	"github.com/hedgeline/hedgeline/processors/offchainorder/ordermanager"
	"github.com/hedgeline/hedgeline/processors/pnl/pnlstage"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// State is the state of the position stage per base symbol: the Position
// aggregate, the hedge it has pending as the order placer saw it, and the
// PnL book.
type State = runner.Fused[runner.Fused[runner.AggState[position.State], ordermanager.PendingHedge], pnlstage.State]

// Stage is the Position aggregate with the order placer and PnL: a fill's
// position events reach both without another goka group, and the aggregate
// still emits them to position.events.
func Stage() (runner.Stage[State], error) {
	agg, err := runner.AggregateStage(position.Definition)
	if err != nil {
		return runner.Stage[State]{}, err
	}
	placing, err := runner.Fuse(agg, ordermanager.Placer())
	if err != nil {
		return runner.Stage[State]{}, err
	}
	return runner.Fuse(placing, pnlstage.Stage())
}
