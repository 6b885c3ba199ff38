package runner

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
)

// sum is a stage that adds each input to a per-key total and emits it.
func sum(state int, in Input) (int, []Output, error) {
	n, err := strconv.Atoi(string(in.Value))
	if err != nil {
		return state, []Output{{Topic: "rejections", Key: in.Key, Value: []byte(err.Error())}}, nil
	}
	state += n
	return state, []Output{{Topic: "totals", Key: in.Key, Value: []byte(strconv.Itoa(state))}}, nil
}

func in(off int64, v string) Input {
	return Input{Topic: "nums", Key: "k", Value: []byte(v), Offset: off}
}

func TestStepAppliesOnceAndReplaysOutputs(t *testing.T) {
	var raw []byte
	var outs []string
	apply := func(i Input, committed int64) (redelivered bool) {
		t.Helper()
		newRaw, out, re, err := step(Handler[int](sum), raw, i, committed)
		if err != nil {
			t.Fatal(err)
		}
		if newRaw != nil {
			raw = newRaw
		}
		for _, o := range out {
			outs = append(outs, string(o.Value))
		}
		return re
	}
	apply(in(10, "1"), -1)
	apply(in(11, "2"), -1)
	apply(in(12, "3"), -1)
	// A crash before the commit: 11 and 12 come again. They must not be
	// added twice, and their first outputs must be emitted again.
	if !apply(in(11, "2"), -1) || !apply(in(12, "3"), -1) {
		t.Fatal("redelivery not detected")
	}
	apply(in(13, "4"), -1)
	want := []string{"1", "3", "6", "3", "6", "10"}
	if fmt.Sprint(outs) != fmt.Sprint(want) {
		t.Fatalf("outputs %v, want %v", outs, want)
	}
}

func TestStepPrunesOnlyBelowCommit(t *testing.T) {
	var raw []byte
	for off := int64(0); off < 100; off++ {
		newRaw, _, _, err := step(Handler[int](sum), raw, in(off, "1"), -1)
		if err != nil {
			t.Fatal(err)
		}
		raw = newRaw
	}
	// A hot key keeps all 100 uncommitted outputs: a fixed ring would not.
	_, out, _, _ := step(Handler[int](sum), raw, in(0, "1"), -1)
	if len(out) != 1 || string(out[0].Value) != "1" {
		t.Fatalf("oldest uncommitted output lost: %v", out)
	}
	// Once offset 90 is committed, the next write prunes everything below it
	// but keeps 90..100.
	raw, _, _, _ = step(Handler[int](sum), raw, in(100, "1"), 90)
	if _, out, _, _ := step(Handler[int](sum), raw, in(89, "1"), 90); len(out) != 0 {
		t.Fatalf("output below commit kept: %v", out)
	}
	if _, out, _, _ := step(Handler[int](sum), raw, in(90, "1"), 90); len(out) != 1 || string(out[0].Value) != "91" {
		t.Fatalf("output at commit pruned: %v", out)
	}
}

func TestStepRedeliveryOfRejectedInputReEmitsRejection(t *testing.T) {
	raw, out, _, _ := step(Handler[int](sum), nil, in(5, "x"), -1)
	if len(out) != 1 || out[0].Topic != "rejections" {
		t.Fatalf("want a rejection, got %v", out)
	}
	_, again, re, _ := step(Handler[int](sum), raw, in(5, "x"), -1)
	if !re || len(again) != 1 || again[0].Topic != "rejections" {
		t.Fatalf("rejection not re-emitted: %v", again)
	}
}

func TestStepCorruptRecordIsAnError(t *testing.T) {
	if _, _, _, err := step(Handler[int](sum), []byte("{"), in(1, "1"), -1); err == nil {
		t.Fatal("corrupt table record accepted")
	}
}

// After a crash goka's local table can hold a record whose table-topic write
// was lost. A redelivered input must write the record again, or views of the
// table (the order poller) keep the old state: an order they show pending
// is never polled and its hedge stays pending forever.
func TestStepRedeliveryRewritesTheRecord(t *testing.T) {
	raw, _, _, err := step(Handler[int](sum), nil, in(4, "2"), -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, committed := range []int64{-1, 5} { // outputs kept, or pruned
		write, _, re, err := step(Handler[int](sum), raw, in(4, "2"), committed)
		if err != nil || !re {
			t.Fatalf("redelivery not detected: %v", err)
		}
		if !bytes.Equal(write, raw) {
			t.Fatalf("committed %d: redelivery writes %x, want the record as it is (%x)", committed, write, raw)
		}
	}
}

// A handler's ErrDuplicate keeps its state, emits nothing, and is reported.
func TestStepDuplicateEmitsNothing(t *testing.T) {
	dupOdd := func(s int, in Input) (int, []Output, error) {
		if in.Offset%2 == 1 {
			return s + 100, []Output{{Topic: "x"}}, fmt.Errorf("offset %d: %w", in.Offset, ErrDuplicate)
		}
		return sum(s, in)
	}
	raw, _, _, _ := step(Handler[int](dupOdd), nil, in(0, "1"), -1)
	raw, out, _, err := step(Handler[int](dupOdd), raw, in(1, "1"), -1)
	if !errors.Is(err, ErrDuplicate) || len(out) != 0 || raw == nil {
		t.Fatalf("duplicate: out %v err %v record %v", out, err, raw)
	}
	if _, out, _, _ := step(Handler[int](dupOdd), raw, in(2, "5"), -1); string(out[0].Value) != "106" {
		t.Fatalf("after the duplicate: %v (the state it returned is kept)", out)
	}
}

// An input that changes neither the state nor emits anything writes no
// record (stages that ignore most inputs stay cheap); handled again, it
// changes nothing again.
func TestStepSkipsWritesThatChangeNothing(t *testing.T) {
	raw, _, _, _ := step(Handler[int](sum), nil, in(1, "5"), -1)
	ignore := func(s int, in Input) (int, []Output, error) { return s, nil, nil }
	if w, out, _, err := step(Handler[int](ignore), raw, in(2, "x"), -1); w != nil || out != nil || err != nil {
		t.Fatalf("write %x out %v err %v, want nothing", w, out, err)
	}
	if _, out, _, _ := step(Handler[int](sum), raw, in(3, "1"), -1); string(out[0].Value) != "6" {
		t.Fatalf("next input: %v", out)
	}
}

// A key's first input keeps no outputs in the record: they are decided
// again from the empty state on redelivery, byte for byte, until the input
// is durable.
func TestStepFirstInputOutputsAreDecidedAgain(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 600)
	h := Handler[int](func(s int, in Input) (int, []Output, error) {
		return s + 1, []Output{{Topic: "events", Key: in.Key, Value: append([]byte(in.Value), big...)}}, nil
	})
	raw, out, _, err := step(h, nil, in(5, "a"), -1)
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	if len(raw) > 100 {
		t.Fatalf("first record is %d bytes: it keeps the outputs", len(raw))
	}
	_, again, re, err := step(h, raw, in(5, "a"), -1)
	if err != nil || !re || len(again) != 1 || !bytes.Equal(again[0].Value, out[0].Value) {
		t.Fatalf("redelivered first input: %v %v %v", again, re, err)
	}
	// A second input, with offset 5 still not durable: both replay.
	raw, _, _, _ = step(h, raw, in(6, "b"), -1)
	if _, o, _, _ := step(h, raw, in(5, "a"), -1); len(o) != 1 || !bytes.Equal(o[0].Value, out[0].Value) {
		t.Fatalf("first input after a second: %v", o)
	}
	if _, o, _, _ := step(h, raw, in(6, "b"), -1); len(o) != 1 || o[0].Value[0] != 'b' {
		t.Fatalf("second input: %v", o)
	}
	// Durable past 5: its outputs are Kafka's, nothing is re-emitted.
	raw, _, _, _ = step(h, raw, in(7, "c"), 6)
	if _, o, re, _ := step(h, raw, in(5, "a"), 6); !re || len(o) != 0 {
		t.Fatalf("durable first input re-emitted %v", o)
	}
}
