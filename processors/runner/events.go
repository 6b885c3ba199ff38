package runner

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/sequence"
	"github.com/hedgeline/hedgeline/topics"
)

// Event is one aggregate event as a stage consumes it: its envelope, and
// the typed event when a fused upstream handed it over with the bytes
// (Output.Event); nil when it came from Kafka, and Payload is decoded.
type Event struct {
	topics.EventEnvelope
	Typed aggregate.Event
}

// ID names the event: "<aggregate_type>/<aggregate_id>#<sequence>".
func (e Event) ID() string {
	return fmt.Sprintf("%s/%s#%d", e.AggregateType, e.AggregateID, e.Sequence)
}

// TypedEvent returns e's typed event: the one handed over by a fused
// upstream, else its payload decoded with dec.
func TypedEvent(e Event, dec aggregate.Decoder[aggregate.Event]) (aggregate.Event, error) {
	if e.Typed != nil {
		return e.Typed, nil
	}
	return dec.Decode(e.EventType, e.Payload)
}

// EventOf decodes an input that carries an event, or takes what a fused
// upstream handed over.
func EventOf(in Input) (Event, error) {
	if in.Event != nil {
		return *in.Event, nil
	}
	env, err := topics.DecodeEnvelope(in.Value)
	if err != nil {
		return Event{}, err
	}
	return Event{EventEnvelope: env}, nil
}

// MaxParked bounds the events a key holds beyond a gap (~0.5 KB each), so
// its record stays far below Kafka's 1 MiB message size.
const MaxParked = 1000

// Cursor is where a folding stage keeps how far it has read one
// aggregate's events: the last sequence applied and the events that came
// beyond a gap, raw by sequence, waiting for it.
type Cursor struct {
	Last   *uint64
	Parked *map[uint64][]byte
}

// FoldEvents is the handler of a stage that folds one aggregate's events
// per key (the trade manager, the PnL stage, the order tracker), with what
// they all share written once:
//   - an input that is not an event envelope is rejected (reject);
//   - the gap rule: the event that comes next after the cursor is applied,
//     one at or below it is a duplicate (re-published after a crash:
//     ErrDuplicate), one beyond a gap is parked raw until the missing
//     events arrive, and then every parked event it unblocks is applied in
//     order. A broker that lost an event and got it re-published after its
//     successors would otherwise have them applied out of order and the
//     late one dropped (issue 8: realized PnL wrong for good);
//   - the cursor advances past each applied event.
//
// apply gets each event to apply, in order; cursor locates the cursor in
// a state.
func FoldEvents[S any](reject func(Input, error) (Output, error), cursor func(*S) Cursor,
	apply func(S, Input, Event) (S, []Output, error)) Handler[S] {
	return func(st S, in Input) (S, []Output, error) {
		ev, err := EventOf(in)
		if err != nil {
			o, rerr := reject(in, fmt.Errorf("undecodable event: %w", err))
			return st, []Output{o}, rerr
		}
		c := cursor(&st)
		switch sequence.Classify(*c.Last, ev.Sequence) {
		case sequence.Duplicate:
			return st, nil, fmt.Errorf("%s: applied up to %d: %w", ev.ID(), *c.Last, ErrDuplicate)
		case sequence.Park:
			parked := *c.Parked
			if _, ok := parked[ev.Sequence]; ok {
				return st, nil, fmt.Errorf("%s: parked already: %w", ev.ID(), ErrDuplicate) // the first copy stays
			}
			if len(parked) >= MaxParked {
				// Never skip past the gap, and never grow a record past what
				// Kafka takes: stop, loudly. The missing event is lost for
				// good (acknowledged, then lost by the broker); see
				// docs/design.md.
				return st, nil, fmt.Errorf("%s/%s waits for sequence %d, and %d later events are parked: the event is lost; "+
					"stage stopped rather than skip it", ev.AggregateType, ev.AggregateID, *c.Last+1, len(parked))
			}
			if parked == nil {
				parked = map[uint64][]byte{}
			}
			parked[ev.Sequence] = in.Value
			*c.Parked = parked
			return st, nil, nil
		}
		var out []Output
		for {
			next, o, err := apply(st, in, ev)
			if err != nil {
				return st, nil, err
			}
			st, out = next, append(out, o...)
			c = cursor(&st)
			*c.Last = ev.Sequence
			raw, ok := (*c.Parked)[ev.Sequence+1]
			if !ok {
				break
			}
			seq := ev.Sequence + 1
			delete(*c.Parked, seq)
			if ev, err = EventOf(Input{Value: raw}); err != nil {
				return st, nil, fmt.Errorf("parked event %d: %w", seq, err) // validated when parked
			}
			in.Value, in.Event = raw, nil
		}
		if len(*c.Parked) == 0 {
			*c.Parked = nil
		}
		return st, out, nil
	}
}
