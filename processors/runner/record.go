package runner

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The table record is binary, not JSON: a hot key keeps every output of its
// uncommitted window, and decoding that as JSON (with base64 for the output
// bytes) on every input dominated the CPU profile. Only the stage state is
// JSON. Pending entries are kept as raw bytes: pruning and appending never
// parse the outputs, only a redelivery does.
//
//	byte     version (2; 1 has no "first" field)
//	uvarint  next
//	varint   first (version 2)
//	uvarint  len(state) | state (JSON)
//	repeated until the end:
//	  varint   offset
//	  uvarint  len(entry) | entry = repeated (uvarint len|topic, uvarint len|key, uvarint len|value)
//
// first is the offset of the key's first input while it is not durable,
// else -1. Its outputs are not kept: the state before it was the empty
// one, so a redelivery computes them again (handlers are deterministic).
// Most keys (a trade, an order) get one or two inputs ever, so their
// records would otherwise carry their first outputs for good: nothing
// writes the key again to prune them.
const recordVersion = 2

type rawRecord struct {
	next    int64
	first   int64
	state   []byte
	pending []rawPending
}

type rawPending struct {
	offset int64
	entry  []byte
}

var errShortRecord = errors.New("truncated table record")

func decodeRecord(b []byte) (rawRecord, error) {
	r := rawRecord{first: -1}
	if len(b) == 0 || (b[0] != 1 && b[0] != recordVersion) {
		return r, fmt.Errorf("table record: unknown version")
	}
	version := b[0]
	b = b[1:]
	next, n := binary.Uvarint(b)
	if n <= 0 {
		return r, errShortRecord
	}
	r.next, b = int64(next), b[n:]
	if version >= 2 {
		first, n := binary.Varint(b)
		if n <= 0 {
			return r, errShortRecord
		}
		r.first, b = first, b[n:]
	}
	var err error
	if r.state, b, err = readBytes(b); err != nil {
		return r, err
	}
	for len(b) > 0 {
		off, n := binary.Varint(b)
		if n <= 0 {
			return r, errShortRecord
		}
		var entry []byte
		if entry, b, err = readBytes(b[n:]); err != nil {
			return r, err
		}
		r.pending = append(r.pending, rawPending{offset: off, entry: entry})
	}
	return r, nil
}

// durableTarget reads the pending offsets of an encoded record and, when it
// holds limit or more and the input at offset is new (a redelivery writes
// nothing), returns the offset below which inputs must be durable for the
// record to keep fewer than limit after the input's write.
func durableTarget(raw []byte, offset int64, limit int) (target int64, wait bool) {
	if raw == nil || limit <= 0 {
		return 0, false
	}
	rec, err := decodeRecord(raw)
	if err != nil || offset < rec.next || len(rec.pending) < limit {
		return 0, false // a bad record is step's to report
	}
	return rec.pending[len(rec.pending)-limit].offset + 1, true
}

func (r rawRecord) encode() []byte {
	size := 1 + binary.MaxVarintLen64*2 + len(r.state)
	for _, p := range r.pending {
		size += 2*binary.MaxVarintLen64 + len(p.entry)
	}
	b := make([]byte, 0, size)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(r.next))
	b = binary.AppendVarint(b, r.first)
	b = appendBytes(b, r.state)
	for _, p := range r.pending {
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
