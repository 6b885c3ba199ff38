package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/topics"
)

// TestCrashRecovery runs the broker and the pipeline as separate processes
// (`hedgeline broker`, `hedgeline run`), streams fills in batches and
// SIGKILLs the pipeline at random moments five times, restarting it each
// time on the same state dir and dry-run ledger. After the last restart it
// must settle with every fill applied exactly once, no hedge placed twice,
// no two different events under one (aggregate_id, sequence), PnL equal to
// the reference FIFO, and every position hedged below one share.
//
// Each restart waits out the killed members' 6 s session timeout
// (--fast-groups), so this test takes about a minute.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a pipeline five times (~1 min)")
	}
	seed := kitSeed(t, "kill moments")
	r := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	_, addr := kitStartChildBroker(t, filepath.Join(dir, "kafka"))
	stateDir, ledger := filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl")
	cl := kitNewProducer(t, addr)
	ends := newKitEnds(t, addr)

	const kills, batch = 5, 200
	fills := kitGenFills(seed, (2*kills+2)*batch, 6, 38_000_000)
	next := 0
	produceBatch := func() {
		n := min(batch, len(fills)-next)
		kitProduceFills(t, cl, fills[next:next+n])
		next += n
	}

	for i := range kills {
		c := kitStartChildPipeline(t, fmt.Sprintf("pipeline-%d", i+1), addr, stateDir, ledger)
		before, err := ends.get(topics.PnLEvents)
		if err != nil {
			t.Fatal(err)
		}
		produceBatch()
		// Kill while the batch (and any backlog) is being worked on: once
		// PnL records start to flow, after a random 0-400 ms.
		kitWaitFor(t, 30*time.Second, "processing started", func() (bool, string) {
			e, err := ends.get(topics.PnLEvents)
			return err == nil && e[topics.PnLEvents] > before[topics.PnLEvents], fmt.Sprint(e, err)
		})
		time.Sleep(time.Duration(r.Int64N(int64(400 * time.Millisecond)))) // a random kill moment, not a wait for results
		if !c.alive() {
			t.Fatalf("pipeline-%d died on its own:\n%s", i+1, kitTail(c.logs(), 40))
		}
		c.kill()
		e, _ := ends.get(topics.PositionEvents, topics.PnLEvents, topics.OffchainOrderEvents)
		t.Logf("killed pipeline-%d with %d fills produced; position.events %d, pnl.events %d, offchain-order.events %d",
			i+1, next, e[topics.PositionEvents], e[topics.PnLEvents], e[topics.OffchainOrderEvents])
		produceBatch() // a backlog for the next start
	}
	c := kitStartChildPipeline(t, "pipeline-final", addr, stateDir, ledger)
	for next < len(fills) {
		produceBatch()
	}
	snap := kitWaitSettled(t, addr, fills, settleTimeout, func(t testing.TB) {
		if !c.alive() {
			t.Fatalf("pipeline-final died:\n%s", kitTail(c.logs(), 40))
		}
	})
	kitCheckFinal(t, snap, fills, []string{ledger})
	// Every input here is valid: the commands stages re-send after a kill
	// are duplicates (counted and logged by the pipeline), never
	// rejections, which mean a command broke a rule.
	kitNoRejections(t, addr)
	c.interrupt(t)
}
