// Package runner turns pure stage functions into goka processors with an
// exactly-once effect on top of goka's at-least-once delivery.
//
// # The mechanism
//
// goka acknowledges a callback's table write and its emits independently and
// commits the input offset later, so after a crash an input can be delivered
// again while the table already holds the state it produced. Skipping such an
// input would lose any output whose emit never landed; applying it again
// would apply it twice. The runner does neither:
//
//   - The table value of every key is a record: the stage's state, the offset
//     after the last input applied to that key (Next), and the outputs of every
//     applied input whose offset the group has not committed yet (Pending).
//   - goka delivers each partition in order, and a key always lives in one
//     partition, so an input with offset < Next is a redelivery. The runner
//     re-emits the outputs recorded for that offset, byte for byte, and
//     decides nothing.
//   - Outputs of inputs below the group's committed offset are pruned when the
//     key is next written: Kafka never redelivers below the commit, and the
//     commit only moves forward (Commits reads it from the broker). A burst on
//     one hot key therefore keeps exactly its uncommitted window, never less.
//   - If the table write itself was lost, the redelivered input finds the old
//     state and is handled again; stages are deterministic, so it produces the
//     same outputs with the same sequences, which consumers drop as duplicates.
//
// Every stage (aggregates, managers, pnl) runs through Stage, so the problem
// is solved once.
package runner

import (
	"encoding/json"
	"fmt"
	"time"
)

// Input is one message delivered to a stage.
type Input struct {
	Topic     string
	Key       string
	Value     []byte
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// Output is one record a stage emits.
type Output struct {
	Topic string `json:"t"`
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

// Handler computes a key's new state and the outputs of one input. It must
// be deterministic: the same state and input give the same result. Bad input
// is not an error: the handler turns it into a rejection Output. An error is
// a bug or an infrastructure fault and stops the processor.
type Handler[S any] func(state S, in Input) (S, []Output, error)

// record is the table value kept per key.
type record[S any] struct {
	State   S         `json:"state"`
	Next    int64     `json:"next"`
	Pending []pending `json:"pending,omitempty"`
}

type pending struct {
	Offset  int64    `json:"o"`
	Outputs []Output `json:"out"`
}

// step is the runner's core, free of goka so it can be tested directly: it
// applies in to the encoded record (nil for a new key) and returns the new
// encoded record (nil when unchanged) and the outputs to emit. committed is
// the group's committed offset for the input's partition (-1 if unknown).
func step[S any](h Handler[S], raw []byte, in Input, committed int64) (newRaw []byte, out []Output, redelivered bool, err error) {
	var rec record[S]
	if raw != nil {
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, nil, false, fmt.Errorf("decode table record of key %q: %w", in.Key, err)
		}
	}
	if in.Offset < rec.Next {
		for _, p := range rec.Pending {
			if p.Offset == in.Offset {
				return nil, p.Outputs, true, nil
			}
		}
		// Pruned (at or below the commit) or produced no output.
		return nil, nil, true, nil
	}
	state, out, err := h(rec.State, in)
	if err != nil {
		return nil, nil, false, fmt.Errorf("handle %s/%d@%d key %q: %w", in.Topic, in.Partition, in.Offset, in.Key, err)
	}
	rec.State, rec.Next = state, in.Offset+1
	rec.Pending = prune(rec.Pending, committed)
	if len(out) > 0 {
		rec.Pending = append(rec.Pending, pending{Offset: in.Offset, Outputs: out})
	}
	newRaw, err = json.Marshal(rec)
	if err != nil {
		return nil, nil, false, fmt.Errorf("encode table record of key %q: %w", in.Key, err)
	}
	return newRaw, out, false, nil
}

// prune drops outputs of inputs below the committed offset: they are never
// delivered again.
func prune(ps []pending, committed int64) []pending {
	if committed < 0 {
		return ps
	}
	i := 0
	for i < len(ps) && ps[i].Offset < committed {
		i++
	}
	if i == 0 {
		return ps
	}
	return append([]pending(nil), ps[i:]...)
}

// DecodeState reads the stage state out of an encoded table record, for
// views over a stage's table (the order poller reads in-flight orders).
func DecodeState[S any](raw []byte) (S, error) {
	var rec record[S]
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec.State, fmt.Errorf("decode table record: %w", err)
	}
	return rec.State, nil
}
