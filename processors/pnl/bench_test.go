package pnl

import (
	"encoding/json"
	"testing"

	"github.com/hedgeline/hedgeline/market"
)

// BenchmarkApply books alternating on-chain fills into a book that keeps
// at most two open lots, the PnL stage's hot path, with the JSON round trip of
// the book that the runner does around every Apply.
func BenchmarkApply(b *testing.B) {
	book := NewBook("AAPL")
	dirs := []market.Direction{market.Buy, market.Buy, market.Sell, market.Sell}
	var seq uint64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seq++
		next, _, err := book.Apply(fill(seq, Onchain, dirs[i%4], "0.3", "150.25"))
		if err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(next)
		if err != nil {
			b.Fatal(err)
		}
		book = Book{}
		if err := json.Unmarshal(raw, &book); err != nil {
			b.Fatal(err)
		}
	}
}
