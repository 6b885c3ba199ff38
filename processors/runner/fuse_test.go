package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
)

// counting is a downstream stage of sum: it counts the totals it sees per
// key and emits the count; a total it has seen is a duplicate.
func counting() Stage[map[string]int] {
	return Stage[map[string]int]{
		Group: "count", Input: "totals", Outputs: []string{"counts"},
		Handle: func(seen map[string]int, in Input) (map[string]int, []Output, error) {
			if _, ok := seen[string(in.Value)]; ok {
				return seen, nil, fmt.Errorf("total %s: %w", in.Value, ErrDuplicate)
			}
			next := map[string]int{string(in.Value): len(seen) + 1}
			for k, v := range seen {
				next[k] = v
			}
			return next, []Output{{Topic: "counts", Key: in.Key, Value: []byte(strconv.Itoa(len(next)))}}, nil
		},
	}
}

func summing() Stage[int] {
	return Stage[int]{Group: "sum", Input: "nums", Outputs: []string{"totals", "rejections"}, Handle: sum}
}

func TestFuseRunsDownstreamOnUpstreamOutputs(t *testing.T) {
	st, err := Fuse(summing(), counting())
	if err != nil {
		t.Fatal(err)
	}
	if st.Group != "sum" || st.Input != "nums" || fmt.Sprint(st.Outputs) != "[totals rejections counts]" {
		t.Fatalf("fused stage %s <- %s -> %v", st.Group, st.Input, st.Outputs)
	}
	var raw []byte
	var got []string
	for off, v := range []string{"1", "x", "2", "0"} {
		newRaw, out, _, err := step(st.Handle, raw, in(int64(off), v), -1)
		if err != nil {
			t.Fatal(err)
		}
		if newRaw != nil {
			raw = newRaw
		}
		for _, o := range out {
			got = append(got, o.Topic+"="+string(o.Value))
		}
	}
	// "x" is rejected by sum, which emits no total: count sees nothing.
	// "0" leaves the total at 3, a total count has seen: its duplicate
	// drops only count's part, sum's total is still emitted.
	want := "[totals=1 counts=1 rejections=strconv.Atoi: parsing \"x\": invalid syntax totals=3 counts=2 totals=3]"
	if fmt.Sprint(got) != want {
		t.Fatalf("outputs\n %v\nwant\n %v", got, want)
	}
	s, err := DecodeState[Fused[int, map[string]int]](raw)
	if err != nil || s.Up != 3 || len(s.Down) != 2 {
		t.Fatalf("state %+v, %v", s, err)
	}
	// Redelivered: both stages' outputs are re-emitted as recorded.
	if _, out, re, err := step(st.Handle, raw, in(2, "2"), -1); err != nil || !re || len(out) != 2 || string(out[1].Value) != "2" {
		t.Fatalf("redelivery: %v %v %v", out, re, err)
	}
}

func TestFuseRefusesMismatchedStages(t *testing.T) {
	if _, err := Fuse(counting(), summing()); err == nil {
		t.Fatal("fused a stage whose input the upstream does not emit")
	}
	rekey := summing()
	rekey.Handle = func(s int, in Input) (int, []Output, error) {
		return s, []Output{{Topic: "totals", Key: "other", Value: in.Value}}, nil
	}
	st, err := Fuse(rekey, counting())
	if err != nil {
		t.Fatal(err)
	}
	// The downstream would fold another key's output into this key's
	// state: a bug, never an output.
	if _, out, _, err := step(st.Handle, nil, in(0, "1"), -1); err == nil || out != nil {
		t.Fatalf("re-keyed output fused: %v %v", out, err)
	}
}

func TestFuseUpstreamDuplicateSkipsDownstream(t *testing.T) {
	up := summing()
	up.Handle = func(s int, in Input) (int, []Output, error) {
		if string(in.Value) == "dup" {
			return s + 100, nil, ErrDuplicate
		}
		return sum(s, in)
	}
	st, err := Fuse(up, counting())
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _, _ := step(st.Handle, nil, in(0, "1"), -1)
	raw, out, _, err := step(st.Handle, raw, in(1, "dup"), -1)
	if !errors.Is(err, ErrDuplicate) || out != nil {
		t.Fatalf("duplicate: %v %v", out, err)
	}
	s, _ := DecodeState[Fused[int, map[string]int]](raw)
	if s.Up != 101 || len(s.Down) != 1 {
		t.Fatalf("state after a duplicate %+v: up keeps what it returned, down is untouched", s)
	}
}

// The cache hands a key's decoded state back only for the record it was
// decoded from: a record written by anyone else is decoded afresh.
func TestStateCacheOnlyForItsRecord(t *testing.T) {
	c := newStateCache[map[string]int]()
	h := Handler[map[string]int](func(s map[string]int, in Input) (map[string]int, []Output, error) {
		if s == nil {
			s = map[string]int{}
		}
		s[in.Key]++ // changes the state it was given, as handlers may
		return s, []Output{{Topic: "n", Key: in.Key, Value: []byte(strconv.Itoa(s[in.Key]))}}, nil
	})
	raw, _, _, err := stepCached(h, c, nil, in(0, "a"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := c.record("k"); !ok || string(r) != string(raw) {
		t.Fatal("written record not cached")
	}
	// Another writer's record for the key (a rebalance handed it back).
	state, _ := json.Marshal(map[string]int{"k": 41})
	other := rawRecord{next: 5, state: state}.encode()
	_, out, _, err := stepCached(h, c, other, in(5, "b"), -1)
	if err != nil || string(out[0].Value) != "42" {
		t.Fatalf("record of another writer: %v %v, want 42 from its state", out, err)
	}
	c.clear()
	if _, ok := c.record("k"); ok {
		t.Fatal("cleared cache still has the key")
	}
}

// A record an unfused stage wrote (its state alone) must not read as an
// empty fused state: the stage stops with the reason instead.
func TestFusedStateRefusesAnUnfusedRecord(t *testing.T) {
	old, _, _, err := step(summing().Handle, nil, in(0, "5"), -1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Fuse(summing(), counting())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := step(st.Handle, old, in(1, "1"), -1); !errors.Is(err, ErrUnfusedState) {
		t.Fatalf("unfused record read as fused: %v", err)
	}
	// A fused record whose downstream has no state yet is fine.
	var f Fused[int, map[string]int]
	if err := json.Unmarshal([]byte(`{"up":5}`), &f); err != nil || f.Up != 5 || f.Down != nil {
		t.Fatalf("%+v %v", f, err)
	}
}
