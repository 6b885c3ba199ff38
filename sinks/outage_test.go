package sinks

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	chembed "github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

// childCH is a ClickHouse in a child process (this test binary re-executed,
// see TestMain), so it can be killed and restarted on the same data dir.
type childCH struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startChildCH(t testing.TB, dir string, port int) *childCH {
	t.Helper()
	c := &childCH{t: t, dir: dir, port: port}
	c.start()
	t.Cleanup(func() {
		if c.cmd != nil {
			c.stop(syscall.SIGTERM)
		}
		if t.Failed() {
			t.Logf("--- child ClickHouse output (tail) ---\n%s", tailString(c.out.String(), 3000))
		}
	})
	return c
}

func (c *childCH) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

func (c *childCH) start() {
	c.t.Helper()
	if c.out == nil {
		c.out = &bytes.Buffer{}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildDir+"="+c.dir, envChildPort+"="+strconv.Itoa(c.port), chembed.EnvLib+"="+chLibPath)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd, c.done = cmd, make(chan error, 1)
	go func() { c.done <- cmd.Wait() }()
	opts := &clickhouse.Options{Addr: []string{c.addr()}, DialTimeout: time.Second, ReadTimeout: 10 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-c.done:
			c.t.Fatalf("child ClickHouse exited before serving: %v", err)
		default:
		}
		conn, err := clickhouse.Open(opts)
		if err == nil {
			err = conn.Ping(context.Background())
			conn.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("child ClickHouse not serving after a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the child and waits for it to exit.
func (c *childCH) stop(sig syscall.Signal) {
	c.t.Helper()
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Errorf("child ClickHouse ignored %v for a minute", sig)
	}
	c.cmd = nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// busyWorld is a realistic stream: symbols x rounds on-chain fills, each
// hedge the position places completed (one in five fails first and is
// placed again).
func busyWorld(t testing.TB, symbols, rounds int) *world {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(7, 11))
	block := uint64(1)
	for r := 0; r < rounds; r++ {
		for s := 0; s < symbols; s++ {
			sym := fmt.Sprintf("S%03d", s)
			dir := market.Buy
			if rng.IntN(2) == 0 {
				dir = market.Sell
			}
			amount := decimal.New(int64(1+rng.IntN(25)), -1)
			price := decimal.New(int64(10000+rng.IntN(5000)), -2)
			when := at(int(block))
			evs := w.fill(block, uint64(rng.IntN(4)), "t"+sym, dir, amount.String(), price.String(), when, when.Add(time.Second), r == 0)
			block++
			for {
				p, ok := placedIn(evs)
				if !ok {
					break
				}
				done := when.Add(2 * time.Second)
				if rng.IntN(5) == 0 {
					evs = w.position(sym, position.FailOffChainOrder{ExecutionID: p.ExecutionID, Error: "broker down"}, done)
					continue
				}
				fill := price.Add(decimal.New(int64(rng.IntN(100)-50), -2))
				evs = w.position(sym, position.CompleteOffChainOrder{ExecutionID: p.ExecutionID, SharesFilled: p.Shares,
					Direction: p.Direction, BrokerOrderID: "b-" + p.ExecutionID[:8], Price: fill, BrokerTimestamp: done}, done)
			}
		}
	}
	return w
}

// TestClickHouseOutage: ClickHouse is killed (SIGKILL, then SIGTERM) while
// events flow and comes back on the same data dir and port a few seconds
// later. The projector retries the batch it holds, never skips or polls
// ahead, and the tables end up row for row equal to a reference projection
// that never saw an outage, with nothing lost or doubled.
func TestClickHouseOutage(t *testing.T) {
	needCH(t)
	child := startChildCH(t, t.TempDir(), freePort(t))
	db := openDB(t, child.addr(), "outage", true)
	ref := testDB(t)
	addr := startKafka(t)

	w := busyWorld(t, 12, 40)
	posRecs, pnlRecs := w.all(topics.PositionEvents), w.all(topics.PnLEvents)
	t.Logf("stream: %d position events, %d pnl records", len(posRecs), len(pnlRecs))

	// Produce in small chunks over a few seconds so the outages fall in the
	// middle of the stream.
	cl := producer(t, addr)
	var produced sync.WaitGroup
	produced.Add(1)
	progress := make(chan int, 1000)
	go func() {
		defer produced.Done()
		const chunk = 40
		n := max(len(posRecs), len(pnlRecs))
		for i := 0; i < n; i += chunk {
			var batch []*kgo.Record
			batch = append(batch, clone(posRecs[min(i, len(posRecs)):min(i+chunk, len(posRecs))])...)
			batch = append(batch, clone(pnlRecs[min(i, len(pnlRecs)):min(i+chunk, len(pnlRecs))])...)
			if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			progress <- 100 * min(i+chunk, n) / n
			time.Sleep(60 * time.Millisecond)
		}
		close(progress)
	}()
	waitProgress := func(pct int) {
		for p := range progress {
			if p >= pct {
				return
			}
		}
	}

	opts := Options{MaxBatch: 100, BackoffMax: 400 * time.Millisecond}
	var live []*runner
	for _, p := range []Projection{NewPositionsProjection(), NewPnLProjection()} {
		live = append(live, startProjector(t, db, addr, p, opts))
	}
	var refs []*runner
	for _, p := range []Projection{NewPositionsProjection(), NewPnLProjection()} {
		refs = append(refs, startProjector(t, ref, addr, p, Options{Group: "ref-" + p.Name()}))
	}

	committed := func() string {
		var out string
		for _, r := range live {
			r.mu.Lock()
			out += fmt.Sprint(r.committed)
			r.mu.Unlock()
		}
		return out
	}
	waitProgress(25)
	down := time.Now()
	child.stop(syscall.SIGKILL)
	// Deliberate downtime while events keep coming. Once a batch in flight
	// at the kill has settled, nothing may be committed until ClickHouse is
	// back: the projector holds its batch and does not poll ahead.
	time.Sleep(500 * time.Millisecond)
	during := committed()
	time.Sleep(2500 * time.Millisecond)
	if after := committed(); after != during {
		t.Errorf("offsets committed while ClickHouse was down: %s -> %s", during, after)
	}
	child.start()
	t.Logf("SIGKILL outage: ClickHouse back after %s", time.Since(down).Round(time.Millisecond))

	waitProgress(65)
	t1 := time.Now()
	child.stop(syscall.SIGTERM)
	time.Sleep(2 * time.Second)
	child.start()
	t.Logf("SIGTERM outage: ClickHouse back after %s", time.Since(t1).Round(time.Millisecond))

	waitProgress(100)
	produced.Wait()
	for _, r := range append(live, refs...) {
		r.waitCommitted(t, addr, time.Minute)
	}
	var retries uint64
	for _, r := range live {
		st := r.pr.Stats()
		retries += st.Retries
		t.Logf("%s: %+v", r.pr.p.Name(), st)
		if st.Rejected != 0 {
			t.Errorf("%s rejected %d records", r.pr.p.Name(), st.Rejected)
		}
	}
	if retries == 0 {
		t.Error("no insert was retried: the outages missed the stream")
	}

	for _, table := range []string{"position_view", "hedge_view", "metrics_pnl", "pnl_summary"} {
		n, sum := tableChecksum(t, db, table)
		rn, rsum := tableChecksum(t, ref, table)
		if n != rn || sum != rsum {
			t.Errorf("%s after the outages: %d rows, checksum %d; reference %d rows, checksum %d", table, n, sum, rn, rsum)
		}
	}
	// And both equal what the events imply.
	if n := countRows(t, db, "SELECT count() FROM metrics_pnl FINAL"); n != uint64(len(pnlRecs)) {
		t.Errorf("metrics_pnl has %d rows, want one per pnl record (%d)", n, len(pnlRecs))
	}
	for sym, l := range w.pos {
		got := tableRowsWhere(t, db, "position_view", "aggregate_id = '"+sym+"'", "aggregate_id", "state")
		if len(got) != 1 || got[0]["sequence"] != strconv.FormatUint(l.Version, 10) || got[0]["net"] != l.State.Net.String() {
			t.Errorf("%s: position_view %v, want sequence %d net %s", sym, got, l.Version, l.State.Net)
		}
	}
	// Close the client pool before the child is stopped at cleanup.
	for _, r := range live {
		r.stop(t)
	}
	db.Close()
}
