package dryrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

var ctx = context.Background()

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ptr(d decimal.Decimal) *decimal.Decimal { return &d }

func order(id string) brokers.Order {
	return brokers.Order{
		ClientOrderID:  id,
		Symbol:         "AAPL",
		Shares:         decimal.NewFromInt(5),
		Direction:      market.Sell,
		ReferencePrice: ptr(dec("187.25")),
	}
}

func ledgerPath(t *testing.T) string { return filepath.Join(t.TempDir(), "dryrun.jsonl") }

// open starts a broker with a fake clock at t0 and a discarded log, unless
// cfg sets them.
func open(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = (&fakeClock{t: t0}).Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func place(t *testing.T, b *Broker, o brokers.Order) brokers.Placement {
	t.Helper()
	p, err := b.Place(ctx, o)
	if err != nil {
		t.Fatalf("Place(%s): %v", o.ClientOrderID, err)
	}
	return p
}

func orders(t *testing.T, b *Broker) []LedgerEntry {
	t.Helper()
	es, err := b.Orders()
	if err != nil {
		t.Fatalf("Orders: %v", err)
	}
	return es
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := Config{FailureRate: 1.5, FillDelay: -time.Second, Price: FixedPrice(decimal.Zero)}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"failure rate", "fill delay", "fixed price"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Open(Config{FailureRate: -0.1}); err == nil {
		t.Fatal("Open accepted an invalid config")
	}
}

func TestLedgerLineFormat(t *testing.T) {
	path := ledgerPath(t)
	b := open(t, Config{Ledger: path})
	if b.Kind() != market.DryRun || b.Fractional() {
		t.Fatalf("Kind/Fractional = %s/%v", b.Kind(), b.Fractional())
	}
	p := place(t, b, order("exec-1"))
	if p.Existing || !p.AcceptedAt.Equal(t0) || p.BrokerOrderID != BrokerOrderID("exec-1") {
		t.Fatalf("placement = %+v", p)
	}
	if !regexp.MustCompile(`^DRY-[0-9a-f]{16}$`).MatchString(p.BrokerOrderID) {
		t.Fatalf("broker order id %q", p.BrokerOrderID)
	}
	ls := lines(t, path)
	if len(ls) != 1 {
		t.Fatalf("ledger has %d lines", len(ls))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"client_order_id": "exec-1",
		"broker_order_id": p.BrokerOrderID,
		"symbol":          "AAPL",
		"side":            "Sell",
		"quantity":        "5",
		"price":           "187.25",
		"accepted_at":     "2026-03-02T14:30:00.123456789Z",
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("ledger line\n got %v\nwant %v", m, want)
	}
}

func TestIdempotentPlace(t *testing.T) {
	path := ledgerPath(t)
	clk := &fakeClock{t: t0}
	b := open(t, Config{Ledger: path, Now: clk.Now})
	first := place(t, b, order("exec-1"))
	clk.Advance(time.Minute)
	again := place(t, b, order("exec-1"))
	if !again.Existing || again.BrokerOrderID != first.BrokerOrderID || !again.AcceptedAt.Equal(first.AcceptedAt) {
		t.Fatalf("second Place = %+v, first %+v", again, first)
	}
	// The reference price may have moved; the order is still the same.
	moved := order("exec-1")
	moved.ReferencePrice = ptr(dec("190"))
	if p := place(t, b, moved); !p.Existing {
		t.Fatal("a new reference price made a new order")
	}
	if n := len(lines(t, path)); n != 1 {
		t.Fatalf("ledger has %d lines, want 1", n)
	}
	// Reusing the id for a different order is a permanent error.
	other := order("exec-1")
	other.Shares = decimal.NewFromInt(6)
	if _, err := b.Place(ctx, other); !errors.Is(err, brokers.ErrRejected) {
		t.Fatalf("reused client order id: err = %v, want ErrRejected", err)
	}
}

func TestRestartRebuildsIndex(t *testing.T) {
	path := ledgerPath(t)
	clk := &fakeClock{t: t0}
	b := open(t, Config{Ledger: path, Now: clk.Now, Price: FixedPrice(dec("100"))})
	p1 := place(t, b, order("exec-1"))
	clk.Advance(time.Second)
	o2 := order("exec-2")
	o2.Symbol, o2.Direction, o2.Shares = "NVDA", market.Buy, decimal.NewFromInt(2)
	p2 := place(t, b, o2)
	before := orders(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Place(ctx, order("exec-3")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Place after Close: %v", err)
	}

	b2 := open(t, Config{Ledger: path, Now: clk.Now, Price: FixedPrice(dec("100"))})
	after := orders(t, b2)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("orders after restart\n got %v\nwant %v", after, before)
	}
	for i, e := range after {
		if !e.AcceptedAt.Equal(before[i].AcceptedAt) || !e.Quantity.Equal(before[i].Quantity) {
			t.Fatalf("entry %d changed: %+v vs %+v", i, e, before[i])
		}
	}
	for _, c := range []struct {
		o brokers.Order
		p brokers.Placement
	}{{order("exec-1"), p1}, {o2, p2}} {
		got := place(t, b2, c.o)
		if !got.Existing || got.BrokerOrderID != c.p.BrokerOrderID || !got.AcceptedAt.Equal(c.p.AcceptedAt) {
			t.Fatalf("Place after restart = %+v, want existing %+v", got, c.p)
		}
	}
	st, err := b2.Status(ctx, p2.BrokerOrderID)
	if err != nil || st.State != brokers.StateFilled || !st.FilledShares.Equal(decimal.NewFromInt(2)) || !st.AvgPrice.Equal(dec("100")) {
		t.Fatalf("Status after restart = %+v, %v", st, err)
	}
	place(t, b2, order("exec-3"))
	if n := len(lines(t, path)); n != 3 {
		t.Fatalf("ledger has %d lines, want 3", n)
	}
}

func TestTornLastLineTruncated(t *testing.T) {
	path := ledgerPath(t)
	b := open(t, Config{Ledger: path})
	place(t, b, order("exec-1"))
	place(t, b, order("exec-2"))
	b.Close()
	good, _ := os.ReadFile(path)
	torn := `{"client_order_id":"exec-3","broker_or`
	if err := os.WriteFile(path, append(append([]byte{}, good...), torn...), 0o644); err != nil {
		t.Fatal(err)
	}
	// ReadLedger skips the torn line without touching the file.
	if es, err := ReadLedger(path); err != nil || len(es) != 2 {
		t.Fatalf("ReadLedger on a torn ledger: %d entries, %v", len(es), err)
	}

	var logBuf bytes.Buffer
	b2 := open(t, Config{Ledger: path, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if !strings.Contains(logBuf.String(), "torn last line") {
		t.Fatalf("repair not logged: %q", logBuf.String())
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
		t.Fatalf("ledger not truncated to its last complete line:\n%s", got)
	}
	if n := len(orders(t, b2)); n != 2 {
		t.Fatalf("%d orders after repair, want 2", n)
	}
	// exec-3 never returned from Place: it is placed afresh.
	if p := place(t, b2, order("exec-3")); p.Existing {
		t.Fatal("the torn order counted as existing")
	}
	es, err := ReadLedger(path)
	if err != nil || len(es) != 3 || es[2].ClientOrderID != "exec-3" {
		t.Fatalf("ledger after new append: %v, %v", es, err)
	}
}

func TestCorruptLineIsAnError(t *testing.T) {
	path := ledgerPath(t)
	b := open(t, Config{Ledger: path})
	place(t, b, order("exec-1"))
	place(t, b, order("exec-2"))
	b.Close()
	ls := lines(t, path)
	corrupt := ls[0] + "\n" + "not json\n" + ls[1] + "\n"
	if err := os.WriteFile(path, []byte(corrupt), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Ledger: path})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Open of a corrupt ledger: err = %v, want file and line 2", err)
	}
	if _, err := ReadLedger(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("ReadLedger of a corrupt ledger: %v", err)
	}

	// A well-formed line with a bad field is corrupt too.
	bad := strings.Replace(ls[1], `"side":"Sell"`, `"side":"Hold"`, 1)
	os.WriteFile(path, []byte(ls[0]+"\n"+bad+"\n"), 0o644)
	if _, err := Open(Config{Ledger: path}); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "side") {
		t.Fatalf("bad side: %v", err)
	}

	// So is a client order id recorded twice.
	os.WriteFile(path, []byte(ls[0]+"\n"+ls[1]+"\n"+ls[0]+"\n"), 0o644)
	if _, err := Open(Config{Ledger: path}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("duplicate client order id: %v", err)
	}
	es, err := ReadLedger(path)
	if err != nil || len(es) != 3 {
		t.Fatalf("ReadLedger returns duplicates as they are: %d, %v", len(es), err)
	}
}

func TestPriceSources(t *testing.T) {
	clk := &fakeClock{t: t0}
	last := open(t, Config{Now: clk.Now})
	fixed := open(t, Config{Now: clk.Now, Price: FixedPrice(dec("100"))})
	for _, c := range []struct {
		b    *Broker
		want string
	}{{last, "187.25"}, {fixed, "100"}} {
		p := place(t, c.b, order("exec-1"))
		st, err := c.b.Status(ctx, p.BrokerOrderID)
		if err != nil || !st.AvgPrice.Equal(dec(c.want)) {
			t.Fatalf("price %s: status %+v, %v; want %s", c.b.cfg.Price, st, err, c.want)
		}
		if e := orders(t, c.b)[0]; !e.Price.Equal(dec(c.want)) {
			t.Fatalf("ledger price %s, want %s", e.Price, c.want)
		}
	}

	noRef := order("exec-2")
	noRef.ReferencePrice = nil
	if _, err := last.Place(ctx, noRef); !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "no reference price") {
		t.Fatalf("PriceLast without reference price: %v", err)
	}
	if len(orders(t, last)) != 1 {
		t.Fatal("a rejected order was recorded")
	}
	place(t, fixed, noRef) // a fixed price does not need one
}

func TestFailureRate(t *testing.T) {
	ids := make([]string, 400)
	for i := range ids {
		ids[i] = fmt.Sprintf("5f0c1e2a-0000-5000-8000-%012d", i)
	}
	fates := func(rate float64) []bool {
		b := open(t, Config{FailureRate: rate, Price: FixedPrice(dec("1"))})
		out := make([]bool, len(ids))
		for i, id := range ids {
			_, err := b.Place(ctx, order(id))
			if err != nil && !errors.Is(err, brokers.ErrRejected) {
				t.Fatalf("Place: %v", err)
			}
			out[i] = err != nil
			// A second attempt meets the same fate.
			_, err2 := b.Place(ctx, order(id))
			if (err2 != nil) != out[i] {
				t.Fatalf("rate %v: %s changed fate on retry", rate, id)
			}
		}
		return out
	}
	count := func(fs []bool) (n int) {
		for _, f := range fs {
			if f {
				n++
			}
		}
		return n
	}
	if n := count(fates(0)); n != 0 {
		t.Fatalf("rate 0 rejected %d", n)
	}
	if n := count(fates(1)); n != len(ids) {
		t.Fatalf("rate 1 rejected %d of %d", n, len(ids))
	}
	a, b := fates(0.5), fates(0.5)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("rate 0.5: two instances disagree on fates")
	}
	if n := count(a); n < len(ids)*35/100 || n > len(ids)*65/100 {
		t.Fatalf("rate 0.5 rejected %d of %d", n, len(ids))
	}
	// A known value (FNV-64a + fmix64, top 53 bits), so the hash cannot change
	// silently and re-decide the fate of recorded orders.
	if f := fate("exec-1"); f != 0.9557874214057748 {
		t.Fatalf("fate(exec-1) = %v", f)
	}
}

func TestFillDelay(t *testing.T) {
	clk := &fakeClock{t: t0}
	b := open(t, Config{Now: clk.Now, FillDelay: 3 * time.Second})
	p := place(t, b, order("exec-1"))

	st, err := b.Status(ctx, p.BrokerOrderID)
	if err != nil || st.State != brokers.StateSubmitted || !st.FilledShares.IsZero() || !st.UpdatedAt.Equal(t0) {
		t.Fatalf("at once: %+v, %v", st, err)
	}
	clk.Advance(2999 * time.Millisecond)
	if st, _ := b.Status(ctx, p.BrokerOrderID); st.State != brokers.StateSubmitted {
		t.Fatalf("before the delay: %+v", st)
	}
	clk.Advance(time.Millisecond)
	st, err = b.Status(ctx, p.BrokerOrderID)
	if err != nil || st.State != brokers.StateFilled || !st.FilledShares.Equal(decimal.NewFromInt(5)) ||
		!st.AvgPrice.Equal(dec("187.25")) || !st.UpdatedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after the delay: %+v, %v", st, err)
	}

	if _, err := b.Status(ctx, "DRY-0000000000000000"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestWholeShares(t *testing.T) {
	frac := order("exec-1")
	frac.Shares = dec("2.5")
	whole := open(t, Config{})
	if _, err := whole.Place(ctx, frac); !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "whole shares") {
		t.Fatalf("fractional order on a whole-share broker: %v", err)
	}
	o := order("exec-2")
	o.Shares = dec("3.000")
	place(t, whole, o) // 3.000 is whole

	fb := open(t, Config{Fractional: true})
	if !fb.Fractional() {
		t.Fatal("Fractional() = false")
	}
	place(t, fb, frac)
}

func TestInvalidOrderRejected(t *testing.T) {
	b := open(t, Config{})
	bad := order("")
	bad.Direction = "Hold"
	_, err := b.Place(ctx, bad)
	if !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "direction") {
		t.Fatalf("invalid order: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Place(cctx, order("exec-1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// TestSharedLedgerInOneProcess: two Brokers on one ledger (flock locks
// belong to the open file, so they exclude each other like two processes)
// see each other's orders at once.
func TestSharedLedgerInOneProcess(t *testing.T) {
	path := ledgerPath(t)
	a := open(t, Config{Ledger: path})
	b := open(t, Config{Ledger: path})
	pa := place(t, a, order("exec-1"))
	if pb := place(t, b, order("exec-1")); !pb.Existing || pb.BrokerOrderID != pa.BrokerOrderID || !pb.AcceptedAt.Equal(pa.AcceptedAt) {
		t.Fatalf("second broker placed %+v, first %+v", pb, pa)
	}
	if st, err := b.Status(ctx, pa.BrokerOrderID); err != nil || st.State != brokers.StateFilled {
		t.Fatalf("Status on the other broker: %+v, %v", st, err)
	}
	place(t, b, order("exec-2"))
	k, err := a.Find(ctx, "exec-2")
	if err != nil || k.BrokerOrderID != BrokerOrderID("exec-2") || k.Status.State != brokers.StateFilled || !k.Status.FilledShares.Equal(decimal.NewFromInt(5)) {
		t.Fatalf("Find on the other broker: %+v, %v", k, err)
	}
	if _, err := a.Find(ctx, "exec-3"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("Find of an unknown id: %v", err)
	}
	if n := len(orders(t, a)); n != 2 {
		t.Fatalf("first broker sees %d orders, want 2", n)
	}
	if n := len(lines(t, path)); n != 2 {
		t.Fatalf("ledger has %d lines, want 2", n)
	}
}

func TestConcurrentPlaceSameID(t *testing.T) {
	path := ledgerPath(t)
	b := open(t, Config{Ledger: path, Now: time.Now})
	const n = 64
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]brokers.Placement, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o := order("exec-1")
			if i%2 == 1 {
				o = order("exec-2")
			}
			results[i], errs[i] = b.Place(ctx, o)
		}()
	}
	close(start)
	wg.Wait()
	fresh := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Place %d: %v", i, errs[i])
		}
		if !results[i].Existing {
			fresh[results[i].BrokerOrderID]++
		}
		want := BrokerOrderID("exec-1")
		if i%2 == 1 {
			want = BrokerOrderID("exec-2")
		}
		if results[i].BrokerOrderID != want {
			t.Fatalf("Place %d: broker id %s, want %s", i, results[i].BrokerOrderID, want)
		}
	}
	if len(fresh) != 2 || fresh[BrokerOrderID("exec-1")] != 1 || fresh[BrokerOrderID("exec-2")] != 1 {
		t.Fatalf("non-existing placements: %v, want one per id", fresh)
	}
	es, err := ReadLedger(path)
	if err != nil || len(es) != 2 {
		t.Fatalf("ledger: %d entries, %v", len(es), err)
	}
}

func TestBrokerOrderIDDeterministic(t *testing.T) {
	// sha256("exec-1") = f42b7a9069c383bb...
	if got := BrokerOrderID("exec-1"); got != "DRY-f42b7a9069c383bb" {
		t.Fatalf("BrokerOrderID = %s", got)
	}
	if es, err := ReadLedger(filepath.Join(t.TempDir(), "missing.jsonl")); err != nil || es != nil {
		t.Fatalf("missing ledger: %v, %v", es, err)
	}
}
