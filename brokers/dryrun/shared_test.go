//go:build unix

package dryrun

import (
	"github.com/hedgeline/hedgeline/internal/testlog"

	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
)

const (
	childPlace  = "place"
	childTorn   = "torn"
	childIDsEnv = "HEDGELINE_DRYRUN_TEST_IDS" // comma-separated client order ids
)

func childBroker() (*Broker, error) {
	return Open(Config{
		Ledger: os.Getenv(childLedgerEnv),
		Price:  FixedPrice(dec("100")),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// runPlaceChild is an instance of the order manager: it opens the ledger,
// says "ready", waits for a line on stdin (so two children start placing
// together), places the ids of childIDsEnv from two workers and prints
// "ok <id> <broker id> <accepted_at> <existing>" for each.
func runPlaceChild() int {
	b, err := childBroker()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	ids := strings.Split(os.Getenv(childIDsEnv), ",")
	var (
		outMu sync.Mutex
		wg    sync.WaitGroup
		code  = 0
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 2 {
				p, err := b.Place(ctx, order(ids[i]))
				outMu.Lock()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					code = 1
				} else {
					fmt.Printf("ok %s %s %s %v\n", ids[i], p.BrokerOrderID, p.AcceptedAt.Format(time.RFC3339Nano), p.Existing)
				}
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	return code
}

// runTornChild dies mid-append: under the broker's exclusive lock it writes
// the first bytes (childIDsEnv: "<id>,<n>") of an order's line, says
// "torn <bytes written>" and sleeps until it is killed.
func runTornChild() int {
	b, err := childBroker()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id, n, _ := strings.Cut(os.Getenv(childIDsEnv), ",")
	cut, _ := strconv.Atoi(n)
	b.mu.Lock()
	err = b.withLedger(true, func() error {
		line, err := LedgerEntry{ClientOrderID: id, BrokerOrderID: BrokerOrderID(id), Symbol: "AAPL",
			Side: "Sell", Quantity: dec("5"), Price: dec("100"), AcceptedAt: time.Now().UTC()}.marshal()
		if err != nil {
			return err
		}
		cut = min(cut, len(line)-1) // never the newline: the line stays torn
		if _, err := b.f.Write(line[:cut]); err != nil {
			return err
		}
		fmt.Println("torn", cut)
		time.Sleep(time.Hour)
		return nil
	})
	fmt.Fprintln(os.Stderr, "torn child was not killed:", err)
	return 1
}

// TestTwoProcessesShareLedger: two processes place interleaved, random
// (HEDGELINE_TEST_SEED) sets of client order ids that overlap, at the same
// time, into one ledger. Each id is in the ledger exactly once, both
// processes got the same placement for it, and exactly one of them placed
// it fresh.
func TestTwoProcessesShareLedger(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Seed(t, "client order ids and kill points"), 0))
	path := ledgerPath(t)
	const n = 300
	var sets [2][]string
	for i := range n {
		id := "exec-" + strconv.Itoa(i)
		switch r := rng.IntN(3); r { // one of them, the other, or both
		case 0, 1:
			sets[r] = append(sets[r], id)
		default:
			sets[0], sets[1] = append(sets[0], id), append(sets[1], id)
		}
	}
	type child struct {
		cmd    *exec.Cmd
		sc     *bufio.Scanner
		stderr *strings.Builder
		start  io.WriteCloser
	}
	var children [2]child
	for i, ids := range sets {
		rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
		r, w := io.Pipe()
		cmd, sc, stderr := startChild(t, childPlace, path, r, childIDsEnv+"="+strings.Join(ids, ","))
		if !sc.Scan() || sc.Text() != "ready" {
			t.Fatalf("child %d did not start: %q %s", i, sc.Text(), stderr)
		}
		children[i] = child{cmd, sc, stderr, w}
	}
	for _, c := range children {
		if _, err := io.WriteString(c.start, "go\n"); err != nil {
			t.Fatal(err)
		}
		c.start.Close() // Wait waits for the end of the child's stdin
	}

	type answer struct {
		placement string // broker id and accepted_at
		fresh     int
		count     int
	}
	var (
		mu      sync.Mutex
		answers = map[string]*answer{}
		wg      sync.WaitGroup
		errs    [2]error
	)
	for i, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.sc.Scan() {
				f := strings.Fields(c.sc.Text())
				if len(f) != 5 || f[0] != "ok" {
					errs[i] = fmt.Errorf("child %d said %q", i, c.sc.Text())
					return
				}
				mu.Lock()
				a := answers[f[1]]
				if a == nil {
					a = &answer{placement: f[2] + " " + f[3]}
					answers[f[1]] = a
				}
				if a.placement != f[2]+" "+f[3] {
					errs[i] = fmt.Errorf("%s: child %d got %s %s, the other %s", f[1], i, f[2], f[3], a.placement)
				}
				a.count++
				if f[4] == "false" {
					a.fresh++
				}
				mu.Unlock()
			}
			if err := c.cmd.Wait(); err != nil {
				errs[i] = errors.Join(errs[i], fmt.Errorf("child %d: %w\n%s", i, err, c.stderr))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}

	es, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	inLedger := map[string]bool{}
	for _, e := range es {
		if inLedger[e.ClientOrderID] {
			t.Fatalf("client order id %s is in the ledger twice", e.ClientOrderID)
		}
		inLedger[e.ClientOrderID] = true
		a := answers[e.ClientOrderID]
		if a == nil {
			t.Fatalf("%s is in the ledger but no process placed it", e.ClientOrderID)
		}
		if want := e.BrokerOrderID + " " + e.AcceptedAt.Format(time.RFC3339Nano); a.placement != want {
			t.Fatalf("%s: processes got %s, ledger %s", e.ClientOrderID, a.placement, want)
		}
		if a.fresh != 1 {
			t.Fatalf("%s: placed fresh %d times", e.ClientOrderID, a.fresh)
		}
	}
	both := 0
	for id, a := range answers {
		if !inLedger[id] {
			t.Fatalf("%s was acknowledged but is not in the ledger", id)
		}
		if a.count == 2 {
			both++
		}
	}
	if len(answers) != n || len(es) != n {
		t.Fatalf("%d ids acknowledged, %d ledger lines, want %d", len(answers), len(es), n)
	}
	t.Logf("%d orders, %d placed by both processes", n, both)
}

// TestStatusOfOrderPlacedByAnotherProcess: a broker opened before another
// process placed orders answers Status, Find and Place for them.
func TestStatusOfOrderPlacedByAnotherProcess(t *testing.T) {
	path := ledgerPath(t)
	b := open(t, Config{Ledger: path, Now: time.Now, Price: FixedPrice(dec("100"))})
	cmd, sc, stderr := startChild(t, childPlace, path, strings.NewReader("go\n"), childIDsEnv+"=exec-1,exec-2")
	acked := map[string]string{}
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 5 {
			acked[f[1]] = f[3]
		}
	}
	if err := cmd.Wait(); err != nil || len(acked) != 2 {
		t.Fatalf("child: %v, acknowledged %v\n%s", err, acked, stderr)
	}
	for id, at := range acked {
		st, err := b.Status(ctx, BrokerOrderID(id))
		if err != nil || st.State != brokers.StateFilled || !st.AvgPrice.Equal(dec("100")) {
			t.Fatalf("Status(%s): %+v, %v", id, st, err)
		}
		k, err := b.Find(ctx, id)
		if err != nil || k.BrokerOrderID != BrokerOrderID(id) || k.AcceptedAt.Format(time.RFC3339Nano) != at {
			t.Fatalf("Find(%s): %+v, %v; child acknowledged at %s", id, k, err, at)
		}
		if p := place(t, b, order(id)); !p.Existing {
			t.Fatalf("Place(%s) placed the other process's order again", id)
		}
	}
	if n := len(lines(t, path)); n != 2 {
		t.Fatalf("ledger has %d lines, want 2", n)
	}
}

// TestProcessKilledMidAppend: a process SIGKILLed halfway through writing a
// line (at a random byte, HEDGELINE_TEST_SEED) leaves a torn last line.
// Readers that waited for its lock go on without touching it; the next
// Place, by another process, cuts it off and appends after it.
func TestProcessKilledMidAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Seed(t, "client order ids and kill points"), 1))
	path := ledgerPath(t)
	var logBuf testlog.Buffer
	writer := open(t, Config{Ledger: path, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	reader := open(t, Config{Ledger: path})
	p1 := place(t, writer, order("exec-1"))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cmd, sc, stderr := startChild(t, childTorn, path, nil, childIDsEnv+"=exec-2,"+strconv.Itoa(1+rng.IntN(len(good))))
	var cut int
	if !sc.Scan() {
		t.Fatalf("torn child: %s", stderr)
	}
	if _, err := fmt.Sscanf(sc.Text(), "torn %d", &cut); err != nil {
		t.Fatalf("torn child said %q: %v", sc.Text(), err)
	}
	statusDone := make(chan error, 1)
	go func() {
		_, err := reader.Status(ctx, p1.BrokerOrderID)
		statusDone <- err
	}()
	select {
	case err := <-statusDone:
		t.Fatalf("Status answered while another process held the exclusive lock mid-append: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := <-statusDone; err != nil {
		t.Fatalf("Status after the kill: %v", err)
	}
	if _, err := reader.Find(ctx, "exec-2"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("Find of the torn order: %v, want ErrNotFound", err)
	}
	torn, _ := os.ReadFile(path)
	if len(torn) != len(good)+cut || !bytes.HasPrefix(torn, good) {
		t.Fatalf("after the kill the ledger is %d bytes, want %d + %d torn", len(torn), len(good), cut)
	}

	// exec-2 never returned from Place: it is placed afresh.
	if p := place(t, writer, order("exec-2")); p.Existing {
		t.Fatal("the torn order counted as existing")
	}
	if !strings.Contains(logBuf.String(), "torn last line") {
		t.Fatalf("repair not logged: %q", logBuf.String())
	}
	es, err := ReadLedger(path)
	if err != nil || len(es) != 2 || es[1].ClientOrderID != "exec-2" {
		t.Fatalf("ledger after the repair: %v, %v", es, err)
	}
	if k, err := reader.Find(ctx, "exec-2"); err != nil || k.BrokerOrderID != BrokerOrderID("exec-2") {
		t.Fatalf("Find after the repair: %+v, %v", k, err)
	}
	place(t, reader, order("exec-3"))
	if n := len(lines(t, path)); n != 3 {
		t.Fatalf("ledger has %d lines, want 3", n)
	}
}
