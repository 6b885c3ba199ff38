package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kitStream produces fills in batches of 10 from a goroutine, paced so the
// stream lasts a few seconds; done reports the first error once finished.
type kitStream struct {
	produced atomic.Int64
	done     chan error
}

func kitStartStream(t testing.TB, cl *kgo.Client, fills []file.Fill, pause time.Duration) *kitStream {
	s := &kitStream{done: make(chan error, 1)}
	go func() {
		defer close(s.done)
		for i := 0; i < len(fills); i += 10 {
			recs := make([]*kgo.Record, 0, 10)
			for _, f := range fills[i:min(i+10, len(fills))] {
				key, value, err := file.WitnessRecord(f, time.Now())
				if err != nil {
					s.done <- err
					return
				}
				recs = append(recs, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				s.done <- err
				return
			}
			s.produced.Add(int64(len(recs)))
			time.Sleep(pause) // pacing the stream, not waiting for a result
		}
	}()
	return s
}

func (s *kitStream) waitProduced(t testing.TB, n int64) {
	t.Helper()
	kitWaitFor(t, 60*time.Second, fmt.Sprintf("%d fills produced", n), func() (bool, string) {
		return s.produced.Load() >= n, fmt.Sprint(s.produced.Load())
	})
}

func (s *kitStream) wait(t testing.TB) {
	t.Helper()
	if err := <-s.done; err != nil {
		t.Fatalf("producing fills: %v", err)
	}
}

// TestGroupTakeover runs two pipeline instances in the same consumer
// groups (different state dirs and dry-run ledgers) and takes one away in
// the middle of a stream of fills: the other takes over its partitions, and
// the final state passes every check of the crash test.
//
// Each instance has its own dry-run broker (a ledger is locked by one
// process), so an order in flight at the instance that leaves is unknown to
// the survivor's broker: the survivor fails it ("broker does not know
// order") and the position places the exposure again under a new execution
// id. Failed hedges and an execution id in both ledgers are therefore
// allowed here; no ledger may hold one twice, and every filled hedge must
// be in a ledger at its fill price.
func TestGroupTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for consumer-group rebalances")
	}
	opts := kitCheckOptions{failedOK: true, crossLedgerOK: true}

	t.Run("graceful", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledgerA, ledgerB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
		a := kitStartPipeline(t, "instance-a", testRunConfig(t, addr, filepath.Join(dir, "a"), ledgerA))
		b := kitStartPipeline(t, "instance-b", testRunConfig(t, addr, filepath.Join(dir, "b"), ledgerB))

		fills := kitGenFills(7, 1200, 6, 39_000_000)
		s := kitStartStream(t, kitNewProducer(t, addr), fills, 20*time.Millisecond)
		s.waitProduced(t, 500)
		a.stop(t)
		t.Logf("instance-a stopped with %d fills produced", s.produced.Load())
		s.wait(t)

		snap := kitWaitSettled(t, addr, fills, settleTimeout, b.check)
		kitCheckFinal(t, snap, fills, []string{ledgerA, ledgerB}, opts)
		kitLedgersUsed(t, ledgerA, ledgerB)
		rej, _ := kitRejectionSummary(t, addr)
		for reason, n := range rej {
			t.Logf("%4d x %s", n, reason)
		}
	})

	t.Run("kill", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledgerA, ledgerB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
		a := kitStartChildPipeline(t, "instance-a", addr, filepath.Join(dir, "a"), ledgerA)
		b := kitStartPipeline(t, "instance-b", testRunConfig(t, addr, filepath.Join(dir, "b"), ledgerB))

		fills := kitGenFills(8, 1200, 6, 40_000_000)
		s := kitStartStream(t, kitNewProducer(t, addr), fills, 20*time.Millisecond)
		s.waitProduced(t, 500)
		if !a.alive() {
			t.Fatalf("instance-a died on its own:\n%s", kitTail(a.logs(), 40))
		}
		a.kill()
		t.Logf("instance-a killed with %d fills produced", s.produced.Load())
		s.wait(t)

		// The survivor gets the dead member's partitions once its 6 s
		// session times out.
		snap := kitWaitSettled(t, addr, fills, settleTimeout, b.check)
		kitCheckFinal(t, snap, fills, []string{ledgerA, ledgerB}, opts)
		kitLedgersUsed(t, ledgerA, ledgerB)
		rej, _ := kitRejectionSummary(t, addr)
		for reason, n := range rej {
			t.Logf("%4d x %s", n, reason)
		}
	})
}

// kitLedgersUsed checks that both instances placed hedges, i.e. both did
// real work before one went away.
func kitLedgersUsed(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		entries, err := dryrun.ReadLedger(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d orders", filepath.Base(p), len(entries))
		if len(entries) == 0 {
			t.Errorf("%s: no orders: that instance never hedged", p)
		}
	}
}
