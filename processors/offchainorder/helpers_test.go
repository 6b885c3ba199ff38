package offchainorder_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/shopspring/decimal"
)

// meta is the fixed metadata every command in these tests carries, addressed
// to the execution id the Position aggregate derives for its hedge.
var meta = aggregate.Meta{AggregateID: position.ExecutionID("AAPL", 3), CommandID: "cmd-1", At: time.Date(2025, 12, 24, 12, 0, 0, 0, time.UTC)}

// to readdresses meta, for commands sent to another aggregate id.
func to(id string) aggregate.Meta { m := meta; m.AggregateID = id; return m }

var (
	placedAt  = time.Date(2025, 12, 24, 11, 0, 0, 0, time.UTC)
	submitAt  = placedAt.Add(time.Second)
	partialAt = placedAt.Add(time.Minute)
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
func ptr[T any](v T) *T            { return &v }

func place() oo.Place {
	return oo.Place{Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy, Broker: market.Schwab}
}

func placed() oo.Placed {
	return oo.Placed{Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy, Broker: market.Schwab, PlacedAt: placedAt}
}

func submitted() oo.Submitted {
	return oo.Submitted{BrokerOrderID: "1004055538153", SubmittedAt: submitAt}
}

func partial(shares string) oo.PartiallyFilled {
	return oo.PartiallyFilled{SharesFilled: dec(shares), AvgPrice: dec("190.125"), PartiallyFilledAt: partialAt}
}

func filled() oo.Filled { return oo.Filled{Price: dec("190.2"), FilledAt: partialAt.Add(time.Minute)} }

func failed() oo.Failed {
	return oo.Failed{Error: "rejected: market closed", FailedAt: partialAt.Add(time.Minute)}
}

// history reaches each state of the order state machine.
var history = map[string][]aggregate.Event{
	"Uninitialized":         nil,
	"Pending":               {placed()},
	"Submitted":             {placed(), submitted()},
	"PartiallyFilled":       {placed(), submitted(), partial("1")},
	"Filled":                {placed(), submitted(), filled()},
	"Failed":                {placed(), failed()},
	"FailedAfterSubmission": {placed(), submitted(), failed()},
}

func given(events ...aggregate.Event) aggregate.Lifecycle[oo.State] {
	return aggregate.Replay(oo.Definition, events)
}

func when(l aggregate.Lifecycle[oo.State], c aggregate.Command) (aggregate.Lifecycle[oo.State], []aggregate.Event, error) {
	return aggregate.Execute(oo.Definition, l, c, meta)
}

// thenEvents compares events by type name and JSON, which is what is
// recorded (decimals compare by value that way).
func thenEvents(t *testing.T, got []aggregate.Event, err error, want ...aggregate.Event) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if g, w := render(t, got), render(t, want); g != w {
		t.Fatalf("events:\n got %s\nwant %s", g, w)
	}
}

func thenError(t *testing.T, got []aggregate.Event, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	if got != nil {
		t.Fatalf("refused command returned events %v", got)
	}
}

func thenField(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, oo.ErrInvalid) || !hasField(err, field) {
		t.Fatalf("error %v does not name invalid field %s", err, field)
	}
}

func hasField(err error, field string) bool {
	var fe *oo.FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasField(e, field) {
				return true
			}
		}
	}
	return false
}

func thenState(t *testing.T, l aggregate.Lifecycle[oo.State], want oo.State) {
	t.Helper()
	if l.Status != aggregate.Live {
		t.Fatalf("status %q (%s), want live", l.Status, l.Failure)
	}
	if g, w := mustJSON(t, l.State), mustJSON(t, want); g != w {
		t.Fatalf("state:\n got %s\nwant %s", g, w)
	}
}

func thenFailed(t *testing.T, l aggregate.Lifecycle[oo.State], reason string) {
	t.Helper()
	if l.Status != aggregate.Failed || !strings.Contains(l.Failure, reason) {
		t.Fatalf("status %q failure %q, want failed with %q", l.Status, l.Failure, reason)
	}
}

func render(t *testing.T, events []aggregate.Event) string {
	t.Helper()
	type typed struct {
		Type    string          `json:"type"`
		Payload aggregate.Event `json:"payload"`
	}
	out := make([]typed, len(events))
	for i, e := range events {
		out[i] = typed{e.EventType(), e}
	}
	return mustJSON(t, out)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
