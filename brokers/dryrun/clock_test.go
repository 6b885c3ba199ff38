package dryrun

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
)

func placedAt(id string, at time.Time) brokers.Order {
	o := order(id)
	o.PlacedAt = at
	return o
}

// TestClockRule: which time an order is stamped with, per clock and age of
// the event that placed it, and that it then fills at that time plus the
// delay, never before it was placed.
func TestClockRule(t *testing.T) {
	const delay = 2 * time.Second
	history := time.Date(2025, 11, 4, 14, 30, 5, 0, time.UTC) // the sample's day
	recent := t0.Add(-time.Minute)
	cases := []struct {
		clock    Clock
		placedAt time.Time
		want     time.Time // stamped (accepted) time
	}{
		{ClockAuto, history, history},
		{ClockAuto, t0.Add(-market.HistoricalAfter - time.Second), t0.Add(-market.HistoricalAfter - time.Second)},
		{ClockAuto, t0.Add(-market.HistoricalAfter), t0}, // at the bound: still live
		{ClockAuto, recent, t0},
		{ClockAuto, time.Time{}, t0},
		{"", history, history}, // the default is auto
		{ClockEvent, history, history},
		{ClockEvent, recent, recent},
		{ClockEvent, time.Time{}, t0}, // unknown event time: wall
		{ClockWall, history, t0},
		{ClockWall, recent, t0},
	}
	for i, c := range cases {
		clk := &fakeClock{t: t0}
		b := open(t, Config{Now: clk.Now, FillDelay: delay, Clock: c.clock})
		p := place(t, b, placedAt("exec-1", c.placedAt))
		if !p.AcceptedAt.Equal(c.want) {
			t.Errorf("case %d: clock %q, placed at %s: accepted at %s, want %s", i, c.clock, c.placedAt, p.AcceptedAt, c.want)
			continue
		}
		st, err := b.Status(ctx, p.BrokerOrderID)
		if err != nil {
			t.Fatal(err)
		}
		fillAt := c.want.Add(delay)
		if fillAt.After(t0) { // not yet due on the wall clock
			if st.State != brokers.StateSubmitted {
				t.Errorf("case %d: %s before its fill time %s: %+v", i, st.State, fillAt, st)
			}
			clk.Advance(fillAt.Sub(t0))
			st, _ = b.Status(ctx, p.BrokerOrderID)
		}
		if st.State != brokers.StateFilled || !st.UpdatedAt.Equal(fillAt) {
			t.Errorf("case %d: clock %q: %s at %s, want filled at %s", i, c.clock, st.State, st.UpdatedAt, fillAt)
		}
		if !c.placedAt.IsZero() && st.UpdatedAt.Before(c.placedAt) {
			t.Errorf("case %d: filled at %s, before it was placed at %s", i, st.UpdatedAt, c.placedAt)
		}
	}
}

// TestEventClockReplayEqualsLive: the same order placed by a replay long
// after the fact and by a live run gets the same times, and a retry or
// another instance sharing the ledger answers with the first stamp.
func TestEventClockReplayEqualsLive(t *testing.T) {
	placed := time.Date(2025, 11, 4, 14, 30, 5, 0, time.UTC)
	fill := placed.Add(time.Second)
	var got []time.Time
	for _, now := range []time.Time{placed.Add(100 * time.Millisecond), placed.Add(400 * 24 * time.Hour)} {
		clk := &fakeClock{t: now}
		b := open(t, Config{Now: clk.Now, FillDelay: time.Second, Clock: ClockEvent, Ledger: ledgerPath(t)})
		p := place(t, b, placedAt("exec-1", placed))
		clk.Advance(2 * time.Second)
		st, err := b.Status(ctx, p.BrokerOrderID)
		if err != nil || st.State != brokers.StateFilled {
			t.Fatalf("now %s: %+v, %v", now, st, err)
		}
		got = append(got, p.AcceptedAt, st.UpdatedAt)
	}
	if !got[0].Equal(placed) || !got[1].Equal(fill) || !got[2].Equal(placed) || !got[3].Equal(fill) {
		t.Fatalf("live then replay: accepted/filled %v, want %s/%s both times", got, placed, fill)
	}

	path := filepath.Join(t.TempDir(), "shared.jsonl")
	a := open(t, Config{Ledger: path, Clock: ClockAuto})
	first := place(t, a, placedAt("exec-2", placed))
	b := open(t, Config{Ledger: path, Clock: ClockWall, Now: (&fakeClock{t: t0.Add(time.Hour)}).Now})
	again := place(t, b, placedAt("exec-2", placed))
	k, err := b.Find(ctx, "exec-2")
	if err != nil || !again.Existing || !again.AcceptedAt.Equal(first.AcceptedAt) || !k.AcceptedAt.Equal(placed) {
		t.Fatalf("first %+v, again %+v, found %+v, %v: want the first stamp %s", first, again, k, err, placed)
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]Clock{"": ClockAuto, "auto": ClockAuto, "event": ClockEvent, "wall": ClockWall} {
		if c, err := ParseClock(in); err != nil || c != want {
			t.Errorf("ParseClock(%q) = %q, %v", in, c, err)
		}
	}
	if _, err := ParseClock("block"); err == nil {
		t.Error("ParseClock(block): no error")
	}
	if err := (Config{Clock: "utc"}).Validate(); err == nil {
		t.Error("Validate accepted clock utc")
	}
}
