package loadgen

import (
	"testing"
)

func TestFillsAreValidChainOrderedAndDeterministic(t *testing.T) {
	a, b := New(50, 7), New(50, 7)
	seen := map[string]bool{}
	var lastBlock, lastLog uint64
	for i := 0; i < 5000; i++ {
		f, g := a.Next(), b.Next()
		if f.TradeID != g.TradeID || !f.Amount.Equal(g.Amount) || !f.PriceUSDC.Equal(g.PriceUSDC) {
			t.Fatalf("fill %d differs between equal seeds", i)
		}
		if seen[f.TradeID.String()] {
			t.Fatalf("duplicate trade id %s", f.TradeID)
		}
		seen[f.TradeID.String()] = true
		if f.BlockNumber < lastBlock || f.BlockNumber == lastBlock && f.TradeID.LogIndex <= lastLog && i > 0 {
			t.Fatalf("fill %d out of chain order", i)
		}
		lastBlock, lastLog = f.BlockNumber, f.TradeID.LogIndex
		if !f.Amount.IsPositive() || !f.PriceUSDC.IsPositive() || f.Amount.Exponent() < -4 {
			t.Fatalf("bad amounts %v", f)
		}
		if _, err := f.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	}
	bases := map[string]bool{}
	for _, s := range New(1000, 1).symbols {
		bases[string(s.Base)] = true
	}
	if len(bases) != 1000 {
		t.Fatalf("%d distinct symbols, want 1000", len(bases))
	}
}
