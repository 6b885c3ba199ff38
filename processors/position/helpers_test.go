package position

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

var (
	t0   = time.Date(2025, 10, 1, 14, 30, 0, 0, time.UTC)
	now  = aggregate.Meta{CommandID: "cmd-1", At: t0.Add(time.Hour)}
	at   = now.At
	aapl = market.Symbol("AAPL")
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func shares(s string) market.Threshold {
	t, err := market.SharesThreshold(dec(s))
	if err != nil {
		panic(err)
	}
	return t
}

func dollars(s string) market.Threshold {
	t, err := market.DollarThreshold(dec(s))
	if err != nil {
		panic(err)
	}
	return t
}

var (
	schwab = market.DefaultExecution(market.Schwab) // whole shares
	alpaca = market.DefaultExecution(market.Alpaca) // fractional
)

// tx returns a distinct canonical tx hash per n.
func tx(n uint64) string { return fmt.Sprintf("0x%064x", n) }

// trade is the n-th fill in chain order: block n, log index 1.
func trade(n uint64) market.TradeID { return market.TradeID{TxHash: tx(n), LogIndex: 1} }

func given(events ...aggregate.Event) aggregate.Lifecycle[State] {
	return aggregate.Replay(Definition, events)
}

func when(l aggregate.Lifecycle[State], c aggregate.Command) (aggregate.Lifecycle[State], []aggregate.Event, error) {
	return aggregate.Execute(Definition, l, c, now)
}

func initialized(t market.Threshold, e market.Execution) Initialized {
	return Initialized{Symbol: aapl, Threshold: t, Execution: e, InitializedAt: t0}
}

// filled is the on-chain fill n (block n) as an event.
func filled(n uint64, dir market.Direction, amount, price string) OnChainOrderFilled {
	return OnChainOrderFilled{TradeID: trade(n), BlockNumber: n, Amount: dec(amount), Direction: dir,
		PriceUSDC: dec(price), BlockTimestamp: t0, SeenAt: t0}
}

// fill is the on-chain fill n (block n) as a command for the token tAAPL.
func fill(n uint64, dir market.Direction, amount, price string) AcknowledgeOnChainFill {
	return AcknowledgeOnChainFill{Symbol: "tAAPL", TradeID: trade(n), BlockNumber: n, Amount: dec(amount),
		Direction: dir, PriceUSDC: dec(price), BlockTimestamp: t0}
}

func (c AcknowledgeOnChainFill) opening(t market.Threshold, e market.Execution) AcknowledgeOnChainFill {
	c.Threshold, c.Execution = &t, &e
	return c
}

func placed(id string, n string, dir market.Direction) OffChainOrderPlaced {
	return OffChainOrderPlaced{ExecutionID: id, Symbol: aapl, Shares: dec(n), Direction: dir, Broker: market.Schwab,
		TriggerReason: TriggerReason{Kind: TriggerManual, NetPosition: dec("0")}, PlacedAt: t0}
}

func complete(id, n string, dir market.Direction, price string) CompleteOffChainOrder {
	return CompleteOffChainOrder{ExecutionID: id, SharesFilled: dec(n), Direction: dir, BrokerOrderID: "B-" + id,
		Price: dec(price), BrokerTimestamp: t0.Add(2 * time.Hour)}
}

func offFilled(id, n string, dir market.Direction) OffChainOrderFilled {
	return OffChainOrderFilled{ExecutionID: id, SharesFilled: dec(n), Direction: dir, BrokerOrderID: "B-" + id,
		Price: dec("100"), BrokerTimestamp: t0}
}

// then fails unless got is exactly want: same types, same JSON.
func then(t *testing.T, got []aggregate.Event, want ...aggregate.Event) {
	t.Helper()
	if g, w := render(t, got), render(t, want); g != w {
		t.Fatalf("events:\n got %s\nwant %s", g, w)
	}
}

func render(t *testing.T, events []aggregate.Event) string {
	t.Helper()
	out := "["
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out += ",\n     "
		}
		out += e.EventType() + string(b)
	}
	return out + "]"
}

func mustLive(t *testing.T, l aggregate.Lifecycle[State]) State {
	t.Helper()
	if l.Status != aggregate.Live {
		t.Fatalf("lifecycle %q, want live (failure: %s)", l.Status, l.Failure)
	}
	return l.State
}

func wantNet(t *testing.T, l aggregate.Lifecycle[State], net string) {
	t.Helper()
	if s := mustLive(t, l); !s.Net.Equal(dec(net)) {
		t.Fatalf("net %s, want %s", s.Net, net)
	}
}
