package sequence

import (
	"github.com/hedgeline/hedgeline/internal/testseed"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		version, seq uint64
		want         Verdict
	}{
		{0, 0, Duplicate}, {0, 1, Apply}, {0, 2, Park},
		{5, 4, Duplicate}, {5, 5, Duplicate}, {5, 6, Apply}, {5, 7, Park}, {5, 1000, Park},
	} {
		if got := Classify(c.version, c.seq); got != c.want {
			t.Errorf("Classify(%d, %d) = %v, want %v", c.version, c.seq, got, c.want)
		}
	}
}

// TestGapFills: the NVDA case of issue 8: 553 lost, 554 kept, 553
// re-emitted later.
func TestGapFills(t *testing.T) {
	s := New[string](552)
	if v, run := s.Offer(554, "554"); v != Park || run != nil {
		t.Fatalf("554 at 552: %v %v, want park", v, run)
	}
	if v, _ := s.Offer(554, "554 again"); v != Duplicate {
		t.Fatalf("554 parked twice: %v, want duplicate", v)
	}
	if v, _ := s.Offer(556, "556"); v != Park {
		t.Fatalf("556: %v", v)
	}
	if got := s.Missing(); !slices.Equal(got, []Range{{553, 553}, {555, 555}}) {
		t.Fatalf("missing %v", got)
	}
	v, run := s.Offer(553, "553")
	if v != Apply || !slices.Equal(run, []string{"554"}) || s.Version() != 554 {
		t.Fatalf("553: %v %v version %d, want apply [554] 554", v, run, s.Version())
	}
	if ev, ok := s.Get(556); !ok || ev != "556" || s.Len() != 1 || s.Missing()[0].String() != "555" {
		t.Fatalf("556 not parked alone: %v %v %v", ev, ok, s.Missing())
	}
	c := s.Clone()
	if v, run := c.Offer(555, "555"); v != Apply || !slices.Equal(run, []string{"556"}) || c.Len() != 0 {
		t.Fatalf("555: %v %v", v, run)
	}
	if s.Len() != 1 || s.Version() != 554 {
		t.Fatal("Clone shares the parked set")
	}
	if v, _ := c.Offer(553, "553"); v != Duplicate {
		t.Fatalf("553 after 556: %v", v)
	}
}

// TestRandomStreams: any permutation of 1..n, with any events duplicated
// anywhere (before or after the original), is applied as exactly 1..n, in
// order, once each; after every offer the applied prefix is the longest
// contiguous run seen so far.
func TestRandomStreams(t *testing.T) {
	seed := testseed.Seed(t, "random streams")
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for round := range 2000 {
		n := 1 + rng.IntN(60)
		stream := make([]uint64, 0, 2*n)
		for i := range n {
			stream = append(stream, uint64(i+1))
		}
		for range rng.IntN(n + 1) {
			stream = append(stream, uint64(1+rng.IntN(n)))
		}
		rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		// Sometimes keep long in-order stretches, the common case.
		if rng.IntN(4) == 0 {
			slices.Sort(stream)
			i, j := rng.IntN(len(stream)), rng.IntN(len(stream))
			stream[i], stream[j] = stream[j], stream[i]
		}

		var s Sequencer[uint64]
		var applied []uint64
		seen := map[uint64]bool{}
		dups := 0
		for _, seq := range stream {
			v, run := s.Offer(seq, seq)
			switch v {
			case Apply:
				applied = append(applied, seq)
				applied = append(applied, run...)
			case Duplicate:
				dups++
			}
			seen[seq] = true
			prefix := uint64(0)
			for seen[prefix+1] {
				prefix++
			}
			if s.Version() != prefix || uint64(len(applied)) != prefix {
				t.Fatalf("round %d, stream %v: after %d version %d, applied %v, want prefix 1..%d", round, stream, seq, s.Version(), applied, prefix)
			}
			if want := len(seen) - int(prefix); s.Len() != want {
				t.Fatalf("round %d, stream %v: after %d %d parked, want %d", round, stream, seq, s.Len(), want)
			}
		}
		for i, seq := range applied {
			if seq != uint64(i+1) {
				t.Fatalf("round %d, stream %v: applied %v, want 1..%d", round, stream, applied, n)
			}
		}
		if len(applied) != n || s.Len() != 0 || len(s.Missing()) != 0 || dups != len(stream)-n {
			t.Fatalf("round %d, stream %v: applied %v, %d parked, %d duplicates", round, stream, applied, s.Len(), dups)
		}
	}
}

func BenchmarkInOrder(b *testing.B) {
	var s Sequencer[int]
	for i := range b.N {
		s.Offer(uint64(i+1), i)
	}
}

// A sparse stream (PnL records: the position sequences of fills, each
// naming the one before it), shuffled and with repeats, is applied exactly
// once each, in stream order.
func TestRandomSparseStreams(t *testing.T) {
	seed := testseed.Seed(t, "random sparse streams")
	rng := rand.New(rand.NewPCG(seed, 7))
	for round := range 1000 {
		n := 1 + rng.IntN(40)
		seqs := make([]uint64, n) // strictly increasing, with holes
		after := map[uint64]uint64{}
		for i, prev := 0, uint64(0); i < n; i++ {
			seqs[i] = prev + 1 + uint64(rng.IntN(4))
			after[seqs[i]], prev = prev, seqs[i]
		}
		stream := slices.Clone(seqs)
		for range rng.IntN(n + 1) {
			stream = append(stream, seqs[rng.IntN(n)])
		}
		rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		var s Sequencer[uint64]
		var applied []uint64
		for _, seq := range stream {
			if v, run := s.OfferAfter(after[seq], seq, seq); v == Apply {
				applied = append(append(applied, seq), run...)
			}
		}
		if !slices.Equal(applied, seqs) || s.Len() != 0 {
			t.Fatalf("round %d: stream %v applied %v, want %v (parked left %d)", round, stream, applied, seqs, s.Len())
		}
	}
}
