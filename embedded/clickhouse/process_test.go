package clickhouse

import (
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"log/slog"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/hedgeline/hedgeline/embedded/clickhouse/clickhousetest"
	"github.com/hedgeline/hedgeline/internal/testseed"
)

// spawnForTest starts a supervised engine with an HTTP port and fast
// restarts, stopped at the end of the test.
func spawnForTest(t *testing.T) (*Process, *testlog.Buffer) {
	t.Helper()
	lib := testLib(t)
	httpPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := Spawn(ctx, ProcessConfig{
		Config:     Config{DataDir: t.TempDir(), LibPath: lib, HTTPPort: httpPort},
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("supervisor log (tail):\n%s", logTail(logs.String(), 4000))
		}
	})
	return p, logs
}

func logTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// mustAnswer checks that the engine serves a real query and still holds
// the table written before.
func mustAnswer(t *testing.T, p *Process, want uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := ch.Open(&ch.Options{Addr: []string{p.Addr()}, DialTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM kept").Scan(&n); err != nil {
		t.Fatalf("engine does not answer: %v", err)
	}
	if n != want {
		t.Fatalf("table kept holds %d rows, want %d", n, want)
	}
}

func writeKept(t *testing.T, p *Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := ch.Open(&ch.Options{Addr: []string{p.Addr()}, DialTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE TABLE kept (n UInt64) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kept SELECT number FROM numbers(1000)"); err != nil {
		t.Fatal(err)
	}
}

// TestSpawnSurvivesAbusiveClients is the fuzz of both ports: random bytes,
// a bare newline, truncated and garbled native handshakes, wrong
// credentials, HTTP junk on both ports, clients reset mid-query and
// mid-result. Each of the native-port kinds aborted the engine (SIGABRT)
// before it ran interactive. HEDGELINE_CH_ABUSE_CONNS sets the count.
func TestSpawnSurvivesAbusiveClients(t *testing.T) {
	p, logs := spawnForTest(t)
	writeKept(t, p)
	pid := p.Pid()
	conns := 600
	if v := os.Getenv("HEDGELINE_CH_ABUSE_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HEDGELINE_CH_ABUSE_CONNS=%q: want a positive integer", v)
		}
		conns = n
	}
	seed := testseed.Seed(t, "clickhouse abuse")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t0 := time.Now()
	rep := clickhousetest.Abuse(ctx, clickhousetest.Config{Addr: p.Addr(), HTTPAddr: p.HTTPAddr(), Connections: conns, Seed: seed})
	t.Logf("%s in %v", rep, time.Since(t0).Round(time.Millisecond))
	if rep.Total != conns {
		t.Fatalf("abuse stopped after %d of %d connections: %v", rep.Total, conns, ctx.Err())
	}
	mustAnswer(t, p, 1000)
	if r := p.Restarts(); r != 0 || p.Pid() != pid {
		t.Fatalf("the engine died %d times under abuse (pid %d -> %d); log:\n%s", r, pid, p.Pid(), logTail(logs.String(), 3000))
	}
}

// TestSpawnSurvivesStopContinue pauses the engine (SIGSTOP) while clients
// query it and time out, then resumes it.
func TestSpawnSurvivesStopContinue(t *testing.T) {
	p, _ := spawnForTest(t)
	writeKept(t, p)
	pid := p.Pid()
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := ch.Open(&ch.Options{Addr: []string{p.Addr()}, DialTimeout: time.Second, ReadTimeout: time.Second})
				if err != nil {
					return
				}
				defer conn.Close()
				var n uint64
				_ = conn.QueryRow(context.Background(), "SELECT count() FROM kept").Scan(&n) // times out while stopped
			}()
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// While it is stopped the kernel still accepts connections; clients
		// give up on them (reset), and the engine meets the dead sockets
		// when it resumes.
		clickhousetest.Abuse(context.Background(), clickhousetest.Config{
			Addr: p.Addr(), Connections: 16, Parallel: 16, Seed: uint64(round),
			Kinds: []clickhousetest.Kind{clickhousetest.ResetMidQuery, clickhousetest.WrongPassword},
		})
		time.Sleep(time.Second)
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		mustAnswer(t, p, 1000)
	}
	if r := p.Restarts(); r != 0 {
		t.Fatalf("the engine died %d times across SIGSTOP/SIGCONT", r)
	}
}

// TestSpawnRestartsADeadEngine: if the engine dies anyway, the supervisor
// says why, restarts it on the same address and data, and clients carry on.
func TestSpawnRestartsADeadEngine(t *testing.T) {
	p, logs := spawnForTest(t)
	writeKept(t, p)
	for i, sig := range []syscall.Signal{syscall.SIGABRT, syscall.SIGKILL} {
		pid := p.Pid()
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for p.Restarts() < i+1 || p.Pid() == 0 || p.Pid() == pid || ping(context.Background(), p.Addr()) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("not restarted and answering within 2 min of %v", sig)
			}
			time.Sleep(50 * time.Millisecond)
		}
		mustAnswer(t, p, 1000)
		// SIGKILL shows as the signal; SIGABRT from outside is caught by
		// the Go runtime of the child, which dumps and exits 2.
		if died := strings.Count(logs.String(), "embedded clickhouse died; restarting it"); died != i+1 {
			t.Errorf("after %v: %d death reports in the log, want %d", sig, died, i+1)
		}
		if sig == syscall.SIGKILL && !strings.Contains(logs.String(), "killed by signal 9") {
			t.Errorf("the log does not say the engine was killed by signal 9:\n%s", logTail(logs.String(), 2000))
		}
	}
}
