package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBrokerCrash kills the Kafka broker process (kill -9) three times while
// fills are processed, restarts it on its data dir and address, and restarts
// the pipeline whenever it exits. Records in flight during a kill are
// retried, some after later ones; stages re-publish outputs whose
// acknowledgement was lost. Every consumer must wait for a gap in an
// aggregate's sequences, never skip past it: at the end every fill is
// applied once and PnL equals the reference FIFO over each position's own
// events (the check that failed when the PnL stage dropped a late event).
func TestBrokerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the broker three times")
	}
	seed := kitSeed(t, "kill moments and fills")
	r := rand.New(rand.NewPCG(seed, 4))

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "kafka")
	stateDir, ledger := filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl")
	addr := kitFreeAddr(t)
	starts := 0
	startBroker := func() *kitChildProc {
		starts++
		return kitStartChild(t, fmt.Sprintf("broker-%d", starts), "broker listening",
			"broker", "--listen", addr, "--data-dir", dataDir, "--log-level", "info")
	}
	b := startBroker()
	runs := 0
	var p *kitChildProc
	ensurePipeline := func(t testing.TB) {
		if p == nil || !p.alive() {
			runs++
			p = kitStartChildPipeline(t, fmt.Sprintf("pipeline-%d", runs), addr, stateDir, ledger)
		}
	}
	ensurePipeline(t)
	cl := kitNewProducer(t, addr)
	ends := newKitEnds(t, addr)

	fills := kitGenFills(seed, 1600, 6, 41_000_000)
	const batch = 400
	for i := range 3 {
		before, err := ends.get(topics.PnLEvents)
		if err != nil {
			t.Fatal(err)
		}
		kitProduceFills(t, cl, fills[i*batch:(i+1)*batch])
		kitWaitFor(t, 60*time.Second, "processing started", func() (bool, string) {
			e, err := ends.get(topics.PnLEvents)
			return err == nil && e[topics.PnLEvents] > before[topics.PnLEvents], fmt.Sprint(e, err)
		})
		time.Sleep(time.Duration(r.Int64N(int64(500 * time.Millisecond)))) // a random kill moment
		b.kill()
		t.Logf("broker killed (%d fills produced)", (i+1)*batch)
		b = startBroker()
		time.Sleep(time.Second) // let the pipeline notice, or not
		ensurePipeline(t)
	}
	kitProduceFills(t, cl, fills[3*batch:])
	snap := kitWaitSettled(t, addr, fills, settleTimeout, ensurePipeline)
	kitCheckFinal(t, snap, fills, []string{ledger})
	t.Logf("%d broker starts, %d pipeline starts", starts, runs)
	p.interrupt(t)
}

// TestProduceFaults makes the broker refuse one produce request in five to
// the stages' output topics with a retriable error while fills stream
// through: the stages' producers retry, and a retried batch must never land
// after a later one (kitCheckFinal reports any sequence of an aggregate that
// first appears after a higher one, and checks PnL against the reference).
func TestProduceFaults(t *testing.T) {
	b := kitStartEmbeddedBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, b.Addr(), filepath.Join(dir, "state"), ledger))
	var n atomic.Int64
	var faults []kfake.Fault
	for _, topic := range []string{topics.PositionEvents, topics.PositionCommands, topics.PnLEvents, topics.OffchainOrderEvents} {
		faults = append(faults, kfake.Fault{
			Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: -1,
			When: func(kmsg.Request) bool { return n.Add(1)%5 == 0 },
		})
	}
	h := b.Cluster().Fault(faults...)
	fills := kitGenFills(11, 900, 6, 42_000_000)
	kitProduceFills(t, kitNewProducer(t, b.Addr()), fills)
	snap := kitWaitSettled(t, b.Addr(), fills, settleTimeout, p.check)
	h.Remove()
	kitCheckFinal(t, snap, fills, []string{ledger})
	kitNoRejections(t, b.Addr())
	t.Logf("%d produce requests matched the faults, one in five refused (retriable)", n.Load())
}
