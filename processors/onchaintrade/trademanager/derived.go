package trademanager

import (
	"github.com/hedgeline/hedgeline/processors/runner"
)

// Derived is the state of a stage that derives commands from an aggregate's
// events (the trade manager), per input key: how far it has read
// that aggregate. An event re-published after a crash (same aggregate and
// sequence, a new offset) is a duplicate, not derived twice.
type Derived struct {
	LastSequence uint64            `json:"last_sequence"`
	Parked       map[uint64][]byte `json:"parked,omitempty"`
}

func (d *Derived) cursor() runner.Cursor {
	return runner.Cursor{Last: &d.LastSequence, Parked: &d.Parked}
}

// deriving makes a handler of derive, which turns one event into commands,
// folding the events in sequence (runner.FoldEvents); an undecodable input
// goes to the rejections of aggType.
func deriving(aggType, stage string, derive func(in runner.Input, ev runner.Event) ([]runner.Output, error)) runner.Handler[Derived] {
	return runner.FoldEvents(runner.Rejecter(aggType, stage), (*Derived).cursor,
		func(st Derived, in runner.Input, ev runner.Event) (Derived, []runner.Output, error) {
			out, err := derive(in, ev)
			return st, out, err
		})
}
