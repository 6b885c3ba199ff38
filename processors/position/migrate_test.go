package position

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// migrated is AAPL migrated at net 10 (legacy long 10), threshold 1 share.
func migrated(pending *MigratedPending) Migrated {
	return Migrated{Symbol: aapl, NetPosition: dec("10"), AccumulatedLong: dec("10"), AccumulatedShort: dec("0"),
		Threshold: shares("1"), Execution: schwab, Pending: pending, MigratedAt: t0}
}

// history is a legacy on-chain fill of AAPL at a, its source id derived
// from the time so each instant names one fill.
func history(dir market.Direction, amount, price string, a time.Time) RecordMigratedFill {
	return RecordMigratedFill{Symbol: aapl, Venue: VenueOnChain, SourceID: tx(uint64(a.Unix())) + ":1", Direction: dir,
		Amount: dec(amount), PriceUSDC: dec(price), At: a}
}

func recorded(c RecordMigratedFill) MigratedFillRecorded {
	return MigratedFillRecorded{Symbol: c.Symbol, Venue: c.Venue, SourceID: c.SourceID, Direction: c.Direction,
		Amount: c.Amount, PriceUSDC: c.PriceUSDC, At: c.At, RecordedAt: at}
}

func TestMigrateWithPendingReservesTheHedge(t *testing.T) {
	p := &MigratedPending{ExecutionID: "L-7", Shares: dec("4"), Direction: market.Sell}
	cmd := Migrate{Symbol: aapl, NetPosition: dec("10"), AccumulatedLong: dec("10"), AccumulatedShort: dec("0"),
		Threshold: shares("1"), Execution: schwab, Pending: p}
	l, got, err := when(given(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, Migrated{Symbol: aapl, NetPosition: dec("10"), AccumulatedLong: dec("10"), AccumulatedShort: dec("0"),
		Threshold: shares("1"), Execution: schwab, Pending: p, MigratedAt: at})
	s := mustLive(t, l)
	if s.Pending == nil || !s.Pending.Reserved || s.Pending.ExecutionID != "L-7" || !s.Migrated {
		t.Fatalf("state %+v, want the reserved pending L-7", s)
	}
	// The reserved hedge blocks a new one: a fill over threshold places nothing.
	_, got, err = when(l, fill(1, market.Buy, "5", "150"))
	if err != nil || len(got) != 1 {
		t.Fatalf("fill with a reserved hedge pending: %v, %s", err, render(t, got))
	}
	for _, bad := range []MigratedPending{
		{Shares: dec("1"), Direction: market.Sell},
		{ExecutionID: "L", Shares: dec("0"), Direction: market.Sell},
		{ExecutionID: "L", Shares: dec("1"), Direction: "Hold"},
	} {
		cmd.Pending = &bad
		if _, _, err := when(given(), cmd); !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), "pending.") {
			t.Errorf("%+v: err %v, want ErrInvalidCommand naming pending.*", bad, err)
		}
	}
}

// The legacy net counted the reserved hedge when the bot placed it: its
// fill does not move net again, what it left unfilled goes back, and a
// failure gives all of it back. Net = migrated net + on-chain volume +
// HedgedShares holds throughout.
func TestReservedHedgeOutcomes(t *testing.T) {
	p := &MigratedPending{ExecutionID: "L-7", Shares: dec("4"), Direction: market.Sell}
	for _, tc := range []struct {
		name   string
		cmd    aggregate.Command
		net    string
		hedged string
	}{
		{"filled", complete("L-7", "4", market.Sell, "150"), "10", "0"},
		{"partly filled", complete("L-7", "3", market.Sell, "150"), "11", "1"},
		{"failed", FailOffChainOrder{ExecutionID: "L-7", Error: "rejected"}, "14", "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, got, err := when(given(migrated(p)), tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			s := mustLive(t, l)
			if !s.Net.Equal(dec(tc.net)) || !s.HedgedShares.Equal(dec(tc.hedged)) {
				t.Fatalf("net %s hedged %s, want %s %s", s.Net, s.HedgedShares, tc.net, tc.hedged)
			}
			if !s.Net.Equal(dec("10").Add(s.HedgedShares)) {
				t.Fatalf("net %s != migrated 10 + hedged %s", s.Net, s.HedgedShares)
			}
			// Over threshold with nothing pending: the position hedges what is left.
			if last, ok := got[len(got)-1].(OffChainOrderPlaced); !ok || !last.Shares.Equal(dec(tc.net)) || s.Pending.Reserved {
				t.Fatalf("events %s, want a new hedge of %s", render(t, got), tc.net)
			}
		})
	}
	// An outcome for another execution is refused as for any hedge.
	if _, _, err := when(given(migrated(p)), complete("X", "4", market.Sell, "150")); !errors.Is(err, ErrExecutionIDMismatch) {
		t.Fatalf("err %v, want ErrExecutionIDMismatch", err)
	}
}

func TestRecordMigratedFill(t *testing.T) {
	c := history(market.Buy, "10", "150.5", t0.Add(-time.Hour))
	l, got, err := when(given(migrated(nil)), c)
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, recorded(c))
	s := mustLive(t, l)
	if !s.Net.Equal(dec("10")) || !s.AccumulatedLong.Equal(dec("10")) || !s.HedgedShares.IsZero() || s.Pending != nil {
		t.Fatalf("history moved the position: %+v", s)
	}
	if s.History == nil || s.History.Count != 1 {
		t.Fatalf("history mark %+v", s.History)
	}
	if s.LastPriceUSDC == nil || !s.LastPriceUSDC.Equal(dec("150.5")) {
		t.Fatalf("last price %v, want the legacy on-chain fill's 150.5", s.LastPriceUSDC)
	}
	// A hedge fill from the legacy broker is not an on-chain price.
	off := c
	off.Venue, off.SourceID, off.PriceUSDC, off.At = VenueOffChain, "legacy-order", dec("151"), c.At.Add(time.Minute)
	l, _, err = when(l, off)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustLive(t, l); !s.LastPriceUSDC.Equal(dec("150.5")) {
		t.Fatalf("last price %v after an off-chain legacy fill, want 150.5", s.LastPriceUSDC)
	}
}

func TestRecordMigratedFillRepeatIsANoOp(t *testing.T) {
	a, b := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	first, second := history(market.Buy, "10", "150", a), history(market.Sell, "4", "151", b)
	tie := second
	tie.Venue, tie.SourceID = VenueOffChain, "exec-1"
	l := given(migrated(nil), recorded(first), recorded(second), recorded(tie))
	for _, c := range []RecordMigratedFill{first, second, tie} {
		if _, got, err := when(l, c); err != nil || len(got) != 0 {
			t.Fatalf("repeat of %s: %v, %s", c.SourceID, err, render(t, got))
		}
	}
	// Another fill at the same instant is new.
	other := tie
	other.SourceID = "exec-2"
	if _, got, err := when(l, other); err != nil || len(got) != 1 {
		t.Fatalf("new fill at the newest instant: %v, %s", err, render(t, got))
	}
	// A repeat is a no-op even after live fills (a re-run after the cut-over).
	live := given(migrated(nil), recorded(first), filled(1, market.Buy, "1", "150"))
	if _, got, err := when(live, first); err != nil || len(got) != 0 {
		t.Fatalf("repeat after a live fill: %v, %s", err, render(t, got))
	}
}

func TestRecordMigratedFillRefusals(t *testing.T) {
	past := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		l    aggregate.Lifecycle[State]
		want error
	}{
		{"uninitialized", given(), aggregate.ErrUninitialized},
		{"not migrated", given(initialized(shares("1"), schwab)), ErrNotMigrated},
		{"after an on-chain fill", given(migrated(nil), filled(1, market.Buy, "1", "150")), ErrHistoryAfterLiveFill},
		{"after a hedge fill", given(migrated(nil), placed("X", "1", market.Sell), offFilled("X", "1", market.Sell)), ErrHistoryAfterLiveFill},
	} {
		if _, _, err := when(tc.l, history(market.Buy, "1", "150", past)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	msft := history(market.Buy, "1", "150", past)
	msft.Symbol = "MSFT"
	if _, _, err := when(given(migrated(nil)), msft); !errors.Is(err, ErrSymbolMismatch) {
		t.Errorf("other symbol: err %v", err)
	}
}

func TestRecordMigratedFillValidatesFields(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*RecordMigratedFill)
	}{
		{"symbol", func(c *RecordMigratedFill) { c.Symbol = "tAAPL" }},
		{"venue", func(c *RecordMigratedFill) { c.Venue = "dex" }},
		{"source_id", func(c *RecordMigratedFill) { c.SourceID = "" }},
		{"direction", func(c *RecordMigratedFill) { c.Direction = "" }},
		{"amount", func(c *RecordMigratedFill) { c.Amount = dec("0") }},
		{"amount", func(c *RecordMigratedFill) { c.Amount = dec("-1") }},
		{"price_usdc", func(c *RecordMigratedFill) { c.PriceUSDC = dec("-150") }},
		{"at", func(c *RecordMigratedFill) { c.At = time.Time{} }},
	} {
		c := history(market.Buy, "1", "150", t0)
		tc.edit(&c)
		_, _, err := when(given(migrated(nil)), c)
		if !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err %v, want ErrInvalidCommand naming it", tc.field, err)
		}
	}
}

// A recorded event that breaks a rule Decide enforces fails the lifecycle
// instead of corrupting the state.
func TestMigratedFillRecordedEvolveGuards(t *testing.T) {
	c := history(market.Buy, "1", "150", t0)
	for name, l := range map[string]aggregate.Lifecycle[State]{
		"not migrated": given(initialized(shares("1"), schwab), recorded(c)),
		"after live":   given(migrated(nil), filled(1, market.Buy, "1", "150"), recorded(c)),
		"repeat":       given(migrated(nil), recorded(c), recorded(c)),
	} {
		if l.Status != aggregate.Failed {
			t.Errorf("%s: status %q, want failed", name, l.Status)
		}
	}
}
