package ordermanager

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// TestPollerReplaysHistoryOnEventTime: an order placed by a replayed
// event (a year old) is placed, not failed as stale, and its submission
// and fill are recorded at the broker's times, which the dry-run broker
// takes from the order's event time: submitted when placed, filled the
// fill delay later, never before it was placed.
func TestPollerReplaysHistoryOnEventTime(t *testing.T) {
	placed := t0.Add(5 * time.Second)
	now := placed.Add(391 * 24 * time.Hour)
	b, err := dryrun.Open(dryrun.Config{Price: dryrun.PriceLast, FillDelay: 2 * time.Second,
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPoller(t, b, &now, nopOrders{})
	o := order(OrderPending, placed)
	o.PlacedAt = placed

	rec := p.advance(context.Background(), o)
	id, c := commandOf(t, rec)
	sub, ok := c.(offchainorder.ConfirmSubmission)
	if !ok || !strings.HasPrefix(id, "submit:") {
		t.Fatalf("historical order: %s %+v, want it placed and confirmed", id, c)
	}
	if at := issuedAt(t, rec.Value); !at.Equal(placed) {
		t.Fatalf("submission recorded at %s, want the order's event time %s", at, placed)
	}

	o.Status, o.BrokerOrderID, o.LastUpdate = OrderSubmitted, sub.BrokerOrderID, placed
	rec = p.advance(context.Background(), o)
	id, c = commandOf(t, rec)
	if _, ok := c.(offchainorder.CompleteFill); !ok || !strings.HasPrefix(id, "fill:") {
		t.Fatalf("submitted historical order: %s %+v, want its fill", id, c)
	}
	if at := issuedAt(t, rec.Value); !at.Equal(placed.Add(2 * time.Second)) {
		t.Fatalf("fill recorded at %s, want placed + fill delay %s", at, placed.Add(2*time.Second))
	}
}

// TestBrokerTimeNeverBeforeTheOrder: a broker clock behind the order's
// last event does not date a step before it; no broker time means now.
func TestBrokerTimeNeverBeforeTheOrder(t *testing.T) {
	o := order(OrderSubmitted, t0)
	now := t0.Add(time.Hour)
	for _, c := range []struct{ at, want time.Time }{
		{t0.Add(-time.Second), t0}, {t0.Add(time.Second), t0.Add(time.Second)}, {time.Time{}, now},
	} {
		if got := brokerTime(o, c.at, now); !got.Equal(c.want) {
			t.Errorf("brokerTime(%s) = %s, want %s", c.at, got, c.want)
		}
	}
}

func issuedAt(t *testing.T, value []byte) time.Time {
	t.Helper()
	env, _ := decodeCommand(t, runner.Output{Value: value})
	return env.IssuedAt
}
