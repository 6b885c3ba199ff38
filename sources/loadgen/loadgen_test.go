package loadgen

import (
	"testing"

	"github.com/hedgeline/hedgeline/sources/file"
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

// TestResumeAfter: a resumed generator continues strictly after the given
// chain position, at its time, with trade ids the first run never had.
func TestResumeAfter(t *testing.T) {
	first := New(5, 1)
	ids := map[string]bool{}
	var last file.Fill
	for i := 0; i < 2000; i++ {
		last = first.Next()
		ids[last.TradeID.String()] = true
	}
	again := New(5, 1)
	again.ResumeAfter(last.BlockNumber, last.TradeID.LogIndex, last.BlockTimestamp)
	prevBlock, prevLog := last.BlockNumber, last.TradeID.LogIndex
	for i := 0; i < 2000; i++ {
		f := again.Next()
		if f.BlockNumber < prevBlock || f.BlockNumber == prevBlock && f.TradeID.LogIndex <= prevLog {
			t.Fatalf("resumed fill %d at %d:%d, not after %d:%d", i, f.BlockNumber, f.TradeID.LogIndex, prevBlock, prevLog)
		}
		if f.BlockTimestamp.Before(last.BlockTimestamp) {
			t.Fatalf("resumed fill %d at %s, before the last one %s", i, f.BlockTimestamp, last.BlockTimestamp)
		}
		if ids[f.TradeID.String()] {
			t.Fatalf("resumed fill %d repeats trade id %s", i, f.TradeID)
		}
		prevBlock, prevLog = f.BlockNumber, f.TradeID.LogIndex
	}
}
