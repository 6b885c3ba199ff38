package managers

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"log/slog"
	"math/rand/v2"
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
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

var t0 = time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// eventIn wraps an event as the runner would deliver it.
func eventIn(t *testing.T, aggType, id string, seq uint64, e aggregate.Event) runner.Input {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := topics.EncodeEvent(topics.EventEnvelope{
		AggregateType: aggType, AggregateID: id, Sequence: seq, EventType: e.EventType(), EventVersion: 1,
		OccurredAt: t0, CommandID: "c", CorrelationID: "c", CausationID: "c", Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := topics.TopicsFor(aggType)
	if err != nil {
		t.Fatal(err)
	}
	return runner.Input{Topic: tt.Events, Key: id, Value: b, Offset: int64(seq), Timestamp: t0}
}

func decodeCommand(t *testing.T, o runner.Output) (topics.CommandEnvelope, aggregate.Command) {
	t.Helper()
	env, err := topics.DecodeCommand(o.Value)
	if err != nil {
		t.Fatal(err)
	}
	var dec aggregate.Decoder[aggregate.Command]
	switch env.AggregateType {
	case topics.Position:
		dec = position.Commands
	case topics.OffchainOrder:
		dec = offchainorder.Commands
	}
	c, err := dec.Decode(env.CommandType, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return env, c
}

func TestTradeManagerAcknowledgesFillsByBaseSymbol(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("ab", 32), 7)
	th, _ := market.SharesThreshold(d("2"))
	cfg := TradeConfig{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}
	filled := onchaintrade.Filled{TradeID: id, Symbol: "NVDAs1", BaseSymbol: "NVDA", Amount: d("0.374"),
		Direction: market.Sell, PriceUSDC: d("171.58"), BlockNumber: 9, BlockTimestamp: t0, FilledAt: t0}
	handle := TradeManager(cfg).Handle
	var st Derived
	st, out, err := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 1, filled))
	if err != nil || len(out) != 1 {
		t.Fatalf("out %v err %v", out, err)
	}
	if out[0].Topic != topics.PositionCommands || out[0].Key != "NVDA" {
		t.Fatalf("routed to %s key %s", out[0].Topic, out[0].Key)
	}
	env, c := decodeCommand(t, out[0])
	ack := c.(position.AcknowledgeOnChainFill)
	if env.CommandID != "ack:"+id.String() || env.AggregateID != "NVDA" || !env.IssuedAt.Equal(t0) {
		t.Fatalf("envelope %+v", env)
	}
	if !ack.Amount.Equal(d("0.374")) || ack.Direction != market.Sell || ack.Threshold == nil || !ack.Threshold.Shares.Equal(d("2")) {
		t.Fatalf("ack %+v", ack)
	}
	// Handled again from scratch (its record lost): the same bytes.
	if _, again, _ := handle(Derived{}, eventIn(t, topics.OnChainTrade, id.String(), 1, filled)); string(again[0].Value) != string(out[0].Value) {
		t.Fatal("trade manager is not deterministic")
	}
	// The same event re-published (at another offset): a duplicate.
	if _, again, err := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 1, filled)); len(again) != 0 || !errors.Is(err, runner.ErrDuplicate) {
		t.Fatalf("re-published Filled: %v %v, want a duplicate", again, err)
	}
	// Enrichment changes no exposure.
	if _, out, _ := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 2, onchaintrade.Enriched{GasUsed: 1, EffectiveGasPrice: 1, EnrichedAt: t0})); len(out) != 0 {
		t.Fatalf("enrichment produced %v", out)
	}
}

func TestManagersRejectPoisonWithReason(t *testing.T) {
	poison := runner.Input{Topic: topics.OnChainTradeEvents, Key: "k", Value: []byte("not json"), Offset: 3, Timestamp: t0}
	for name, run := range map[string]func() ([]runner.Output, error){
		"trade manager": func() ([]runner.Output, error) {
			_, out, err := TradeManager(TradeConfig{}).Handle(Derived{}, poison)
			return out, err
		},
		"order placer": func() ([]runner.Output, error) {
			_, out, err := OrderPlacer().Handle(PendingHedge{}, poison)
			return out, err
		},
		"pnl": func() ([]runner.Output, error) {
			_, out, err := handlePnL(PnLState{}, poison)
			return out, err
		},
	} {
		out, err := run()
		if err != nil || len(out) != 1 || !strings.HasSuffix(out[0].Topic, ".rejections") {
			t.Fatalf("%s: out %v err %v", name, out, err)
		}
		r, err := topics.DecodeRejection(out[0].Value)
		if err != nil || !strings.Contains(r.Reason, "undecodable") || r.Offset != 3 || string(r.Original()) != "not json" {
			t.Fatalf("%s: rejection %+v %v", name, r, err)
		}
	}
}

func TestPnLStageAppliesFillsOnceInPositionOrder(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("cd", 32), 1)
	var book PnLState
	var recs []pnl.Record
	feed := func(seq uint64, e aggregate.Event) {
		t.Helper()
		var out []runner.Output
		var err error
		book, out, err = handlePnL(book, eventIn(t, topics.Position, "AAPL", seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
			t.Fatal(err)
		}
		for _, o := range out {
			var r pnl.Record
			if err := json.Unmarshal(o.Value, &r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	feed(1, position.Initialized{Symbol: "AAPL", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0})
	feed(2, position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1.5"), Direction: market.Sell, PriceUSDC: d("150"), BlockTimestamp: t0, SeenAt: t0})
	feed(2, position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1.5"), Direction: market.Sell, PriceUSDC: d("150"), BlockTimestamp: t0, SeenAt: t0}) // duplicate
	feed(3, position.OffChainOrderFilled{ExecutionID: "x", SharesFilled: d("1"), Direction: market.Buy, BrokerOrderID: "b", Price: d("148.5"), BrokerTimestamp: t0})
	if len(recs) != 2 {
		t.Fatalf("want 2 records (duplicate skipped), got %d", len(recs))
	}
	last := recs[1]
	if last.Venue != pnl.Offchain || !last.RealizedPnL.Equal(d("1.5")) || !last.NetPositionAfter.Equal(d("-0.5")) || last.PositionSequence != 3 {
		t.Fatalf("offchain record %+v", last)
	}
}

func TestTrackerReportsOutcomeToPosition(t *testing.T) {
	exec := "0b1e1b2c-0000-5000-8000-000000000001"
	var o TrackedOrder
	step := func(seq uint64, e aggregate.Event) []runner.Output {
		t.Helper()
		var out []runner.Output
		var err error
		o, out, err = trackOrder(o, eventIn(t, topics.OffchainOrder, exec, seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
			t.Fatal(err)
		}
		return out
	}
	ref := d("228")
	step(1, offchainorder.Placed{Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun, ReferencePrice: &ref, PlacedAt: t0})
	if o.Status != OrderPending || !o.ReferencePrice.Equal(ref) {
		t.Fatalf("after Placed: %+v", o)
	}
	step(2, offchainorder.Submitted{BrokerOrderID: "DRY-1", SubmittedAt: t0})
	out := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0.Add(time.Second)})
	if o.Status != OrderDone || len(out) != 1 || out[0].Key != "AAPL" {
		t.Fatalf("after Filled: %+v out %v", o, out)
	}
	env, c := decodeCommand(t, out[0])
	done := c.(position.CompleteOffChainOrder)
	if env.CommandID != "complete:"+exec || done.ExecutionID != exec || !done.SharesFilled.Equal(d("2")) || !done.Price.Equal(d("227.5")) || done.BrokerOrderID != "DRY-1" {
		t.Fatalf("complete %+v %+v", env, done)
	}
	if again := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0}); len(again) != 0 {
		t.Fatal("duplicate event reported twice")
	}
	if out[0].Topic != topics.PositionCommands {
		t.Fatalf("outcome sent to %s, want %s", out[0].Topic, topics.PositionCommands)
	}
}

// The broker lost an order's Submitted event and the order aggregate
// re-published it after Filled: the tracker must hold Filled until
// Submitted is in, then report the fill with the broker order id.
func TestTrackerWaitsForAGapInTheOrdersEvents(t *testing.T) {
	exec := "0b1e1b2c-0000-5000-8000-000000000002"
	var o TrackedOrder
	step := func(seq uint64, e aggregate.Event) []runner.Output {
		t.Helper()
		var out []runner.Output
		var err error
		o, out, err = trackOrder(o, eventIn(t, topics.OffchainOrder, exec, seq, e))
		if err != nil && !errors.Is(err, runner.ErrDuplicate) {
			t.Fatal(err)
		}
		return out
	}
	step(1, offchainorder.Placed{Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun, PlacedAt: t0})
	if out := step(3, offchainorder.Filled{Price: d("227.5"), FilledAt: t0}); len(out) != 0 || o.Status != OrderPending || len(o.Parked) != 1 {
		t.Fatalf("event 3 beyond the gap: out %v, state %+v; want it parked", out, o)
	}
	out := step(2, offchainorder.Submitted{BrokerOrderID: "DRY-9", SubmittedAt: t0})
	if len(out) != 1 || o.Status != OrderDone || o.LastSequence != 3 || o.Parked != nil {
		t.Fatalf("gap filled: out %v state %+v; want Filled applied after Submitted", out, o)
	}
	if _, c := decodeCommand(t, out[0]); c.(position.CompleteOffChainOrder).BrokerOrderID != "DRY-9" {
		t.Fatalf("complete %+v", c)
	}
}

// Issue 8: the broker lost position event 553 but kept 554; 553 came again
// later. The PnL of every order of arrival with gaps and repeats must equal
// the PnL of the events in order.
func TestPnLStageWaitsForGaps(t *testing.T) {
	seed := testseed.Seed(t, "arrival orders")
	r := rand.New(rand.NewPCG(seed, 3))
	var evs []aggregate.Event
	evs = append(evs, position.Initialized{Symbol: "NVDA", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0})
	for i := range 40 {
		id, _ := market.NewTradeID(fmt.Sprintf("0x%064x", i+1), 0)
		dir := market.Buy
		if r.IntN(2) == 0 {
			dir = market.Sell
		}
		evs = append(evs, position.OnChainOrderFilled{TradeID: id, BlockNumber: uint64(i + 1), Amount: decimal.New(1+r.Int64N(300), -1),
			Direction: dir, PriceUSDC: decimal.New(17000+r.Int64N(2000), -2), BlockTimestamp: t0, SeenAt: t0})
	}
	run := func(order []int) string {
		var st PnLState
		var recs []string
		for _, i := range order {
			var out []runner.Output
			var err error
			st, out, err = handlePnL(st, eventIn(t, topics.Position, "NVDA", uint64(i+1), evs[i]))
			if err != nil && !errors.Is(err, runner.ErrDuplicate) {
				t.Fatal(err)
			}
			for _, o := range out {
				recs = append(recs, string(o.Value))
			}
		}
		if len(st.Parked) != 0 {
			t.Fatalf("seed %d: %d events still parked", seed, len(st.Parked))
		}
		return strings.Join(recs, "\n")
	}
	inOrder := make([]int, len(evs))
	for i := range inOrder {
		inOrder[i] = i
	}
	want := run(inOrder)
	for range 50 {
		// Each event arrives once or twice, a lost one later than its
		// successors: swap random neighbours, duplicate random ones.
		order := slices.Clone(inOrder)
		for range 10 {
			i := r.IntN(len(order) - 1)
			order[i], order[i+1] = order[i+1], order[i]
		}
		for range 5 {
			order = slices.Insert(order, r.IntN(len(order)), order[r.IntN(len(order))])
		}
		if got := run(order); got != want {
			t.Fatalf("arrival order %v gives other PnL records than in order", order)
		}
	}
}

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
	state, err := json.Marshal(OrderState{Down: o})
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

// After a crash the trade manager re-sends the acknowledgements of its
// uncommitted inputs. The position refuses them by its rules (already
// applied), but they broke no rule: they are duplicates, not rejections.
// A command that repeats an applied one without being a re-send (a new
// command id, no source) still is a rejection.
func TestResentCommandsAreDuplicatesNotRejections(t *testing.T) {
	stage, err := runner.AggregateStage(position.Definition)
	if err != nil {
		t.Fatal(err)
	}
	th, _ := market.SharesThreshold(d("1000"))
	cfg := TradeConfig{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}
	var acks []runner.Input
	for i := range 40 {
		id, _ := market.NewTradeID(fmt.Sprintf("0x%064x", i+1), 0)
		filled := onchaintrade.Filled{TradeID: id, Symbol: "tAAPL", BaseSymbol: "AAPL", Amount: d("0.5"),
			Direction: market.Buy, PriceUSDC: d("230"), BlockNumber: uint64(10 + i), BlockTimestamp: t0, FilledAt: t0}
		ev := eventIn(t, topics.OnChainTrade, id.String(), 1, filled)
		ev.Topic, ev.Partition, ev.Offset = topics.OnChainTradeEvents, 2, int64(100+i)
		_, out, err := TradeManager(cfg).Handle(Derived{}, ev)
		if err != nil || len(out) != 1 {
			t.Fatalf("ack %d: %v %v", i, out, err)
		}
		acks = append(acks, runner.Input{Topic: out[0].Topic, Key: out[0].Key, Value: out[0].Value, Timestamp: t0})
	}
	var st runner.AggState[position.State]
	apply := func(in runner.Input) ([]runner.Output, error) {
		var out []runner.Output
		var err error
		st, out, err = stage.Handle(st, in)
		return out, err
	}
	for _, a := range acks {
		if out, err := apply(a); err != nil || len(out) == 0 || out[0].Topic != topics.PositionEvents {
			t.Fatalf("first delivery: %v %v", out, err)
		}
	}
	for i, a := range acks { // the crash: all 40 again (more than the 32 remembered ids)
		out, err := apply(a)
		if !errors.Is(err, runner.ErrDuplicate) || len(out) != 0 {
			t.Fatalf("re-sent ack %d: out %v err %v; want a duplicate, nothing emitted", i, out, err)
		}
	}
	// The same fill by hand, as a new command: that breaks a rule.
	env, err := topics.DecodeCommand(acks[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	env.CommandID, env.Source = "manual:1", nil
	b, err := topics.EncodeCommand(env)
	if err != nil {
		t.Fatal(err)
	}
	manual := acks[0]
	manual.Value = b
	if out, err := apply(manual); err != nil || len(out) != 1 || out[0].Topic != topics.PositionRejections {
		t.Fatalf("manual repeat: out %v err %v; want a rejection", out, err)
	}
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

// The order placer records which hedge its position has pending (what the
// poller checks before placing anything at the broker), only forward in the
// position's sequence, and records nothing for fills.
func TestOrderPlacerTracksThePendingHedge(t *testing.T) {
	handle := OrderPlacer().Handle
	exec := position.ExecutionID("AAPL", 2)
	placed := position.OffChainOrderPlaced{ExecutionID: exec, Symbol: "AAPL", Shares: d("2"), Direction: market.Sell, Broker: market.DryRun,
		TriggerReason: position.TriggerReason{Kind: position.TriggerShares, NetPosition: d("2.5")}, PlacedAt: t0}
	st, out, err := handle(PendingHedge{}, eventIn(t, topics.Position, "AAPL", 2, placed))
	if err != nil || len(out) != 1 || st.ExecutionID != exec {
		t.Fatalf("placed: out %v err %v state %+v", out, err, st)
	}
	if _, c := decodeCommand(t, out[0]); c.CommandType() != "Place" || out[0].Key != exec {
		t.Fatalf("command %+v to %s", c, out[0].Key)
	}
	id, _ := market.NewTradeID("0x"+strings.Repeat("ef", 32), 1)
	fill := position.OnChainOrderFilled{TradeID: id, BlockNumber: 1, Amount: d("1"), Direction: market.Buy, PriceUSDC: d("228"), BlockTimestamp: t0, SeenAt: t0}
	if next, out, _ := handle(st, eventIn(t, topics.Position, "AAPL", 3, fill)); next != st || len(out) != 0 {
		t.Fatalf("a fill changed %+v to %+v (out %v)", st, next, out)
	}
	filled := position.OffChainOrderFilled{ExecutionID: exec, SharesFilled: d("2"), Direction: market.Sell, BrokerOrderID: "b", Price: d("228"), BrokerTimestamp: t0}
	st, out, err = handle(st, eventIn(t, topics.Position, "AAPL", 4, filled))
	if err != nil || len(out) != 0 || st.ExecutionID != "" || st.Sequence != 4 {
		t.Fatalf("filled: out %v err %v state %+v", out, err, st)
	}
	// The Placed event re-published late: its Place goes out again (the
	// order aggregate drops it), but the hedge stays settled.
	if st2, out, _ := handle(st, eventIn(t, topics.Position, "AAPL", 2, placed)); st2.ExecutionID != "" || len(out) != 1 {
		t.Fatalf("late Placed: state %+v out %v", st2, out)
	}
}
