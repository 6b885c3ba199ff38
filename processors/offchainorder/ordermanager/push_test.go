package ordermanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/topics"
)

// hours is a broker whose market opens when the test says, and whose
// Status can report a status the mapping does not know.
type hours struct {
	brokers.Broker
	mu       sync.Mutex
	open     bool
	nextOpen time.Time
	asked    int
	places   int
	statuses int
	unmapped bool
}

func (h *hours) Market(context.Context) (brokers.MarketState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked++
	return brokers.MarketState{Open: h.open, NextOpen: h.nextOpen}, nil
}

func (h *hours) Place(ctx context.Context, o brokers.Order) (brokers.Placement, error) {
	h.mu.Lock()
	h.places++
	h.mu.Unlock()
	return h.Broker.Place(ctx, o)
}

func (h *hours) Status(ctx context.Context, id string) (brokers.OrderStatus, error) {
	h.mu.Lock()
	h.statuses++
	unmapped := h.unmapped
	h.mu.Unlock()
	if unmapped {
		return brokers.OrderStatus{}, fmt.Errorf("%w: unknown order status %q", brokers.ErrRejected, "held_for_review")
	}
	return h.Broker.Status(ctx, id)
}

func (h *hours) set(open bool, next time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open, h.nextOpen = open, next
}

func (h *hours) counts() (asked, places, statuses int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asked, h.places, h.statuses
}

func newHours(t *testing.T, open bool) *hours {
	t.Helper()
	b, err := dryrun.Open(dryrun.Config{Price: dryrun.PriceLast, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &hours{Broker: b, open: open}
}

// TestPollerHoldsHedgesWhileTheMarketIsClosed: a hedge decided while the
// market is closed is not placed, not failed as stale however long the
// market stays closed, and placed at the open, which is read again at the
// announced next open rather than a check interval later.
func TestPollerHoldsHedgesWhileTheMarketIsClosed(t *testing.T) {
	now := t0
	h := newHours(t, false)
	h.set(false, t0.Add(20*time.Hour))
	p, _ := newPoller(t, h, &now, nopOrders{})
	o := order(OrderPending, t0)
	for i := 0; i < 20*60; i++ { // a night of minute ticks
		if r := p.advance(context.Background(), o); r != nil {
			id, c := commandOf(t, r)
			t.Fatalf("closed market at %s: %s %+v", now, id, c)
		}
		now = now.Add(time.Minute)
	}
	asked, places, _ := h.counts()
	if places != 0 {
		t.Fatalf("%d orders placed while the market was closed", places)
	}
	if want := 20 * 60 * int(time.Minute/DefaultMarketCheckEvery); asked > want {
		t.Fatalf("market hours read %d times in 20 h, want at most one per check interval (%d)", asked, want)
	}
	// The open comes between two checks: the announced next open is when
	// the broker is asked again.
	now = t0.Add(20 * time.Hour)
	h.set(true, time.Time{})
	id, c := commandOf(t, p.advance(context.Background(), o))
	if _, ok := c.(offchainorder.ConfirmSubmission); !ok || !strings.HasPrefix(id, "submit:") {
		t.Fatalf("at the open: %s %+v, want the hedge placed", id, c)
	}
}

// TestPollerPlacesNothingBeforeTheBrokerAnswersMarketHours: no answer is
// not an open market.
func TestPollerPlacesNothingBeforeTheBrokerAnswersMarketHours(t *testing.T) {
	now := t0
	p, _ := newPoller(t, &noHours{Broker: newHours(t, true)}, &now, nopOrders{})
	if r := p.advance(context.Background(), order(OrderPending, now)); r != nil {
		t.Fatal("placed although the market hours were unknown")
	}
}

type noHours struct{ brokers.Broker }

func (noHours) Market(context.Context) (brokers.MarketState, error) {
	return brokers.MarketState{}, errors.New("503 service unavailable")
}

// TestPushedFillIsRecordedLikeAPolledOne: a pushed fill becomes the command
// a poll would send, with the same id, so when both happen the order
// aggregate drops the second as a duplicate.
func TestPushedFillIsRecordedLikeAPolledOne(t *testing.T) {
	now := t0
	h := newHours(t, true)
	o := order(OrderSubmitted, t0)
	o.BrokerOrderID = placeAt(t, h, o)
	p, out := newPoller(t, h, &now, table(o))
	p.Assign([]int32{0})

	st, err := h.Status(context.Background(), o.BrokerOrderID)
	if err != nil || st.State != brokers.StateFilled {
		t.Fatalf("dry-run status %+v, %v", st, err)
	}
	p.handleUpdate(context.Background(), brokers.Update{ClientOrderID: o.ExecutionID, BrokerOrderID: o.BrokerOrderID, Status: st})
	if len(out.recs) != 1 {
		t.Fatalf("pushed fill produced %d records, want 1", len(out.recs))
	}
	pushedID, c := commandOf(t, out.recs[0])
	fill, ok := c.(offchainorder.CompleteFill)
	if !ok || !fill.Price.Equal(d("228")) || !fill.SharesFilled.Equal(d("1")) {
		t.Fatalf("pushed fill: %s %+v", pushedID, c)
	}
	polledID, _ := commandOf(t, p.poll(context.Background(), o, now))
	if pushedID != polledID {
		t.Fatalf("pushed command id %q, polled %q: a fill seen both ways would be recorded twice", pushedID, polledID)
	}
}

// TestPushedOutcomeOfAnUnrecordedSubmission: an update for an order the
// view still shows pending (placed by an instance that died before
// recording it) records the submission, then the outcome, on one key.
func TestPushedOutcomeOfAnUnrecordedSubmission(t *testing.T) {
	now := t0
	h := newHours(t, true)
	o := order(OrderPending, t0)
	p, out := newPoller(t, h, &now, table(o))
	p.Assign([]int32{0})
	p.handleUpdate(context.Background(), brokers.Update{ClientOrderID: o.ExecutionID, BrokerOrderID: "B-1",
		Status: brokers.OrderStatus{State: brokers.StateFailed, Error: "canceled"}})
	if len(out.recs) != 2 {
		t.Fatalf("%d records, want submit then fail", len(out.recs))
	}
	for i, want := range []string{"submit:", "fail:"} {
		id, _ := commandOf(t, out.recs[i])
		if !strings.HasPrefix(id, want) || string(out.recs[i].Key) != o.ExecutionID {
			t.Fatalf("record %d: %s keyed %s, want %s... keyed %s", i, id, out.recs[i].Key, want, o.ExecutionID)
		}
	}
}

// TestPushedUpdatesThatNeedNothing: updates for orders the pipeline did
// not place, orders that are done, orders of another instance, and
// non-terminal events produce nothing; an unmappable event fails its order.
func TestPushedUpdatesThatNeedNothing(t *testing.T) {
	now := t0
	h := newHours(t, true)
	sub := order(OrderSubmitted, t0)
	sub.BrokerOrderID = "B-1"
	done := order(OrderDone, t0)
	done.ExecutionID = "0b1e1b2c-0000-5000-8000-000000000009"
	p, out := newPoller(t, h, &now, table(sub, done))
	filled := brokers.OrderStatus{State: brokers.StateFilled, FilledShares: d("1"), AvgPrice: d("1")}
	p.handleUpdate(context.Background(), brokers.Update{ClientOrderID: sub.ExecutionID, Status: filled})
	if len(out.recs) != 0 {
		t.Fatal("an update for a partition this instance does not own was recorded")
	}
	p.Assign([]int32{0})
	for _, u := range []brokers.Update{
		{ClientOrderID: "manual-order-1", Status: filled},
		{ClientOrderID: done.ExecutionID, Status: filled},
		{ClientOrderID: sub.ExecutionID, Status: brokers.OrderStatus{State: brokers.StateSubmitted}},
	} {
		p.handleUpdate(context.Background(), u)
		if len(out.recs) != 0 {
			t.Fatalf("update %+v produced %d records", u, len(out.recs))
		}
	}
	p.handleUpdate(context.Background(), brokers.Update{ClientOrderID: sub.ExecutionID,
		Err: fmt.Errorf("%w: fill without filled_avg_price", brokers.ErrRejected)})
	if len(out.recs) != 1 {
		t.Fatalf("unmappable update: %d records, want the order failed", len(out.recs))
	}
	id, c := commandOf(t, out.recs[0])
	if mf, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") || !strings.Contains(mf.Error, "filled_avg_price") {
		t.Fatalf("unmappable update: %s %+v", id, c)
	}
}

// TestPollerFailsAnUnmappableStatus: a status the mapping does not know
// fails the order visibly instead of being retried for ever.
func TestPollerFailsAnUnmappableStatus(t *testing.T) {
	now := t0
	h := newHours(t, true)
	h.unmapped = true
	o := order(OrderSubmitted, t0)
	o.BrokerOrderID = "B-1"
	p, _ := newPoller(t, h, &now, nopOrders{})
	id, c := commandOf(t, p.advance(context.Background(), o))
	if mf, ok := c.(offchainorder.MarkFailed); !ok || !strings.HasPrefix(id, "fail:") || !strings.Contains(mf.Error, "held_for_review") {
		t.Fatalf("unmapped status: %s %+v", id, c)
	}
}

// TestStreamingPollsOnlyAsASafetyNet: while the update stream listens, an
// order this poller placed is not polled until StreamedPollEvery; while
// it is down, every tick polls; when it is back, every submitted order is
// polled once at the next tick for the events of the gap.
func TestStreamingPollsOnlyAsASafetyNet(t *testing.T) {
	now := t0
	h := newHours(t, true)
	o := order(OrderPending, t0)
	orders := table(o)
	p, out := newPoller(t, h, &now, orders)
	p.Assign([]int32{0})
	p.setListening(true)
	ctx := context.Background()
	if err := p.Tick(ctx); err != nil { // reconciles, then places
		t.Fatal(err)
	}
	_, places, _ := h.counts()
	if places != 1 || len(out.recs) != 1 {
		t.Fatalf("first tick: %d places, %d records", places, len(out.recs))
	}
	_, c := commandOf(t, out.recs[0])
	o.Status, o.BrokerOrderID = OrderSubmitted, c.(offchainorder.ConfirmSubmission).BrokerOrderID
	orders.orders[o.ExecutionID] = o
	tick := func(n int) int {
		t.Helper()
		_, _, before := h.counts()
		for i := 0; i < n; i++ {
			now = now.Add(time.Second)
			if err := p.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		_, _, after := h.counts()
		return after - before
	}
	if n := tick(10); n != 0 {
		t.Fatalf("listening: %d status polls in 10 s, want none before %s", n, DefaultStreamedPollEvery)
	}
	if n := tick(int(DefaultStreamedPollEvery / time.Second)); n != 1 {
		t.Fatalf("listening: %d status polls in %s, want the one safety poll", n, DefaultStreamedPollEvery)
	}
	p.setListening(false)
	if n := tick(3); n != 3 {
		t.Fatalf("disconnected: %d status polls in 3 ticks, want one per tick", n)
	}
	p.setListening(true)
	if n := tick(1); n != 1 {
		t.Fatalf("reconnected: %d status polls at the next tick, want the order asked about once", n)
	}
	if n := tick(5); n != 0 {
		t.Fatalf("reconnected: %d more polls, want none", n)
	}
}

// TestHintPlacesAtOnceAfterReconciling: a hinted order is placed without a
// tick, but only once the first tick has reconciled the in-flight orders;
// a hint that came earlier is replayed then.
func TestHintPlacesAtOnceAfterReconciling(t *testing.T) {
	now := t0
	h := newHours(t, true)
	p, out := newPoller(t, h, &now, nopOrders{})
	p.Assign([]int32{0})
	o := order(OrderPending, t0)
	ctx := context.Background()
	p.handleHint(ctx, hint{order: o})
	if _, places, _ := h.counts(); places != 0 {
		t.Fatal("hinted order placed before the in-flight orders were reconciled")
	}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case hd := <-p.hints:
		p.handleHint(ctx, hd)
	default:
		t.Fatal("the early hint was not replayed after the first tick")
	}
	if _, places, _ := h.counts(); places != 1 || len(out.recs) != 1 {
		t.Fatalf("after reconciling: %d places, %d records, want the hint placed", places, len(out.recs))
	}
	p.handleHint(ctx, hint{order: o}) // the same hint again: already submitted here
	if _, places, _ := h.counts(); places != 1 {
		t.Fatalf("a repeated hint placed again (%d places)", places)
	}
}

// TestTrackingHintsNewOrders: the wired tracker hints an order when its
// Placed event makes it pending, and not for later events.
func TestTrackingHintsNewOrders(t *testing.T) {
	now := t0
	p, _ := newPoller(t, newHours(t, true), &now, nopOrders{})
	st := p.Tracking(Tracker())
	id := "0b1e1b2c-0000-5000-8000-000000000002"
	placed := eventIn(t, topics.OffchainOrder, id, 1, offchainorder.Placed{Symbol: "AAPL", Shares: d("1"), Direction: "Sell", Broker: "dry_run", PlacedAt: t0})
	o, _, err := st.Handle(TrackedOrder{}, placed)
	if err != nil || o.Status != OrderPending {
		t.Fatalf("placed: %+v, %v", o, err)
	}
	select {
	case h := <-p.hints:
		if h.order.ExecutionID != id {
			t.Fatalf("hint for %q, want %q", h.order.ExecutionID, id)
		}
	default:
		t.Fatal("no hint for a new order")
	}
	sub := eventIn(t, topics.OffchainOrder, id, 2, offchainorder.Submitted{BrokerOrderID: "B-1", SubmittedAt: t0})
	if _, _, err := st.Handle(o, sub); err != nil {
		t.Fatal(err)
	}
	if len(p.hints) != 0 {
		t.Fatal("a submission was hinted")
	}
}

// TestTickReconcilesBeforePlacingNew: with orders of a partition owned
// anew, every in-flight order is asked about before a new one is placed.
func TestTickReconcilesBeforePlacingNew(t *testing.T) {
	now := t0
	h := newHours(t, true)
	rec := &recorder{Broker: h}
	var orders []TrackedOrder
	for i := range 6 {
		o := order(OrderSubmitted, t0)
		o.ExecutionID = fmt.Sprintf("0b1e1b2c-0000-5000-8000-00000000001%d", i)
		o.BrokerOrderID = placeAt(t, h, o)
		orders = append(orders, o)
	}
	fresh := order(OrderPending, t0)
	p, _ := newPoller(t, rec, &now, table(append(orders, fresh)...))
	p.Assign([]int32{0})
	if err := p.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	calls := append([]string(nil), rec.calls...)
	rec.mu.Unlock()
	placed, lastStatus := -1, -1
	for i, c := range calls {
		switch {
		case c == "Place "+fresh.ExecutionID:
			placed = i
		case strings.HasPrefix(c, "Status "):
			lastStatus = i
		}
	}
	if placed < 0 || lastStatus < 0 || placed < lastStatus {
		t.Fatalf("calls %v: want every in-flight order asked about before the new one is placed", calls)
	}
}

// TestTickDoesNotPlaceAgainWhatItSubmitted: while the tracker's view still
// shows an order pending that this poller has already placed and recorded,
// ticks leave it alone instead of asking the broker again (a real broker
// counts every call against its rate limit).
func TestTickDoesNotPlaceAgainWhatItSubmitted(t *testing.T) {
	now := t0
	h := newHours(t, true)
	p, out := newPoller(t, h, &now, table(order(OrderPending, t0)))
	p.Assign([]int32{0})
	for i := range 5 {
		if err := p.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		if _, places, _ := h.counts(); places != 1 {
			t.Fatalf("tick %d: %d place calls for one order the view still shows pending", i, places)
		}
	}
	if len(out.recs) != 1 {
		t.Fatalf("%d commands, want the one submission", len(out.recs))
	}
}
