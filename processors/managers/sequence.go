package managers

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/processors/sequence"
	"github.com/hedgeline/hedgeline/topics"
)

// inSequence is the gap rule of every stage that folds one aggregate's
// events (PnL, order tracker): apply the event that comes next after
// applied; skip one at or below it (a re-published duplicate); park one
// beyond a gap in parked, raw, until the missing events arrive. A broker
// that lost an event and got it re-published later, after its successors,
// would otherwise have them applied out of order and the late one dropped
// as a duplicate (issue 8: realized PnL wrong for good).
//
// apply gets each event to apply, in order: the one that came and then every
// parked one it unblocks. It must advance the caller's applied sequence.
// The updated parked set is returned (nil when empty).
func inSequence(applied uint64, parked map[uint64][]byte, env topics.EventEnvelope, in runner.Input,
	apply func(runner.Input, topics.EventEnvelope) error) (map[uint64][]byte, error) {
	seq := env.Sequence
	switch sequence.Classify(applied, seq) {
	case sequence.Duplicate:
		return parked, nil
	case sequence.Park:
		if parked == nil {
			parked = map[uint64][]byte{}
		}
		parked[seq] = in.Value
		return parked, nil
	}
	if err := apply(in, env); err != nil {
		return parked, err
	}
	for next := seq + 1; ; next++ {
		raw, ok := parked[next]
		if !ok {
			break
		}
		delete(parked, next)
		env, err := topics.DecodeEnvelope(raw)
		if err != nil {
			return parked, fmt.Errorf("parked event %d: %w", next, err) // validated when parked
		}
		late := in
		late.Value = raw
		if err := apply(late, env); err != nil {
			return parked, err
		}
	}
	if len(parked) == 0 {
		parked = nil
	}
	return parked, nil
}
