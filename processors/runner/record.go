package runner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The table record is binary, not JSON: a hot key keeps every output of its
// uncommitted window, and decoding that as JSON (with base64 for the output
// bytes) on every input dominated the CPU profile. Only the stage state is
// JSON. Pending entries are kept as raw bytes: pruning and appending never
// parse the outputs, only a redelivery does.
//
//	byte     version (2)
//	uvarint  lanes (input topics of the stage)
//	repeated lanes times: uvarint next (offset after the last input applied)
//	uvarint  len(state) | state (JSON)
//	repeated until the end:
//	  uvarint  lane
//	  varint   offset
//	  uvarint  len(entry) | entry = repeated (uvarint len|topic, uvarint len|key, uvarint len|value)
//
// Version 1 (one input topic: no lane count, no lane per entry) is still
// read, so tables written before lanes existed keep working.
const (
	recordVersion1 = 1
	recordVersion  = 2
	// maxLanes bounds what a corrupt record can make the decoder allocate.
	maxLanes = 16
)

type rawRecord struct {
	next    []int64 // per lane
	state   []byte
	pending []rawPending
}

type rawPending struct {
	lane   int
	offset int64
	entry  []byte
}

var errShortRecord = errors.New("truncated table record")

// nextOf is the offset after the last input of lane applied to the key.
func (r rawRecord) nextOf(lane int) int64 {
	if lane < len(r.next) {
		return r.next[lane]
	}
	return 0
}

func (r *rawRecord) setNext(lane int, next int64) {
	for len(r.next) <= lane {
		r.next = append(r.next, 0)
	}
	r.next[lane] = next
}

func decodeRecord(b []byte) (rawRecord, error) {
	var r rawRecord
	if len(b) == 0 || (b[0] != recordVersion && b[0] != recordVersion1) {
		return r, fmt.Errorf("table record: unknown version")
	}
	v1 := b[0] == recordVersion1
	b = b[1:]
	lanes := uint64(1)
	if !v1 {
		var n int
		if lanes, n = binary.Uvarint(b); n <= 0 || lanes > maxLanes {
			return r, errShortRecord
		}
		b = b[n:]
	}
	r.next = make([]int64, lanes)
	for i := range r.next {
		next, n := binary.Uvarint(b)
		if n <= 0 {
			return r, errShortRecord
		}
		r.next[i], b = int64(next), b[n:]
	}
	var err error
	if r.state, b, err = readBytes(b); err != nil {
		return r, err
	}
	for len(b) > 0 {
		lane := uint64(0)
		if !v1 {
			var n int
			if lane, n = binary.Uvarint(b); n <= 0 || lane >= lanes {
				return r, errShortRecord
			}
			b = b[n:]
		}
		off, n := binary.Varint(b)
		if n <= 0 {
			return r, errShortRecord
		}
		var entry []byte
		if entry, b, err = readBytes(b[n:]); err != nil {
			return r, err
		}
		r.pending = append(r.pending, rawPending{lane: int(lane), offset: off, entry: entry})
	}
	return r, nil
}

// laneWait is a wait before an input is handled: until the inputs of lane
// below target are durable.
type laneWait struct {
	lane   int
	target int64
}

// laneWaits reads an encoded record and says what must be durable before
// the new input at offset of lane is handled:
//   - its own lane: the record keeps fewer than limit unacknowledged
//     outputs after the input's write (a backlog cannot grow a record);
//   - every other lane: all of this key's inputs. Then a key's inputs not
//     yet durable always come from one lane, in that lane's offset order,
//     so if a crash loses their table writes they are decided again in
//     the same order, giving the same events under the same sequences.
//     Two lanes in flight at once could be decided again interleaved
//     differently, publishing a second, different event under a sequence.
//
// A redelivery writes nothing new and waits for nothing.
func laneWaits(raw []byte, lane int, offset int64, limit int) []laneWait {
	if raw == nil {
		return nil
	}
	rec, err := decodeRecord(raw)
	if err != nil || offset < rec.nextOf(lane) {
		return nil // a bad record is step's to report
	}
	var waits []laneWait
	var own []int64
	for _, p := range rec.pending {
		if p.lane == lane {
			own = append(own, p.offset)
			continue
		}
		if i := slices.IndexFunc(waits, func(w laneWait) bool { return w.lane == p.lane }); i >= 0 {
			waits[i].target = max(waits[i].target, p.offset+1)
		} else {
			waits = append(waits, laneWait{lane: p.lane, target: p.offset + 1})
		}
	}
	if limit > 0 && len(own) >= limit {
		waits = append(waits, laneWait{lane: lane, target: own[len(own)-limit] + 1})
	}
	return waits
}

func (r rawRecord) encode() []byte {
	size := 1 + binary.MaxVarintLen64*(2+len(r.next)) + len(r.state)
	for _, p := range r.pending {
		size += 3*binary.MaxVarintLen64 + len(p.entry)
	}
	b := make([]byte, 0, size)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(r.next)))
	for _, n := range r.next {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = appendBytes(b, r.state)
	for _, p := range r.pending {
		b = binary.AppendUvarint(b, uint64(p.lane))
		b = binary.AppendVarint(b, p.offset)
		b = appendBytes(b, p.entry)
	}
	return b
}

func encodeOutputs(out []Output) []byte {
	var b []byte
	for _, o := range out {
		b = appendBytes(b, []byte(o.Topic))
		b = appendBytes(b, []byte(o.Key))
		b = appendBytes(b, o.Value)
	}
	return b
}

func decodeOutputs(b []byte) ([]Output, error) {
	var out []Output
	for len(b) > 0 {
		var t, k, v []byte
		var err error
		if t, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if k, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if v, b, err = readBytes(b); err != nil {
			return nil, err
		}
		out = append(out, Output{Topic: string(t), Key: string(k), Value: v})
	}
	return out, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func readBytes(b []byte) (v, rest []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil, nil, errShortRecord
	}
	return b[n : n+int(l)], b[n+int(l):], nil
}
