package pnl

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/hedgeline/hedgeline/market"
)

func TestRevertIsTheOppositeAtTheSamePrice(t *testing.T) {
	f := fill(3, Onchain, market.Buy, "3", "100")
	r := Revert(f)
	if r.Direction != market.Sell || !r.Revert || !r.Quantity.Equal(d("3")) || !r.Price.Equal(d("100")) || f.Revert {
		t.Fatalf("revert %+v of %+v", r, f)
	}
}

// The reverted fill's lot is still open: it is closed at cost, no PnL.
func TestRevertOfAnOpenLot(t *testing.T) {
	b, _ := applyAll(t, NewBook("AAPL"), fill(1, Onchain, market.Buy, "2", "110"), fill(2, Onchain, market.Buy, "3", "100"))
	b, r := applyAll(t, b, Revert(fill(3, Onchain, market.Buy, "3", "100")))
	// FIFO closes the older 110 lot first: -20 realized now, and the
	// remaining lot (2 at 100) makes up for it when it closes.
	if !r[0].RealizedPnL.Equal(d("-20")) || !r[0].Revert || r[0].Direction != market.Sell || !b.Net().Equal(d("2")) {
		t.Fatalf("record %+v net %s", r[0], b.Net())
	}
	b, _ = applyAll(t, b, fill(4, Offchain, market.Sell, "2", "120"))
	// Without the reverted fill: buy 2 at 110, sell 2 at 120 = +20.
	if !b.Cumulative.Equal(d("20")) || !b.Net().IsZero() {
		t.Fatalf("cumulative %s net %s", b.Cumulative, b.Net())
	}
}

// The brief's case: a hedge had already closed part of the reverted lot.
// Removing the remaining lot would keep the hedge's +10 and leave the book
// flat while the position is short 2; the opposite fill keeps both right.
func TestRevertOfAPartiallyClosedLot(t *testing.T) {
	b, _ := applyAll(t, NewBook("AAPL"),
		fill(1, Onchain, market.Buy, "3", "100"),   // reverted later
		fill(2, Offchain, market.Sell, "2", "105"), // its hedge: +10
	)
	rev := Revert(fill(3, Onchain, market.Buy, "3", "100"))
	b, r := applyAll(t, b, rev)
	if !r[0].RealizedPnL.IsZero() || !b.Net().Equal(d("-2")) || !b.Cumulative.Equal(d("10")) {
		t.Fatalf("record %+v net %s cumulative %s", r[0], b.Net(), b.Cumulative)
	}
	if len(b.Lots) != 1 || b.Lots[0].Direction != market.Sell || !b.Lots[0].Price.Equal(d("100")) {
		t.Fatalf("lots %+v", b.Lots)
	}
	b, _ = applyAll(t, b, fill(4, Offchain, market.Buy, "2", "106")) // the hedge back
	// Without the reverted fill: sell 2 at 105, buy 2 at 106 = -2.
	if !b.Cumulative.Equal(d("-2")) || !b.Net().IsZero() {
		t.Fatalf("cumulative %s net %s, want -2 flat", b.Cumulative, b.Net())
	}
}

func TestRevertOfAFullyClosedLot(t *testing.T) {
	b, _ := applyAll(t, NewBook("AAPL"),
		fill(1, Onchain, market.Buy, "3", "100"),
		fill(2, Offchain, market.Sell, "3", "105"),
		Revert(fill(3, Onchain, market.Buy, "3", "100")),
		fill(4, Offchain, market.Buy, "3", "106"),
	)
	if !b.Cumulative.Equal(d("-3")) || !b.Net().IsZero() {
		t.Fatalf("cumulative %s net %s, want -3 flat", b.Cumulative, b.Net())
	}
}

// Whatever the fills and whichever one is reverted later, once the book is
// flat its realized PnL is the reference FIFO's over the fills without the
// reverted one, and the net always is.
func TestPropertyRevertEqualsNeverFilled(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "fills")
		var fills []Fill
		for range n {
			fills = append(fills, Fill{
				Venue:     rapid.SampledFrom([]Venue{Onchain, Offchain}).Draw(t, "venue"),
				Direction: rapid.SampledFrom([]market.Direction{market.Buy, market.Sell}).Draw(t, "dir"),
				Quantity:  genDecimal(t, "qty", 30000, 2), Price: genDecimal(t, "price", 100000, 2),
				OccurredAt: time.Unix(1762266600, 0),
			})
		}
		gone := rapid.IntRange(0, n-1).Draw(t, "reverted")
		at := rapid.IntRange(gone+1, n).Draw(t, "reverted after") // the revert comes after fill at-1
		book, ref := NewBook("AAPL"), NewReferenceFIFO()
		var seq uint64
		apply := func(f Fill) {
			seq++
			f.Sequence = seq
			next, _, err := book.Apply(f)
			if err != nil {
				t.Fatal(err)
			}
			book = next
		}
		for i, f := range fills {
			if i == at {
				apply(Revert(fills[gone]))
			}
			apply(f)
			if i != gone {
				ref.Trade(sign(f.Direction), rat(f.Quantity), rat(f.Price))
			}
		}
		if at == n {
			apply(Revert(fills[gone]))
		}
		// Flatten both the same way.
		if net := book.Net(); !net.IsZero() {
			dir := market.Buy
			if net.IsPositive() {
				dir = market.Sell
			}
			flat := Fill{Venue: Offchain, Direction: dir, Quantity: net.Abs(), Price: genDecimal(t, "flat", 100000, 2), OccurredAt: time.Unix(1762266600, 0)}
			apply(flat)
			ref.Trade(sign(dir), rat(flat.Quantity), rat(flat.Price))
		}
		if ref.Net().Sign() != 0 {
			t.Fatalf("reference net %s after flattening", ref.Net().FloatString(6))
		}
		if got := book.Cumulative.Rat(); got.Cmp(ref.total) != 0 {
			t.Fatalf("cumulative %s, reference without the reverted fill %s", book.Cumulative, ref.total.FloatString(6))
		}
	})
}

func sign(d market.Direction) int {
	if d == market.Buy {
		return 1
	}
	return -1
}
