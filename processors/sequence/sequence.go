// Package sequence is the ordering rule every consumer of an aggregate's
// events follows: events are applied strictly in sequence order, each
// exactly once, and a gap is never skipped.
//
// With the aggregate folded up to version v, an event with sequence
//
//   - v+1 is applied (and with it any parked events that now follow on);
//   - <= v is a duplicate (a redelivery or a re-published event): skipped;
//   - > v+1 is parked: an earlier event is missing from the topic so far
//     (a broker lost it and a producer re-sends it later, at a higher
//     offset). It is applied once the missing ones have arrived.
//
// The package has no dependencies beyond the standard library: the sinks,
// the PnL stage and the order tracker share it.
package sequence

import (
	"fmt"
	"maps"
	"slices"
)

// Verdict is what to do with an incoming event.
type Verdict uint8

const (
	// Apply: the event is the next one (version+1).
	Apply Verdict = iota + 1
	// Duplicate: the event is at or below the version, or already parked.
	Duplicate
	// Park: the event is beyond version+1; hold it until the gap fills.
	Park
)

func (v Verdict) String() string {
	switch v {
	case Apply:
		return "apply"
	case Duplicate:
		return "duplicate"
	case Park:
		return "park"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Classify is the rule for an event with sequence seq arriving at an
// aggregate folded up to version (0: nothing applied yet; sequences start
// at 1).
func Classify(version, seq uint64) Verdict {
	switch {
	case seq <= version:
		return Duplicate
	case seq == version+1:
		return Apply
	default:
		return Park
	}
}

// Range is an inclusive range of sequences.
type Range struct{ From, To uint64 }

func (r Range) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Sequencer orders the events of one aggregate: the version applied so far
// and the events parked beyond a gap. T is whatever the caller needs back
// to apply a parked event. The zero value is a fresh aggregate (version 0).
// A Sequencer is a value: copy it with Clone, not by assignment, when the
// copy must not share the parked set.
type Sequencer[T any] struct {
	version uint64
	parked  map[uint64]parked[T]
}

// parked is an event held beyond a gap, with the sequence it follows.
type parked[T any] struct {
	after uint64
	ev    T
}

// New returns a sequencer of an aggregate folded up to version.
func New[T any](version uint64) Sequencer[T] {
	return Sequencer[T]{version: version}
}

// Version is the sequence of the last event applied.
func (s *Sequencer[T]) Version() uint64 { return s.version }

// Offer classifies the event seq of a contiguous stream (1, 2, 3, ...) and
// updates the sequencer:
//
//   - Apply: the version moves to seq, then on through the parked events
//     that follow it; run holds those (in order, without ev itself),
//     removed from the parked set. The caller applies ev, then run.
//   - Duplicate: nothing changes (an event already parked at seq stays;
//     the first copy wins).
//   - Park: ev is held at seq.
func (s *Sequencer[T]) Offer(seq uint64, ev T) (v Verdict, run []T) {
	return s.OfferAfter(seq-1, seq, ev)
}

// OfferAfter is Offer for a stream whose sequences skip (PnL records carry
// the position sequence of their fill): each event names the sequence it
// follows, after, and is applied when the version is exactly that.
func (s *Sequencer[T]) OfferAfter(after, seq uint64, ev T) (v Verdict, run []T) {
	switch {
	case seq <= s.version:
		return Duplicate, nil
	case after != s.version:
		if _, ok := s.parked[seq]; ok {
			return Duplicate, nil
		}
		if s.parked == nil {
			s.parked = map[uint64]parked[T]{}
		}
		s.parked[seq] = parked[T]{after: after, ev: ev}
		return Park, nil
	}
	s.version = seq
	for len(s.parked) > 0 {
		next, ok := s.follower()
		if !ok {
			break
		}
		run = append(run, s.parked[next].ev)
		delete(s.parked, next)
		s.version = next
	}
	return Apply, run
}

// follower finds the parked event that follows the version.
func (s *Sequencer[T]) follower() (uint64, bool) {
	if p, ok := s.parked[s.version+1]; ok && p.after == s.version {
		return s.version + 1, true // contiguous streams: no scan
	}
	for seq, p := range s.parked {
		if p.after == s.version {
			return seq, true
		}
	}
	return 0, false
}

// Len is the number of parked events.
func (s *Sequencer[T]) Len() int { return len(s.parked) }

// Parked returns the parked sequences in ascending order.
func (s *Sequencer[T]) Parked() []uint64 {
	return slices.Sorted(maps.Keys(s.parked))
}

// Get returns the event parked at seq.
func (s *Sequencer[T]) Get(seq uint64) (T, bool) {
	p, ok := s.parked[seq]
	return p.ev, ok
}

// Missing returns the gaps: the ranges of sequences above the version and
// below the highest parked one that have not arrived. Empty when nothing
// is parked.
func (s *Sequencer[T]) Missing() []Range {
	var out []Range
	next := s.version + 1
	for _, seq := range s.Parked() {
		if seq > next {
			out = append(out, Range{next, seq - 1})
		}
		next = seq + 1
	}
	return out
}

// Clone returns a copy that shares nothing with s.
func (s Sequencer[T]) Clone() Sequencer[T] {
	if len(s.parked) > 0 {
		s.parked = maps.Clone(s.parked)
	} else {
		s.parked = nil
	}
	return s
}
