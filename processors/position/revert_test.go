package position

import (
	"errors"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// revertOf is the revert of fill n as the trade manager derives it.
func revertOf(n uint64, dir market.Direction, amount, price string) RevertOnChainFill {
	return RevertOnChainFill{Symbol: "tAAPL", TradeID: trade(n), BlockNumber: n, Amount: dec(amount),
		Direction: dir, PriceUSDC: dec(price), Reason: "reorg"}
}

func reverted(n uint64, dir market.Direction, amount, price string) OnChainFillReverted {
	return OnChainFillReverted{TradeID: trade(n), BlockNumber: n, Amount: dec(amount), Direction: dir,
		PriceUSDC: dec(price), Reason: "reorg", RevertedAt: at}
}

// A reverted Buy of 3 after its hedge Sell of 3: net -3, hedged back by a Buy.
func TestRevertMovesNetBackAndHedgesBack(t *testing.T) {
	id := ExecutionID(aapl, 3)
	l := given(initialized(shares("1"), schwab), filled(1, market.Buy, "3", "100"),
		placed(id, "3", market.Sell), offFilled(id, "3", market.Sell))
	wantNet(t, l, "0")
	l, got, err := when(l, revertOf(1, market.Buy, "3", "100"))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, reverted(1, market.Buy, "3", "100"),
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 6), Symbol: aapl, Shares: dec("3"), Direction: market.Buy,
			Broker: market.Schwab, ReferencePrice: ptr(dec("100")), PlacedAt: at,
			TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("-3"), ThresholdShares: ptr(dec("1"))}})
	s := mustLive(t, l)
	wantNet(t, l, "-3")
	if !s.AccumulatedLong.IsZero() || !s.HedgedShares.Equal(dec("-3")) || s.LastFill != nil {
		t.Fatalf("long %s hedged %s watermark %+v", s.AccumulatedLong, s.HedgedShares, s.LastFill)
	}
}

func TestRevertWhileAHedgeIsPendingWaitsForIt(t *testing.T) {
	id := ExecutionID(aapl, 3)
	l := given(initialized(shares("1"), schwab), filled(1, market.Buy, "3", "100"), placed(id, "3", market.Sell))
	l, got, err := when(l, revertOf(1, market.Buy, "3", "100"))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, reverted(1, market.Buy, "3", "100")) // one hedge at a time
	wantNet(t, l, "0")
	_, got, err = when(l, complete(id, "3", market.Sell, "101"))
	if err != nil || len(got) != 2 || got[1].(OffChainOrderPlaced).Direction != market.Buy {
		t.Fatalf("after the hedge filled: %v %s", err, render(t, got))
	}
}

func TestRevertTwiceIsAlreadyReverted(t *testing.T) {
	l := given(initialized(shares("10"), schwab), filled(1, market.Buy, "3", "100"), reverted(1, market.Buy, "3", "100"))
	_, got, err := when(l, revertOf(1, market.Buy, "3", "100"))
	if !errors.Is(err, ErrFillAlreadyReverted) || got != nil {
		t.Fatalf("err %v events %v", err, got)
	}
}

func TestRevertOfAFillNeverAppliedIsRefused(t *testing.T) {
	l := given(initialized(shares("10"), schwab), filled(2, market.Buy, "3", "100"))
	for name, c := range map[string]RevertOnChainFill{
		"beyond the watermark": revertOf(3, market.Buy, "3", "100"),
		"refused out of order": revertOf(1, market.Buy, "3", "100"), // below the watermark, never applied
	} {
		t.Run(name, func(t *testing.T) {
			_, got, err := when(l, c)
			var nae *FillNotAppliedError
			if !errors.As(err, &nae) || !errors.Is(err, ErrFillNotApplied) || got != nil || nae.TradeID != c.TradeID {
				t.Fatalf("err %v events %v", err, got)
			}
		})
	}
	_, _, err := when(given(), revertOf(1, market.Buy, "3", "100"))
	if !errors.Is(err, aggregate.ErrUninitialized) {
		t.Fatalf("revert on no position: %v", err)
	}
}

func TestRevertMustRepeatTheAppliedFill(t *testing.T) {
	l := given(initialized(shares("10"), schwab), filled(1, market.Buy, "3", "100"))
	for name, c := range map[string]RevertOnChainFill{
		"amount":    revertOf(1, market.Buy, "2", "100"),
		"direction": revertOf(1, market.Sell, "3", "100"),
		"price":     revertOf(1, market.Buy, "3", "101"),
		"trade": func() RevertOnChainFill { // another tx at the same place
			c := revertOf(1, market.Buy, "3", "100")
			c.TradeID.TxHash = tx(99)
			return c
		}(),
		"incarnation": func() RevertOnChainFill {
			c := revertOf(1, market.Buy, "3", "100")
			c.FillSequence = 3
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := when(l, c); !errors.Is(err, ErrRevertMismatch) {
				t.Fatalf("err %v", err)
			}
		})
	}
	c := revertOf(1, market.Buy, "3", "100")
	c.BlockNumber = 2 // nothing applied there
	if _, _, err := when(l, c); !errors.Is(err, ErrFillNotApplied) {
		t.Fatalf("another block: %v", err)
	}
	c = revertOf(1, market.Buy, "3", "100")
	c.Reason = ""
	if _, _, err := when(l, c); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("no reason: %v", err)
	}
}

// The canonical chain after the fork holds the same transaction again: the
// watermark moved back, so the fill is accepted; as a new incarnation it
// has its own fill sequence, and a late repeat of the first revert does not
// withdraw it.
func TestFillAgainAfterRevert(t *testing.T) {
	l := given(initialized(shares("10"), schwab), filled(1, market.Buy, "1", "100"),
		filled(2, market.Buy, "3", "100"), filled(3, market.Sell, "1", "100"))
	var err error
	for _, n := range []uint64{2, 3} { // chain order: the watermark stays until both are gone
		dir, amt := market.Buy, "3"
		if n == 3 {
			dir, amt = market.Sell, "1"
		}
		if l, _, err = when(l, revertOf(n, dir, amt, "100")); err != nil {
			t.Fatal(err)
		}
	}
	wantNet(t, l, "1")
	if w := l.State.LastFill; w == nil || w.BlockNumber != 1 {
		t.Fatalf("watermark %+v, want fill 1", w)
	}
	// Same trade id, same block (the block was replaced): accepted again.
	again := fill(2, market.Buy, "3", "100")
	again.FillSequence = 4
	if l, _, err = when(l, again); err != nil {
		t.Fatal(err)
	}
	wantNet(t, l, "4")
	if _, _, err := when(l, revertOf(2, market.Buy, "3", "100")); !errors.Is(err, ErrFillAlreadyReverted) {
		t.Fatalf("late repeat of the first revert: %v", err)
	}
	r := revertOf(2, market.Buy, "3", "100")
	r.FillSequence = 4
	if l, _, err = when(l, r); err != nil {
		t.Fatal(err)
	}
	wantNet(t, l, "1")
}

func TestRevertWindowIsBounded(t *testing.T) {
	events := []aggregate.Event{initialized(shares("1000"), schwab)}
	n := uint64(RevertWindowFills + 8)
	for i := uint64(1); i <= n; i++ {
		events = append(events, filled(i, market.Buy, "1", "100"))
	}
	l := given(events...)
	s := mustLive(t, l)
	if len(s.Revertible) != RevertWindowFills || s.Settled == nil || s.Settled.BlockNumber != 8 {
		t.Fatalf("window %d settled %+v", len(s.Revertible), s.Settled)
	}
	if _, _, err := when(l, revertOf(8, market.Buy, "1", "100")); !errors.Is(err, ErrFillNotApplied) {
		t.Fatalf("revert of a settled fill: %v", err)
	}
	if _, _, err := when(l, revertOf(9, market.Buy, "1", "100")); err != nil {
		t.Fatalf("revert of the oldest revertible fill: %v", err)
	}
	// A block far ahead settles the whole window.
	far := given(append(events, filled(n+RevertWindowBlocks+1, market.Buy, "1", "100"))...)
	if w := far.State.Revertible; len(w) != 1 || far.State.Settled.BlockNumber != n {
		t.Fatalf("window %d settled %+v", len(w), far.State.Settled)
	}
}

func TestRevertOfAllWindowFillsFallsBackToSettled(t *testing.T) {
	events := []aggregate.Event{initialized(shares("1000"), schwab)}
	n := uint64(RevertWindowFills + 2)
	for i := uint64(1); i <= n; i++ {
		events = append(events, filled(i, market.Buy, "1", "100"))
	}
	for i := n; i > 2; i-- { // newest first
		events = append(events, reverted(i, market.Buy, "1", "100"))
	}
	l := given(events...)
	wantNet(t, l, "2")
	if w := l.State.LastFill; w == nil || w.BlockNumber != 2 {
		t.Fatalf("watermark %+v, want the settled fill 2", w)
	}
	// A new fill after that keeps the settled watermark for the next fork.
	l = given(append(events, filled(3, market.Sell, "1", "100"))...)
	wantNet(t, l, "1")
	if l.State.Settled == nil || l.State.Settled.BlockNumber != 2 {
		t.Fatalf("settled %+v", l.State.Settled)
	}
}

func TestEvolveRevertOfUnknownFillFailsThePosition(t *testing.T) {
	l := given(initialized(shares("10"), schwab), filled(1, market.Buy, "3", "100"), reverted(2, market.Buy, "3", "100"))
	if l.Status != aggregate.Failed {
		t.Fatalf("status %q", l.Status)
	}
}
