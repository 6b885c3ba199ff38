//go:build unix

package dryrun

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	childEnv       = "HEDGELINE_DRYRUN_TEST_CHILD"
	childLedgerEnv = "HEDGELINE_DRYRUN_TEST_LEDGER"
	childOrders    = 3000
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "1":
		os.Exit(runChild())
	case childPlace:
		os.Exit(runPlaceChild())
	case childTorn:
		os.Exit(runTornChild())
	}
	os.Exit(m.Run())
}

// startChild re-runs the test binary as the child of the given mode on the
// ledger at path, with stdin from stdin; it returns the child's stdout
// lines and its stderr.
func startChild(t *testing.T, mode, path string, stdin io.Reader, env ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode, childLedgerEnv+"="+path), env...)
	cmd.Stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a child the test gave up on
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout), stderr
}

// runChild is an order manager that places exec-0..exec-N from 4 workers
// (each id by two workers at once, like a redelivery racing the original)
// and prints "ok <id> <broker id> <accepted_at>" once Place returned.
func runChild() int {
	b, err := Open(Config{
		Ledger: os.Getenv(childLedgerEnv),
		Price:  FixedPrice(dec("100")),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var (
		outMu sync.Mutex
		out   = bufio.NewWriter(os.Stdout)
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w / 2; i < childOrders; i += 2 {
				id := "exec-" + strconv.Itoa(i)
				p, err := b.Place(ctx, order(id))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				outMu.Lock()
				fmt.Fprintf(out, "ok %s %s %s\n", id, p.BrokerOrderID, p.AcceptedAt.Format(time.RFC3339Nano))
				out.Flush()
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestKillMidPlace SIGKILLs a process that is placing orders, then runs it
// again on the same ledger (every order is retried, as a restarted order
// manager would): each client order id is in the ledger exactly once, and
// every placement acknowledged before the kill is returned unchanged.
func TestKillMidPlace(t *testing.T) {
	path := ledgerPath(t)
	acked := map[string]string{} // id -> "broker id accepted_at"
	run := func(kill bool) {
		cmd, sc, stderr := startChild(t, "1", path, nil)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ok" {
				t.Fatalf("child said %q", sc.Text())
			}
			v := f[2] + " " + f[3]
			if prev, ok := acked[f[1]]; ok && prev != v {
				t.Fatalf("%s: placement changed from %s to %s", f[1], prev, v)
			}
			acked[f[1]] = v
			if n++; kill && n == 500 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err := cmd.Wait()
		if kill {
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed (finished first?): %v %s", err, stderr.String())
			}
		} else if err != nil {
			t.Fatalf("child: %v\n%s", err, stderr.String())
		}
	}
	run(true)
	ackedBeforeKill := len(acked)
	es, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d acknowledged placements; ledger had %d lines", ackedBeforeKill, len(es))
	if len(es) < ackedBeforeKill {
		t.Fatalf("ledger has %d entries, fewer than the %d acknowledged", len(es), ackedBeforeKill)
	}

	run(false)
	es, err = ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.ClientOrderID] {
			t.Fatalf("client order id %s appears twice in the ledger", e.ClientOrderID)
		}
		seen[e.ClientOrderID] = true
		if got, want := acked[e.ClientOrderID], e.BrokerOrderID+" "+e.AcceptedAt.Format(time.RFC3339Nano); got != want {
			t.Fatalf("%s: acknowledged %q, ledger %q", e.ClientOrderID, got, want)
		}
	}
	if len(es) != childOrders || len(acked) != childOrders {
		t.Fatalf("ledger %d entries, acknowledged %d, want %d", len(es), len(acked), childOrders)
	}
}
