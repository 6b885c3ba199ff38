package pnl

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"github.com/hedgeline/hedgeline/market"
)

// ReferenceFIFO is an independent FIFO used only as a test oracle. It
// shares no code with Book: rationals (math/big.Rat) instead of
// shopspring decimals, one side flag for the whole position instead of a
// direction per lot, and an explicit head-of-queue loop.
type ReferenceFIFO struct {
	side  int      // +1 long, -1 short, 0 flat
	queue []refLot // oldest first; quantities > 0
	total *big.Rat // cumulative realized
	// byBucket is the realized P&L of the last Trade per attribution
	// bucket: 0 counter trade, 1 on-chain netting, 2 directional.
	byBucket [3]*big.Rat
}

type refLot struct {
	qty, price *big.Rat
	onchain    bool
	at         int64 // unix seconds the lot was opened
}

func NewReferenceFIFO() *ReferenceFIFO { return &ReferenceFIFO{total: new(big.Rat)} }

// Trade books a fill of sign s (+1 buy, -1 sell) and returns the realized
// P&L of that fill.
func (r *ReferenceFIFO) Trade(s int, qty, price *big.Rat) *big.Rat {
	return r.TradeAt(s, qty, price, false, 0)
}

// TradeAt is Trade with the fill's venue and time, for attribution.
func (r *ReferenceFIFO) TradeAt(s int, qty, price *big.Rat, onchain bool, at int64) *big.Rat {
	r.byBucket = [3]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat)}
	realized := new(big.Rat)
	remaining := new(big.Rat).Set(qty)
	if r.side == -s {
		for remaining.Sign() > 0 && len(r.queue) > 0 {
			head := r.queue[0]
			m := head.qty
			if remaining.Cmp(m) < 0 {
				m = remaining
			}
			m = new(big.Rat).Set(m)
			// long: (exec - cost) * m; short: (cost - exec) * m
			gain := new(big.Rat).Sub(price, head.price)
			gain.Mul(gain, m)
			if r.side < 0 {
				gain.Neg(gain)
			}
			realized.Add(realized, gain)
			bucket := 2
			switch {
			case head.onchain && onchain:
				bucket = 1
			case head.onchain && at-head.at <= 300:
				bucket = 0
			}
			r.byBucket[bucket].Add(r.byBucket[bucket], gain)
			remaining.Sub(remaining, m)
			left := new(big.Rat).Sub(head.qty, m)
			if left.Sign() == 0 {
				r.queue = r.queue[1:]
			} else {
				r.queue[0] = refLot{qty: left, price: head.price, onchain: head.onchain, at: head.at}
			}
		}
		if len(r.queue) == 0 {
			r.side = 0
		}
	}
	if remaining.Sign() > 0 {
		r.side = s
		r.queue = append(r.queue, refLot{qty: remaining, price: new(big.Rat).Set(price), onchain: onchain, at: at})
	}
	r.total.Add(r.total, realized)
	return realized
}

// CostBasis is the signed cost of the open lots.
func (r *ReferenceFIFO) CostBasis() *big.Rat {
	c := new(big.Rat)
	for _, l := range r.queue {
		c.Add(c, new(big.Rat).Mul(l.qty, l.price))
	}
	if r.side < 0 {
		c.Neg(c)
	}
	return c
}

// Net is the signed size of the position.
func (r *ReferenceFIFO) Net() *big.Rat {
	n := new(big.Rat)
	for _, l := range r.queue {
		n.Add(n, l.qty)
	}
	if r.side < 0 {
		n.Neg(n)
	}
	return n
}

func rat(v decimal.Decimal) *big.Rat { return v.Rat() }

// genDecimal draws n * 10^-k with n in [1, maxN] and k in [0, maxK].
func genDecimal(t *rapid.T, label string, maxN int64, maxK int) decimal.Decimal {
	n := rapid.Int64Range(1, maxN).Draw(t, label+"_n")
	k := rapid.IntRange(0, maxK).Draw(t, label+"_k")
	return decimal.New(n, int32(-k))
}

func TestPropertyFIFOMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		book := NewBook("AAPL")
		ref := NewReferenceFIFO()
		signedSum := decimal.Zero
		realizedSum := decimal.Zero
		var seq uint64
		var clock int64

		type kept struct {
			book Book
			json string
		}
		var history []kept

		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			dir := rapid.SampledFrom([]market.Direction{market.Buy, market.Sell}).Draw(t, "dir")
			qty := genDecimal(t, "qty", 300000, 4)
			// Often trade exactly the open position (or a multiple), to hit
			// flat books and exact reversals.
			if net := book.Net(); !net.IsZero() && rapid.IntRange(0, 3).Draw(t, "exact") == 0 {
				mult := rapid.SampledFrom([]int64{1, 1, 2}).Draw(t, "mult")
				qty = net.Abs().Mul(decimal.NewFromInt(mult))
				if net.IsPositive() {
					dir = market.Sell
				} else {
					dir = market.Buy
				}
			}
			price := genDecimal(t, "price", 100000000, 6)
			seq += uint64(rapid.IntRange(1, 3).Draw(t, "gap"))
			clock += int64(rapid.IntRange(0, 240).Draw(t, "secs"))
			f := Fill{
				Venue:     rapid.SampledFrom([]Venue{Onchain, Offchain}).Draw(t, "venue"),
				Direction: dir,
				Quantity:  qty,
				Price:     price,
				Sequence:  seq,
				// Steps of up to 4 minutes: hedges land on both sides of the
				// 300 s counter-trade window.
				OccurredAt: time.Unix(1762266600+clock, 0),
			}

			raw, err := json.Marshal(book)
			if err != nil {
				t.Fatal(err)
			}
			history = append(history, kept{book, string(raw)})
			// Sometimes continue from the table round trip instead.
			if rapid.Bool().Draw(t, "roundtrip") {
				var back Book
				if err := json.Unmarshal(raw, &back); err != nil {
					t.Fatal(err)
				}
				book = back
			}

			next, rec, err := book.Apply(f)
			if err != nil {
				t.Fatalf("step %d Apply(%+v): %v", i, f, err)
			}
			s := 1
			if dir == market.Sell {
				s = -1
			}
			wantRealized := ref.TradeAt(s, rat(qty), rat(price), f.Venue == Onchain, f.OccurredAt.Unix())
			signedSum = signedSum.Add(dir.Signed(qty))
			realizedSum = realizedSum.Add(rec.RealizedPnL)

			if got := next.Net(); !got.Equal(signedSum) || !rec.NetPositionAfter.Equal(signedSum) {
				t.Fatalf("step %d: net %s / record %s, signed sum %s", i, got, rec.NetPositionAfter, signedSum)
			}
			if rat(next.Net()).Cmp(ref.Net()) != 0 {
				t.Fatalf("step %d: net %s, reference %s", i, next.Net(), ref.Net().FloatString(18))
			}
			if !realizedSum.Equal(next.Cumulative) || !rec.CumulativePnL.Equal(next.Cumulative) {
				t.Fatalf("step %d: sum of realized %s, cumulative %s", i, realizedSum, next.Cumulative)
			}
			if rat(rec.RealizedPnL).Cmp(wantRealized) != 0 {
				t.Fatalf("step %d: realized %s, reference %s", i, rec.RealizedPnL, wantRealized.FloatString(18))
			}
			if a := rec.Attribution; a != nil {
				for b, got := range []decimal.Decimal{a.CounterTrade, a.OnchainNetting, a.DirectionalExposure} {
					if rat(got).Cmp(ref.byBucket[b]) != 0 {
						t.Fatalf("step %d: bucket %d = %s, reference %s", i, b, got, ref.byBucket[b].FloatString(18))
					}
				}
			} else if !rec.Opened {
				t.Fatalf("step %d: a closing record without attribution", i)
			}
			if rec.CostBasis == nil || rat(*rec.CostBasis).Cmp(ref.CostBasis()) != 0 {
				t.Fatalf("step %d: cost basis %v, reference %s", i, rec.CostBasis, ref.CostBasis().FloatString(18))
			}
			if rat(next.Cumulative).Cmp(ref.total) != 0 {
				t.Fatalf("step %d: cumulative %s, reference %s", i, next.Cumulative, ref.total.FloatString(18))
			}
			if rec.Opened != (wantRealized.Sign() == 0 && (book.Net().IsZero() || book.Net().Sign() == s)) {
				t.Fatalf("step %d: opened=%v for %+v on net %s", i, rec.Opened, f, book.Net())
			}
			// Same lots as the reference queue.
			if len(next.Lots) != len(ref.queue) {
				t.Fatalf("step %d: %d lots, reference %d", i, len(next.Lots), len(ref.queue))
			}
			for j, l := range next.Lots {
				if rat(l.Quantity).Cmp(ref.queue[j].qty) != 0 || rat(l.Price).Cmp(ref.queue[j].price) != 0 ||
					(l.Direction == market.Buy) != (ref.side > 0) {
					t.Fatalf("step %d lot %d: %+v, reference %v@%v side %d", i, j, l,
						ref.queue[j].qty, ref.queue[j].price, ref.side)
				}
			}
			if err := next.Validate(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			// A redelivery of the same fill is refused and changes nothing.
			if again, _, err := next.Apply(f); err == nil || !again.Net().Equal(next.Net()) {
				t.Fatalf("step %d: redelivery accepted: %v", i, err)
			}
			book = next
		}

		// Copy-on-write: every earlier book is exactly as it was.
		for i, h := range history {
			raw, _ := json.Marshal(h.book)
			if string(raw) != h.json {
				t.Fatalf("book before step %d changed:\n got %s\nwant %s", i, raw, h.json)
			}
		}
	})
}

// The oracle itself, on the worked example, so a bug there cannot mask one
// in Book.
func TestReferenceFIFOWorkedExample(t *testing.T) {
	r := NewReferenceFIFO()
	q := func(s string) *big.Rat { return rat(d(s)) }
	want := []string{"0", "0", "0.4", "0", "1.4", "0.15", "1.5"}
	for i, tr := range []struct {
		s          int
		qty, price string
	}{{-1, "0.3", "150"}, {-1, "0.4", "151"}, {1, "0.2", "148"}, {-1, "0.6", "149"},
		{1, "1.0", "148.5"}, {1, "1.5", "147.5"}, {-1, "1.0", "149"}} {
		if got := r.Trade(tr.s, q(tr.qty), q(tr.price)); got.Cmp(q(want[i])) != 0 {
			t.Fatalf("row %d: %s, want %s", i+1, got.FloatString(4), want[i])
		}
	}
	if r.total.Cmp(q("3.45")) != 0 || r.Net().Cmp(q("0.4")) != 0 {
		t.Fatalf("total %s net %s", r.total.FloatString(4), r.Net().FloatString(4))
	}
}
