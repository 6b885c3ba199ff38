package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kitStream produces fills in batches of 10 from a goroutine, paced so the
// stream lasts a few seconds; done reports the first error once finished.
type kitStream struct {
	produced atomic.Int64
	done     chan error
	ended    atomic.Int64 // unix nanos of the last batch
}

// endedAfter is how long after t the stream produced its last batch.
func (s *kitStream) endedAfter(t time.Time) time.Duration {
	return time.Unix(0, s.ended.Load()).Sub(t).Round(time.Millisecond)
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
			s.ended.Store(time.Now().UnixNano())
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
// groups (different state dirs, one dry-run ledger: the dry-run broker
// stands in for a real broker, which both instances share) and takes one
// away in the middle of a stream of fills: the other takes over its
// partitions, reconciles every order in flight with the broker by client
// order id, and the final state passes every check of the crash test with
// no failed hedge, no order placed twice and no rejection.
func TestGroupTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for consumer-group rebalances")
	}

	t.Run("graceful", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledger := filepath.Join(dir, "ledger.jsonl")
		a := kitStartPipeline(t, "instance-a", testRunConfig(t, addr, filepath.Join(dir, "a"), ledger))
		b := kitStartPipeline(t, "instance-b", testRunConfig(t, addr, filepath.Join(dir, "b"), ledger))

		fills := kitGenFills(7, 1200, 6, 39_000_000)
		s := kitStartStream(t, kitNewProducer(t, addr), fills, 20*time.Millisecond)
		s.waitProduced(t, 500)
		a.stop(t)
		t.Logf("instance-a stopped with %d fills produced", s.produced.Load())
		s.wait(t)

		snap := kitWaitSettled(t, addr, fills, settleTimeout, b.check)
		kitCheckFinal(t, snap, fills, []string{ledger})
		kitNoRejections(t, addr)
	})

	t.Run("kill", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledger := filepath.Join(dir, "ledger.jsonl")
		a := kitStartChildPipeline(t, "instance-a", addr, filepath.Join(dir, "a"), ledger)
		b := kitStartPipeline(t, "instance-b", testRunConfig(t, addr, filepath.Join(dir, "b"), ledger))

		fills := kitGenFills(8, 1200, 6, 40_000_000)
		s := kitStartStream(t, kitNewProducer(t, addr), fills, 20*time.Millisecond)
		s.waitProduced(t, 500)
		if !a.alive() {
			t.Fatalf("instance-a died on its own:\n%s", kitTail(a.logs(), 40))
		}
		a.kill()
		killed := time.Now()
		t.Logf("instance-a killed with %d fills produced", s.produced.Load())
		s.wait(t)

		// The survivor gets the dead member's partitions once its 6 s
		// session times out.
		snap := kitWaitSettled(t, addr, fills, settleTimeout, b.check)
		t.Logf("kill -9 to every position hedged again: %s (stream ended %s after the kill)",
			time.Since(killed).Round(time.Millisecond), s.endedAfter(killed))
		kitCheckFinal(t, snap, fills, []string{ledger})
		kitNoRejections(t, addr)
	})
}
