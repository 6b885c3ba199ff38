package ordermanager

import (
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// State is the state of the order stage per execution id: the
// OffchainOrder aggregate and the tracker's view of it.
type State = runner.Fused[runner.AggState[offchainorder.State], TrackedOrder]

// Stage is the OffchainOrder aggregate with the order tracker fused into
// it (runner.Fuse), wired to p when the process polls the broker (p may be
// nil): an order's event crosses one goka group instead of two, and the
// aggregate still emits its events to its topic.
func Stage(p *Poller) (runner.Stage[State], error) {
	agg, err := runner.AggregateStage(offchainorder.Definition)
	if err != nil {
		return runner.Stage[State]{}, err
	}
	tracker := Tracker()
	if p != nil {
		tracker = p.Tracking(tracker)
	}
	return runner.Fuse(agg, tracker)
}

// decodeOrder reads the tracker's part of an order stage's table record.
func decodeOrder(raw []byte) (TrackedOrder, error) {
	st, err := runner.DecodeState[struct {
		Down TrackedOrder `json:"down"`
	}](raw)
	return st.Down, err
}
