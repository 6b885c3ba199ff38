package ordermanager

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flaky fails every call with a transient error.
type flaky struct{ calls int }

func (f *flaky) Kind() market.Broker { return market.DryRun }
func (f *flaky) Fractional() bool    { return false }
func (f *flaky) Place(context.Context, brokers.Order) (brokers.Placement, error) {
	f.calls++
	return brokers.Placement{}, errors.New("connection reset")
}
func (f *flaky) Status(context.Context, string) (brokers.OrderStatus, error) {
	f.calls++
	return brokers.OrderStatus{}, errors.New("connection reset")
}
func (f *flaky) Market(context.Context) (brokers.MarketState, error) {
	return brokers.MarketState{Open: true}, nil
}
func (f *flaky) Find(context.Context, string) (brokers.KnownOrder, error) {
	f.calls++
	return brokers.KnownOrder{}, errors.New("connection reset")
}

func newPoller(t *testing.T, b brokers.Broker, now *time.Time, orders Orders) (*Poller, *sentCommands) {
	t.Helper()
	out := &sentCommands{sent: make(chan struct{}, 8)}
	p, err := NewPoller(PollerConfig{Broker: b, Orders: orders, Producer: out, Partitions: 1,
		Interval: time.Second, StaleAfter: 10 * time.Minute, MaxBackoff: 8 * time.Second, Clock: func() time.Time { return *now },
		// The table changes between ticks without a tracker stage: walk it
		// at every tick whose clock moved (TestOpenIndex* test the index).
		FullWalkEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return p, out
}

// sentCommands is a Producer that keeps the records and signals each send.
type sentCommands struct {
	mu   sync.Mutex
	recs []*kgo.Record
	sent chan struct{}
}

func (s *sentCommands) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	s.mu.Lock()
	s.recs = append(s.recs, rs...)
	s.mu.Unlock()
	select {
	case s.sent <- struct{}{}:
	default:
	}
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		out[i].Record = r
	}
	return out
}

// commands decodes what was sent, by execution id.
func (s *sentCommands) commands(t *testing.T) map[string]string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, r := range s.recs {
		id, c := commandOf(t, r)
		out[string(r.Key)] = fmt.Sprintf("%s %+v", id, c)
	}
	return out
}

type nopOrders struct{}

func (nopOrders) Each(func(string, []byte) error) error { return nil }
func (nopOrders) Get(string) ([]byte, error)            { return nil, nil }

// tableOrders is the tracker's table as a map, each order encoded as the
// runner stores it (version 1, next offset, state JSON, no pending
// outputs); every walk is signalled on walks.
type tableOrders struct {
	orders map[string]TrackedOrder
	walks  chan struct{}
}

func (m tableOrders) Each(fn func(string, []byte) error) error {
	for key, o := range m.orders {
		raw, err := encodeTracked(o)
		if err != nil {
			return err
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	select {
	case m.walks <- struct{}{}:
	default:
	}
	return nil
}

func (m tableOrders) Get(key string) ([]byte, error) {
	o, ok := m.orders[key]
	if !ok {
		return nil, nil
	}
	return encodeTracked(o)
}

// encodeTracked encodes o as the runner stores it in the order stage's
// table (version 1, next offset, state JSON, no pending outputs).
func encodeTracked(o TrackedOrder) ([]byte, error) {
	state, err := json.Marshal(State{Down: o})
	if err != nil {
		return nil, err
	}
	raw := binary.AppendUvarint(binary.AppendUvarint([]byte{1}, 0), uint64(len(state)))
	return append(raw, state...), nil
}

func table(orders ...TrackedOrder) tableOrders {
	m := tableOrders{orders: map[string]TrackedOrder{}, walks: make(chan struct{}, 8)}
	for _, o := range orders {
		m.orders[o.ExecutionID] = o
	}
	return m
}

// recorder passes calls on to a broker and logs them. With lost, Status
// finds no order, as an instance's own dry-run ledger did not find the
// orders of another instance.
type recorder struct {
	brokers.Broker
	lost  bool
	mu    sync.Mutex
	calls []string
}

func (r *recorder) log(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

// Calls returns the calls so far, sorted (the table walk has no order).
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.calls))
}

func (r *recorder) Place(ctx context.Context, o brokers.Order) (brokers.Placement, error) {
	r.log("Place " + o.ClientOrderID)
	return r.Broker.Place(ctx, o)
}

func (r *recorder) Status(ctx context.Context, id string) (brokers.OrderStatus, error) {
	r.log("Status " + id)
	if r.lost {
		return brokers.OrderStatus{}, brokers.ErrNotFound
	}
	return r.Broker.Status(ctx, id)
}

func (r *recorder) Find(ctx context.Context, id string) (brokers.KnownOrder, error) {
	r.log("Find " + id)
	return r.Broker.Find(ctx, id)
}

// openDryRun opens a dry-run broker on a ledger shared with other tests'
// brokers, as instances of the pipeline share one.
func openDryRun(t *testing.T, ledger string) *dryrun.Broker {
	t.Helper()
	b, err := dryrun.Open(dryrun.Config{Ledger: ledger, Price: dryrun.PriceLast, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// placeAt places o at b as the poller would.
func placeAt(t *testing.T, b brokers.Broker, o TrackedOrder) string {
	t.Helper()
	pl, err := b.Place(context.Background(), brokers.Order{ClientOrderID: o.ExecutionID, Symbol: o.Symbol,
		Shares: o.Shares, Direction: o.Direction, ReferencePrice: o.ReferencePrice})
	if err != nil {
		t.Fatal(err)
	}
	return pl.BrokerOrderID
}

func order(status OrderStatus, lastUpdate time.Time) TrackedOrder {
	ref := d("228")
	return TrackedOrder{ExecutionID: "0b1e1b2c-0000-5000-8000-000000000002", Symbol: "AAPL", Shares: d("1"),
		Direction: market.Sell, Broker: market.DryRun, ReferencePrice: &ref, Status: status, LastUpdate: lastUpdate}
}

func commandOf(t *testing.T, r *kgo.Record) (string, aggregate.Command) {
	t.Helper()
	if r == nil {
		t.Fatal("no command")
	}
	env, c := decodeCommand(t, runner.Output{Value: r.Value})
	return env.CommandID, c
}

func TestPollerPlacesPollsAndCompletes(t *testing.T) {
	now := t0
	b, err := dryrun.Open(dryrun.Config{Price: dryrun.PriceLast})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPoller(t, b, &now, nopOrders{})
	id, c := commandOf(t, p.advance(context.Background(), order(OrderPending, now)))
	sub, ok := c.(offchainorder.ConfirmSubmission)
	if !ok || !strings.HasPrefix(id, "submit:") || sub.BrokerOrderID == "" {
		t.Fatalf("pending order: %s %+v", id, c)
	}
	o := order(OrderSubmitted, now)
	o.BrokerOrderID = sub.BrokerOrderID
	id, c = commandOf(t, p.advance(context.Background(), o))
	fill, ok := c.(offchainorder.CompleteFill)
	if !ok || !strings.HasPrefix(id, "fill:") || !fill.Price.Equal(d("228")) || !fill.SharesFilled.Equal(d("1")) {
		t.Fatalf("submitted order: %s %+v", id, c)
	}
	if es, err := b.Orders(); err != nil || len(es) != 1 {
		t.Fatalf("broker has %d orders, %v", len(es), err)
	}
}

func TestPollerBacksOffAndFailsStaleOrders(t *testing.T) {
	now := t0
	f := &flaky{}
	p, _ := newPoller(t, f, &now, nopOrders{})
	o := order(OrderPending, t0)
	var waits []time.Duration
	for i := 0; i < 400; i++ { // 40 s of 100 ms ticks
		before := f.calls
		if r := p.advance(context.Background(), o); r != nil {
			t.Fatalf("transient failure produced a command at tick %d", i)
		}
		if f.calls > before {
			waits = append(waits, now.Sub(t0))
		}
		now = now.Add(100 * time.Millisecond)
	}
	// Attempts at 0, 1, 3, 7, 15, 23, 31, 39 s: doubling, capped at 8 s.
	if len(waits) > 9 || len(waits) < 6 {
		t.Fatalf("broker called %d times in 40 s: %v (want exponential backoff)", len(waits), waits)
	}
	now = t0.Add(11 * time.Minute)
	id, c := commandOf(t, p.advance(context.Background(), o))
	if mf, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") || !strings.Contains(mf.Error, "stale") {
		t.Fatalf("stale order: %s %+v", id, c)
	}
}

func TestPollerFailsRejectedOrders(t *testing.T) {
	now := t0
	b, err := dryrun.Open(dryrun.Config{Price: dryrun.PriceLast})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPoller(t, b, &now, nopOrders{})
	o := order(OrderPending, now)
	o.ReferencePrice = nil // the dry-run broker cannot price it: a permanent rejection
	id, c := commandOf(t, p.advance(context.Background(), o))
	if _, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") {
		t.Fatalf("rejected order: %s %+v", id, c)
	}
}

// TestPollerReconcilesOnAssignAtOnce: an instance was killed after its
// broker accepted an order and before the acceptance was recorded. The
// survivor's poller, told it owns the partition, asks the broker at once
// (not an hour later, its interval) and confirms the order, without
// placing it again.
func TestPollerReconcilesOnAssignAtOnce(t *testing.T) {
	now := t0
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	survivor := openDryRun(t, ledger) // opened before the order existed
	o := order(OrderPending, now)
	brokerID := placeAt(t, openDryRun(t, ledger), o)
	rec := &recorder{Broker: survivor}
	orders := table(o)
	p, out := newPoller(t, rec, &now, orders)
	p.cfg.Interval = time.Hour

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-orders.walks // the first tick, before any partition is owned
	if calls := rec.Calls(); len(calls) != 0 {
		t.Fatalf("broker called before Assign: %v", calls)
	}
	p.Assign([]int32{0})
	select {
	case <-out.sent:
	case <-time.After(10 * time.Second):
		t.Fatalf("no command 10 s after Assign; broker calls %v", rec.Calls())
	}
	want := fmt.Sprintf("submit:%s %+v", o.ExecutionID, offchainorder.ConfirmSubmission{BrokerOrderID: brokerID})
	if got := out.commands(t)[o.ExecutionID]; got != want {
		t.Fatalf("command %q, want %q", got, want)
	}
	if calls := rec.Calls(); !slices.Equal(calls, []string{"Find " + o.ExecutionID}) {
		t.Fatalf("broker calls %v, want one Find", calls)
	}
}

// TestPollerConfirmsOrdersOfAnotherInstance: on Assign, each in-flight order
// is reconciled by client order id, even when Status cannot find it by
// broker order id and even when it is older than the stale timeout: an
// order the other instance placed is confirmed or filled, never failed or
// placed twice; an unknown pending order is placed; a submitted order no
// one knows is failed.
func TestPollerConfirmsOrdersOfAnotherInstance(t *testing.T) {
	now := t0.Add(time.Hour)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	survivor := openDryRun(t, ledger)
	killed := openDryRun(t, ledger)
	withID := func(id string, st OrderStatus, lastUpdate time.Time) TrackedOrder {
		o := order(st, lastUpdate)
		o.ExecutionID = id
		return o
	}
	stale := now.Add(-11 * time.Minute)
	accepted := withID("exec-accepted", OrderPending, stale) // accepted, not yet recorded
	submitted := withID("exec-submitted", OrderSubmitted, stale)
	submitted.BrokerOrderID = placeAt(t, killed, submitted)
	acceptedID := placeAt(t, killed, accepted)
	unknown := withID("exec-unknown", OrderPending, now)
	lost := withID("exec-lost", OrderSubmitted, now)
	lost.BrokerOrderID = "DRY-0000000000000000"

	rec := &recorder{Broker: survivor, lost: true}
	p, out := newPoller(t, rec, &now, table(accepted, submitted, unknown, lost))
	p.Assign([]int32{0})
	if err := p.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := out.commands(t)
	for id, want := range map[string]string{
		accepted.ExecutionID:  fmt.Sprintf("submit:%s %+v", accepted.ExecutionID, offchainorder.ConfirmSubmission{BrokerOrderID: acceptedID}),
		submitted.ExecutionID: "fill:" + submitted.ExecutionID,
		unknown.ExecutionID:   fmt.Sprintf("submit:%s %+v", unknown.ExecutionID, offchainorder.ConfirmSubmission{BrokerOrderID: dryrun.BrokerOrderID(unknown.ExecutionID)}),
		lost.ExecutionID:      "fail:" + lost.ExecutionID + " {Error:broker does not know order",
	} {
		if !strings.HasPrefix(got[id], want) {
			t.Errorf("%s: command %q, want %q...", id, got[id], want)
		}
	}
	wantCalls := []string{
		"Find " + accepted.ExecutionID,
		"Find " + lost.ExecutionID, "Status " + lost.BrokerOrderID,
		"Find " + submitted.ExecutionID, "Status " + submitted.BrokerOrderID,
		"Find " + unknown.ExecutionID, "Place " + unknown.ExecutionID,
	}
	slices.Sort(wantCalls)
	if calls := rec.Calls(); !slices.Equal(calls, wantCalls) {
		t.Errorf("broker calls\n got %v\nwant %v", calls, wantCalls)
	}
	if es, err := survivor.Orders(); err != nil || len(es) != 3 {
		t.Errorf("ledger has %d orders, want 3: %v", len(es), err)
	}
}

// TestPollerAssignClearsBackoff: an order of a partition owned anew is
// retried at once, whatever backoff it had here before.
func TestPollerAssignClearsBackoff(t *testing.T) {
	now := t0
	f := &flaky{}
	p, _ := newPoller(t, f, &now, table(order(OrderPending, now)))
	tick := func(wantCalls int) {
		t.Helper()
		if err := p.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f.calls != wantCalls {
			t.Fatalf("broker called %d times, want %d", f.calls, wantCalls)
		}
	}
	p.Assign([]int32{0})
	tick(1) // fails: backoff
	tick(1)
	p.Assign([]int32{0}) // still owned: nothing new
	tick(1)
	p.Assign(nil) // lost and owned anew by one rebalance after another
	p.Assign([]int32{0})
	tick(2)
}

// pendingAt is a Positions with fixed pending hedges.
type pendingAt map[market.Symbol]string

func (p pendingAt) Pending(s market.Symbol) (string, error) { return p[s], nil }

// A hand-made Place (a valid UUID, a fresh timestamp) reaches the tracker
// like a real hedge. The poller must not place at the broker an order its
// position does not have pending: it waits out the grace (the position's
// write may lag), then fails it, and the broker never sees it.
func TestPollerPlacesOnlyHedgesTheirPositionHasPending(t *testing.T) {
	now := t0
	b, err := dryrun.Open(dryrun.Config{Price: dryrun.PriceLast})
	if err != nil {
		t.Fatal(err)
	}
	o := order(OrderPending, now)
	positions := pendingAt{}
	out := &sentCommands{sent: make(chan struct{}, 8)}
	p, err := NewPoller(PollerConfig{Broker: b, Orders: nopOrders{}, Producer: out, Partitions: 1, Positions: positions,
		Interval: time.Second, StaleAfter: 10 * time.Minute, MaxBackoff: 8 * time.Second, NotPendingGrace: 5 * time.Second,
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.advance(context.Background(), o); r != nil {
		t.Fatalf("within the grace: %v, want nothing yet", r)
	}
	// An order from a backlog (its event minutes old) gets the grace from
	// when the poller first sees it: the placer's record may lag a moment.
	old := order(OrderPending, now.Add(-2*time.Minute))
	old.ExecutionID = "0b1e1b2c-0000-5000-8000-0000000000aa"
	if r := p.advance(context.Background(), old); r != nil {
		t.Fatalf("old order at first sight: %v, want the grace first", r)
	}
	now = now.Add(6 * time.Second)
	id, c := commandOf(t, p.advance(context.Background(), o))
	if mf, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") || !strings.Contains(mf.Error, "no hedge") {
		t.Fatalf("forged order: %s %+v, want failed", id, c)
	}
	if es, err := b.Orders(); err != nil || len(es) != 0 {
		t.Fatalf("broker has %d orders (%v): a forged order was placed", len(es), err)
	}
	// The position's real hedge is placed at once.
	positions["AAPL"] = o.ExecutionID
	if _, c := commandOf(t, p.advance(context.Background(), order(OrderPending, now))); c.CommandType() != "ConfirmSubmission" {
		t.Fatalf("pending hedge: %+v, want it placed", c)
	}
}
