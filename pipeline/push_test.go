package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
)

// TestHedgesArePushedNotPolled: with the poll an hour apart, every hedge is
// still placed (the tracker hints the poller) and booked filled (the
// dry-run broker pushes its fills), so hedges never wait for a poll.
func TestHedgesArePushedNotPolled(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger,
		"--poll-interval", "1h", "--dry-run-fill-delay", "50ms"))

	fills := kitGenFills(kitSeed(t, "fills"), 300, 8, 1000)
	cl := kitNewProducer(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range fills { // a live stream, not one burst
		kitProduce(t, cl, kitWitnessRecord(t, f))
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	sums := kitCheckFinal(t, snap, fills, []string{ledger})
	kitNoRejections(t, addr)
	hedges := 0
	for _, s := range sums {
		hedges += len(s.filled)
	}
	entries, err := dryrun.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if hedges < 10 || len(entries) != hedges {
		t.Fatalf("%d hedges filled, %d ledger lines: want every placed hedge filled, and hedging exercised", hedges, len(entries))
	}
}
