package managers

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/processors/sequence"
	"github.com/hedgeline/hedgeline/topics"
)

// maxParked bounds the events a key holds beyond a gap (~0.5 KB each), so
// its record stays far below Kafka's 1 MiB message size.
const maxParked = 1000

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
// The updated parked set is returned (nil when empty). A duplicate is
// reported as runner.ErrDuplicate (counted and logged by the runner).
//
// This is processors/sequence's rule over a set the stage state can hold
// as JSON (raw events by sequence); the first copy of a parked event wins,
// as there.
func inSequence(applied uint64, parked map[uint64][]byte, env topics.EventEnvelope, in runner.Input,
	apply func(runner.Input, topics.EventEnvelope) error) (map[uint64][]byte, error) {
	seq := env.Sequence
	switch sequence.Classify(applied, seq) {
	case sequence.Duplicate:
		return parked, fmt.Errorf("%s: applied up to %d: %w", EventID(env), applied, runner.ErrDuplicate)
	case sequence.Park:
		if _, ok := parked[seq]; ok {
			return parked, fmt.Errorf("%s: parked already: %w", EventID(env), runner.ErrDuplicate) // the first copy stays
		}
		if len(parked) >= maxParked {
			// Never skip past the gap, and never grow a record past what
			// Kafka takes: stop, loudly. The missing event is lost for good
			// (acknowledged, then lost by the broker); see docs/design.md.
			return parked, fmt.Errorf("%s/%s waits for sequence %d, and %d later events are parked: the event is lost; "+
				"stage stopped rather than skip it", env.AggregateType, env.AggregateID, applied+1, len(parked))
		}
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

// Derived is the state of a stage that derives commands from an aggregate's
// events (the trade manager), per input key: how far it has read
// that aggregate. An event re-published after a crash (same aggregate and
// sequence, a new offset) is a duplicate, not derived twice.
type Derived struct {
	LastSequence uint64            `json:"last_sequence"`
	Parked       map[uint64][]byte `json:"parked,omitempty"`
}

// deriving makes a handler of derive, which turns one event into commands,
// applying the gap rule (inSequence) first; an undecodable input goes to
// the rejections of aggType.
func deriving(aggType, stage string, derive func(in runner.Input, env topics.EventEnvelope) ([]runner.Output, error)) runner.Handler[Derived] {
	return func(st Derived, in runner.Input) (Derived, []runner.Output, error) {
		env, err := topics.DecodeEnvelope(in.Value)
		if err != nil {
			o, rerr := rejectOut(aggType, stage, in, fmt.Errorf("undecodable event: %w", err))
			return st, []runner.Output{o}, rerr
		}
		var out []runner.Output
		st.Parked, err = inSequence(st.LastSequence, st.Parked, env, in, func(in runner.Input, env topics.EventEnvelope) error {
			o, err := derive(in, env)
			st.LastSequence, out = env.Sequence, append(out, o...)
			return err
		})
		return st, out, err
	}
}
