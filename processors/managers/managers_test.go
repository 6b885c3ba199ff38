package managers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/market"
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
	return runner.Input{Topic: "in", Key: id, Value: b, Offset: int64(seq), Timestamp: t0}
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
	out, err := acknowledge(cfg, eventIn(t, topics.OnChainTrade, id.String(), 1, filled))
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
	// Same input again: same bytes, so the position drops it as a duplicate.
	again, _ := acknowledge(cfg, eventIn(t, topics.OnChainTrade, id.String(), 1, filled))
	if string(again[0].Value) != string(out[0].Value) {
		t.Fatal("trade manager is not deterministic")
	}
	// Enrichment changes no exposure.
	if out, _ := acknowledge(cfg, eventIn(t, topics.OnChainTrade, id.String(), 2, onchaintrade.Enriched{GasUsed: 1, EffectiveGasPrice: 1, EnrichedAt: t0})); len(out) != 0 {
		t.Fatalf("enrichment produced %v", out)
	}
}

func TestManagersRejectPoisonWithReason(t *testing.T) {
	poison := runner.Input{Topic: topics.OnChainTradeEvents, Key: "k", Value: []byte("not json"), Offset: 3, Timestamp: t0}
	for name, run := range map[string]func() ([]runner.Output, error){
		"trade manager": func() ([]runner.Output, error) { return acknowledge(TradeConfig{}, poison) },
		"order placer":  func() ([]runner.Output, error) { return placeOrder(poison) },
		"pnl": func() ([]runner.Output, error) {
			_, out, err := handlePnL(pnl.Book{}, poison)
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
	var book pnl.Book
	var recs []pnl.Record
	feed := func(seq uint64, e aggregate.Event) {
		t.Helper()
		var out []runner.Output
		var err error
		book, out, err = handlePnL(book, eventIn(t, topics.Position, "AAPL", seq, e))
		if err != nil {
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
		if err != nil {
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
func (f *flaky) Find(context.Context, string) (brokers.KnownOrder, error) {
	f.calls++
	return brokers.KnownOrder{}, errors.New("connection reset")
}

func newPoller(t *testing.T, b brokers.Broker, now *time.Time) *Poller {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialed: advance only builds records
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p, err := NewPoller(PollerConfig{Broker: b, Orders: nopOrders{}, Producer: cl, Partitions: 1,
		Interval: time.Second, StaleAfter: 10 * time.Minute, MaxBackoff: 8 * time.Second, Clock: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type nopOrders struct{}

func (nopOrders) Each(func(string, []byte) error) error { return nil }

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
	p := newPoller(t, b, &now)
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
	p := newPoller(t, f, &now)
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
	p := newPoller(t, b, &now)
	o := order(OrderPending, now)
	o.ReferencePrice = nil // the dry-run broker cannot price it: a permanent rejection
	id, c := commandOf(t, p.advance(context.Background(), o))
	if _, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") {
		t.Fatalf("rejected order: %s %+v", id, c)
	}
}
