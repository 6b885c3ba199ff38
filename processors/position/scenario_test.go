package position

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// step runs one command and returns the new lifecycle and its events.
func step(t *testing.T, l aggregate.Lifecycle[State], c aggregate.Command) (aggregate.Lifecycle[State], []aggregate.Event) {
	t.Helper()
	l, events, err := when(l, c)
	if err != nil {
		t.Fatalf("%s: %v", c.CommandType(), err)
	}
	mustLive(t, l)
	return l, events
}

// hedgeOf returns the single OffChainOrderPlaced among events.
func hedgeOf(t *testing.T, events []aggregate.Event) OffChainOrderPlaced {
	t.Helper()
	var found []OffChainOrderPlaced
	for _, e := range events {
		if p, ok := e.(OffChainOrderPlaced); ok {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d hedges placed in %s", len(found), render(t, events))
	}
	return found[0]
}

func noHedge(t *testing.T, events []aggregate.Event) {
	t.Helper()
	for _, e := range events {
		if _, ok := e.(OffChainOrderPlaced); ok {
			t.Fatalf("unexpected hedge in %s", render(t, events))
		}
	}
}

// DOMAIN §3.2 batching: sells of 0.3, 0.5, 0.4 hedge one whole share; the
// -0.2 remainder carries forward.
func TestBatchingExample(t *testing.T) {
	l, ev := step(t, given(), fill(1, market.Sell, "0.3", "150").opening(shares("1"), schwab))
	noHedge(t, ev)
	l, ev = step(t, l, fill(2, market.Sell, "0.5", "150"))
	noHedge(t, ev)
	l, ev = step(t, l, fill(3, market.Sell, "0.4", "150"))
	then(t, ev, seen(filled(3, market.Sell, "0.4", "150")),
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 5), Symbol: aapl, Shares: dec("1"), Direction: market.Buy,
			Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
			TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("-1.2"), ThresholdShares: ptr(dec("1"))}})
	l, ev = step(t, l, complete(ExecutionID(aapl, 5), "1", market.Buy, "150"))
	noHedge(t, ev)
	wantNet(t, l, "-0.2")
}

// DOMAIN §5.1 "Market Making tAAPL": the two whole-share hedges.
func TestTAAPLWalkThrough(t *testing.T) {
	l, ev := step(t, given(), fill(1, market.Sell, "0.3", "150.00").opening(shares("1"), schwab))
	noHedge(t, ev)
	for i, f := range []AcknowledgeOnChainFill{
		fill(2, market.Sell, "0.4", "151.00"),
		fill(3, market.Buy, "0.2", "148.00"),
	} {
		if l, ev = step(t, l, f); len(ev) != 1 {
			t.Fatalf("fill %d: %s", i+2, render(t, ev))
		}
	}
	wantNet(t, l, "-0.5")

	l, ev = step(t, l, fill(4, market.Sell, "0.6", "149.00"))
	buy := hedgeOf(t, ev)
	if buy.Direction != market.Buy || !buy.Shares.Equal(dec("1")) || !buy.TriggerReason.NetPosition.Equal(dec("-1.1")) {
		t.Fatalf("hedge %+v", buy)
	}
	l, ev = step(t, l, complete(buy.ExecutionID, "1", market.Buy, "148.50"))
	noHedge(t, ev)
	wantNet(t, l, "-0.1")

	l, ev = step(t, l, fill(5, market.Buy, "1.5", "147.50"))
	sell := hedgeOf(t, ev)
	if sell.Direction != market.Sell || !sell.Shares.Equal(dec("1")) || !sell.TriggerReason.NetPosition.Equal(dec("1.4")) {
		t.Fatalf("hedge %+v", sell)
	}
	if sell.ExecutionID == buy.ExecutionID {
		t.Fatal("both hedges have one execution id")
	}
	l, ev = step(t, l, complete(sell.ExecutionID, "1", market.Sell, "149.00"))
	noHedge(t, ev)
	wantNet(t, l, "0.4")

	s := mustLive(t, l)
	if !s.AccumulatedLong.Equal(dec("1.7")) || !s.AccumulatedShort.Equal(dec("1.3")) || !s.HedgedShares.Equal(dec("0")) {
		t.Fatalf("long %s short %s hedged %s", s.AccumulatedLong, s.AccumulatedShort, s.HedgedShares)
	}
}

func TestDollarThresholdNeedsAPrice(t *testing.T) {
	// A migrated position has exposure but no on-chain price yet.
	l, _ := step(t, given(), Migrate{Symbol: aapl, NetPosition: dec("10"), AccumulatedLong: dec("10"),
		AccumulatedShort: dec("0"), Threshold: shares("100"), Execution: alpaca})
	l, ev := step(t, l, UpdateThreshold{Threshold: dollars("1")})
	noHedge(t, ev)
	// The first fill sets the price: 10.1 × 2 = 20.2 >= 20.
	l, _ = step(t, l, UpdateThreshold{Threshold: dollars("20.2")})
	_, ev = step(t, l, fill(1, market.Buy, "0.1", "2"))
	if h := hedgeOf(t, ev); !h.Shares.Equal(dec("10.1")) || !h.TriggerReason.DollarValue.Equal(dec("20.2")) {
		t.Fatalf("hedge %+v", h)
	}
	// One micro-dollar short of the threshold does not trigger.
	l, _ = step(t, given(), Migrate{Symbol: aapl, NetPosition: dec("10"), AccumulatedLong: dec("10"),
		AccumulatedShort: dec("0"), Threshold: dollars("20.200001"), Execution: alpaca})
	_, ev = step(t, l, fill(1, market.Buy, "0.1", "2"))
	noHedge(t, ev)
}

// script exercises every placement path: fill, partial complete, fail,
// threshold change and a manual order.
func script() []aggregate.Command {
	return []aggregate.Command{
		fill(1, market.Sell, "2.5", "150").opening(shares("1"), schwab),     // places Buy 2 at seq 3
		complete(ExecutionID(aapl, 3), "1", market.Buy, "149"),              // net -1.5: places Buy 1 at seq 5
		FailOffChainOrder{ExecutionID: ExecutionID(aapl, 5), Error: "boom"}, // places Buy 1 at seq 7
		complete(ExecutionID(aapl, 7), "1", market.Buy, "149"),              // net -0.5
		fill(2, market.Buy, "3", "151"),                                     // net 2.5: Sell 2 at seq 10
		complete(ExecutionID(aapl, 10), "2", market.Sell, "151"),            // net 0.5
		UpdateThreshold{Threshold: shares("0.25")},                          // met, but trunc(0.5) = 0
		fill(3, market.Buy, "0.7", "152"),                                   // net 1.2: Sell 1 at seq 14
		FailOffChainOrder{ExecutionID: ExecutionID(aapl, 14), Error: "x"},   // Sell 1 again at seq 16
		complete(ExecutionID(aapl, 16), "1", market.Sell, "152"),            // net 0.2
	}
}

func runScript(t *testing.T) []byte {
	t.Helper()
	var l aggregate.Lifecycle[State]
	var out bytes.Buffer
	for _, c := range script() {
		var ev []aggregate.Event
		l, ev = step(t, l, c)
		for _, e := range ev {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString(e.EventType())
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	wantNet(t, l, "0.2")
	return out.Bytes()
}

func TestReplayIsByteIdentical(t *testing.T) {
	first, second := runScript(t), runScript(t)
	if !bytes.Equal(first, second) {
		t.Fatalf("replay differs:\n%s\n%s", first, second)
	}
	// Every hedge has its own id, the one the script predicted.
	ids := map[string]bool{}
	for _, line := range bytes.Split(first, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("PositionEvent::OffChainOrderPlaced")); ok {
			var p OffChainOrderPlaced
			if err := json.Unmarshal(rest, &p); err != nil {
				t.Fatal(err)
			}
			if ids[p.ExecutionID] {
				t.Fatalf("execution id %s reused", p.ExecutionID)
			}
			ids[p.ExecutionID] = true
		}
	}
	if len(ids) != 6 {
		t.Fatalf("%d hedges, want 6", len(ids))
	}
}
