package runner

import (
	"bytes"
	"encoding/binary"
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

// upTo says every lane is durable below c.
func upTo(c int64) func(int) int64 { return func(int) int64 { return c } }

func in(off int64, v string) Input {
	return Input{Topic: "nums", Key: "k", Value: []byte(v), Offset: off}
}

func TestStepAppliesOnceAndReplaysOutputs(t *testing.T) {
	var raw []byte
	var outs []string
	apply := func(i Input, committed int64) (redelivered bool) {
		t.Helper()
		newRaw, out, re, err := step(Handler[int](sum), raw, i, 0, upTo(committed))
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
		newRaw, _, _, err := step(Handler[int](sum), raw, in(off, "1"), 0, upTo(-1))
		if err != nil {
			t.Fatal(err)
		}
		raw = newRaw
	}
	// A hot key keeps all 100 uncommitted outputs: a fixed ring would not.
	_, out, _, _ := step(Handler[int](sum), raw, in(0, "1"), 0, upTo(-1))
	if len(out) != 1 || string(out[0].Value) != "1" {
		t.Fatalf("oldest uncommitted output lost: %v", out)
	}
	// Once offset 90 is committed, the next write prunes everything below it
	// but keeps 90..100.
	raw, _, _, _ = step(Handler[int](sum), raw, in(100, "1"), 0, upTo(90))
	if _, out, _, _ := step(Handler[int](sum), raw, in(89, "1"), 0, upTo(90)); len(out) != 0 {
		t.Fatalf("output below commit kept: %v", out)
	}
	if _, out, _, _ := step(Handler[int](sum), raw, in(90, "1"), 0, upTo(90)); len(out) != 1 || string(out[0].Value) != "91" {
		t.Fatalf("output at commit pruned: %v", out)
	}
}

func TestStepRedeliveryOfRejectedInputReEmitsRejection(t *testing.T) {
	raw, out, _, _ := step(Handler[int](sum), nil, in(5, "x"), 0, upTo(-1))
	if len(out) != 1 || out[0].Topic != "rejections" {
		t.Fatalf("want a rejection, got %v", out)
	}
	_, again, re, _ := step(Handler[int](sum), raw, in(5, "x"), 0, upTo(-1))
	if !re || len(again) != 1 || again[0].Topic != "rejections" {
		t.Fatalf("rejection not re-emitted: %v", again)
	}
}

func TestStepCorruptRecordIsAnError(t *testing.T) {
	if _, _, _, err := step(Handler[int](sum), []byte("{"), in(1, "1"), 0, upTo(-1)); err == nil {
		t.Fatal("corrupt table record accepted")
	}
}

// Two input topics have offsets of their own: offset 5 of the outcomes
// lane is new even when the key already applied offset 9 of its commands.
func TestStepKeepsOffsetsPerLane(t *testing.T) {
	var raw []byte
	apply := func(lane int, off int64, v string) (string, bool) {
		t.Helper()
		i := in(off, v)
		i.Topic = fmt.Sprintf("lane%d", lane)
		newRaw, out, re, err := step(Handler[int](sum), raw, i, lane, upTo(-1))
		if err != nil {
			t.Fatal(err)
		}
		if newRaw != nil {
			raw = newRaw
		}
		if len(out) == 0 {
			return "", re
		}
		return string(out[len(out)-1].Value), re // its own output comes last
	}
	apply(0, 9, "1")
	if got, re := apply(1, 5, "10"); re || got != "11" {
		t.Fatalf("lane 1 offset 5 after lane 0 offset 9: %q redelivered=%v, want applied (11)", got, re)
	}
	// Lane 0's output was not known durable, so lane 1's input sent it
	// again and now owns it: lane 0's redelivery has nothing left to send.
	if got, re := apply(0, 9, "1"); !re || got != "" {
		t.Fatalf("redelivered lane 0 input: %q redelivered=%v, want nothing (moved to lane 1's entry)", got, re)
	}
	if got, re := apply(1, 5, "10"); !re || got != "11" {
		t.Fatalf("redelivered lane 1 input: %q redelivered=%v, want its first output 11", got, re)
	}
	if got, _ := apply(0, 10, "100"); got != "111" {
		t.Fatalf("next lane 0 input: %q, want 111", got)
	}
}

// Records written before lanes existed (version 1) are read as one lane.
func TestStepReadsVersion1Records(t *testing.T) {
	v1 := []byte{recordVersion1}
	v1 = binary.AppendUvarint(v1, 8) // next
	v1 = appendBytes(v1, []byte("5"))
	v1 = binary.AppendVarint(v1, 7)
	v1 = appendBytes(v1, encodeOutputs([]Output{{Topic: "totals", Key: "k", Value: []byte("5")}}))
	_, out, re, err := step(Handler[int](sum), v1, in(7, "5"), 0, upTo(-1))
	if err != nil || !re || len(out) != 1 || string(out[0].Value) != "5" {
		t.Fatalf("redelivery against a v1 record: out %v redelivered %v err %v", out, re, err)
	}
	newRaw, out, _, err := step(Handler[int](sum), v1, in(8, "2"), 0, upTo(-1))
	if err != nil || string(out[0].Value) != "7" || newRaw[0] != recordVersion {
		t.Fatalf("new input on a v1 record: out %v err %v", out, err)
	}
}

// After a crash goka's local table can hold a record whose table-topic write
// was lost. A redelivered input must write the record again, or views of the
// table (the order poller) keep the old state: an order they show pending
// is never polled and its hedge stays pending forever.
func TestStepRedeliveryRewritesTheRecord(t *testing.T) {
	raw, _, _, err := step(Handler[int](sum), nil, in(4, "2"), 0, upTo(-1))
	if err != nil {
		t.Fatal(err)
	}
	for _, committed := range []int64{-1, 5} { // outputs kept, or pruned
		write, _, re, err := step(Handler[int](sum), raw, in(4, "2"), 0, upTo(committed))
		if err != nil || !re {
			t.Fatalf("redelivery not detected: %v", err)
		}
		if !bytes.Equal(write, raw) {
			t.Fatalf("committed %d: redelivery writes %x, want the record as it is (%x)", committed, write, raw)
		}
	}
}

// After a restart, an input of one lane can come before the redelivery of
// another lane's inputs whose outputs may never have reached Kafka. Its own
// outputs (later sequences) must not overtake theirs: the other lane's
// outputs not known durable go out again first, and from then on belong to
// this input's entry.
func TestStepReEmitsTheOtherLaneFirst(t *testing.T) {
	var raw []byte
	raw, _, _, _ = step(Handler[int](sum), raw, in(7, "1"), 0, upTo(-1))
	raw, _, _, _ = step(Handler[int](sum), raw, in(8, "2"), 0, upTo(-1))
	// Lane 0 durable below 8: only 8's output is in doubt.
	durable := func(l int) int64 { return map[int]int64{0: 8, 1: -1}[l] }
	i := in(3, "10")
	i.Topic = "lane1"
	newRaw, out, _, err := step(Handler[int](sum), raw, i, 1, durable)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out {
		got = append(got, string(o.Value))
	}
	if fmt.Sprint(got) != "[3 13]" {
		t.Fatalf("outputs %v, want [3 13]: lane 0's total 3 again, then 13", got)
	}
	// Redelivered, lane 1's input gives both again, in the same order.
	_, again, re, _ := step(Handler[int](sum), newRaw, i, 1, durable)
	if !re || len(again) != 2 || string(again[0].Value) != "3" {
		t.Fatalf("redelivery gave %v", again)
	}
	// The next lane 1 input owes nothing more.
	i2 := in(4, "100")
	i2.Topic = "lane1"
	_, out, _, _ = step(Handler[int](sum), newRaw, i2, 1, durable)
	if len(out) != 1 || string(out[0].Value) != "113" {
		t.Fatalf("next input emitted %v, want only 113", out)
	}
}
