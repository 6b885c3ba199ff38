package trademanager

import (
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// State is the state of the trade stage per trade: the OnChainTrade
// aggregate and how far the trade manager has read its events.
type State = runner.Fused[runner.AggState[onchaintrade.State], Derived]

// Stage is the OnChainTrade aggregate with the trade manager fused into it
// (runner.Fuse), as the stack runs it: a fill crosses one goka group fewer,
// and the aggregate still emits its events to its topic.
func Stage(cfg Config) (runner.Stage[State], error) {
	agg, err := runner.AggregateStage(onchaintrade.Definition)
	if err != nil {
		return runner.Stage[State]{}, err
	}
	return runner.Fuse(agg, Manager(cfg))
}
