package sinks

// Event streams for the tests, made by running the real aggregates
// (aggregate.Execute) the way the runner does, and the pnl records the pnl
// stage would derive from the position events.

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/pnl/pnlstage"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

var t0 = time.Date(2025, 10, 1, 14, 30, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func txHash(n uint64) string { return fmt.Sprintf("0x%064x", n) }

// world runs aggregates and records their events as Kafka records, per
// topic in production order.
type world struct {
	t      testing.TB
	recs   map[string][]*kgo.Record
	trades map[string]aggregate.Lifecycle[onchaintrade.State]
	pos    map[string]aggregate.Lifecycle[position.State]
	orders map[string]aggregate.Lifecycle[offchainorder.State]
	books  map[string]pnl.Book
	cmd    int
}

func newWorld(t testing.TB) *world {
	return &world{
		t: t, recs: map[string][]*kgo.Record{},
		trades: map[string]aggregate.Lifecycle[onchaintrade.State]{},
		pos:    map[string]aggregate.Lifecycle[position.State]{},
		orders: map[string]aggregate.Lifecycle[offchainorder.State]{},
		books:  map[string]pnl.Book{},
	}
}

func execute[S any](w *world, def aggregate.Definition[S], l aggregate.Lifecycle[S], topic, id, key string, c aggregate.Command, when time.Time) (aggregate.Lifecycle[S], []aggregate.Event, []topics.EventEnvelope) {
	w.t.Helper()
	w.cmd++
	meta := aggregate.Meta{AggregateID: id, CommandID: fmt.Sprintf("cmd-%d", w.cmd), At: when}
	after, events, err := aggregate.Execute(def, l, c, meta)
	if err != nil {
		w.t.Fatalf("%s %s %s: %v", def.Type, id, c.CommandType(), err)
	}
	envs := make([]topics.EventEnvelope, len(events))
	for i, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			w.t.Fatal(err)
		}
		env := topics.EventEnvelope{
			AggregateType: def.Type, AggregateID: id, Sequence: l.Version + uint64(i) + 1,
			EventType: e.EventType(), EventVersion: 1, OccurredAt: when,
			CommandID: meta.CommandID, CorrelationID: meta.CommandID, CausationID: meta.CommandID, Payload: payload,
		}
		b, err := topics.EncodeEvent(env)
		if err != nil {
			w.t.Fatal(err)
		}
		envs[i] = env
		w.recs[topic] = append(w.recs[topic], &kgo.Record{Topic: topic, Key: []byte(key), Value: b})
	}
	return after, events, envs
}

// trade runs an OnChainTrade command for the fill id.
func (w *world) trade(id market.TradeID, base string, c aggregate.Command, when time.Time) []aggregate.Event {
	key := topics.SymbolKey(base, id.String())
	l, evs, _ := execute(w, onchaintrade.Definition, w.trades[id.String()], topics.OnChainTradeEvents, id.String(), key, c, when)
	w.trades[id.String()] = l
	return evs
}

// position runs a Position command and books its fills into the FIFO book,
// producing the pnl records the pnl stage would.
func (w *world) position(sym string, c aggregate.Command, when time.Time) []aggregate.Event {
	l, evs, envs := execute(w, position.Definition, w.pos[sym], topics.PositionEvents, sym, sym, c, when)
	w.pos[sym] = l
	for i, e := range evs {
		f, ok, err := pnlstage.FillOf(e)
		if err != nil {
			w.t.Fatal(err)
		}
		if !ok {
			continue
		}
		f.Sequence = envs[i].Sequence
		book, ok := w.books[sym]
		if !ok {
			book = pnl.NewBook(market.Symbol(sym))
		}
		next, rec, err := book.Apply(f)
		if err != nil {
			w.t.Fatal(err)
		}
		w.books[sym] = next
		b, err := json.Marshal(rec)
		if err != nil {
			w.t.Fatal(err)
		}
		w.recs[topics.PnLEvents] = append(w.recs[topics.PnLEvents], &kgo.Record{Topic: topics.PnLEvents, Key: []byte(sym), Value: b})
	}
	return evs
}

func (w *world) order(id string, c aggregate.Command, when time.Time) []aggregate.Event {
	l, evs, _ := execute(w, offchainorder.Definition, w.orders[id], topics.OffchainOrderEvents, id, id, c, when)
	w.orders[id] = l
	return evs
}

// fill witnesses an on-chain fill and acknowledges it on its position.
func (w *world) fill(n uint64, logIndex uint64, token string, dir market.Direction, amount, price string, blockTS, seen time.Time, opening bool) []aggregate.Event {
	w.t.Helper()
	id := market.TradeID{TxHash: txHash(n), LogIndex: logIndex}
	tok, err := market.ParseTokenized(token)
	if err != nil {
		w.t.Fatal(err)
	}
	base := string(tok.Base)
	w.trade(id, base, onchaintrade.Witness{TradeID: id, Symbol: token, Amount: dec(amount), Direction: dir,
		PriceUSDC: dec(price), BlockNumber: n, BlockTimestamp: blockTS}, seen.Add(-time.Second))
	ack := position.AcknowledgeOnChainFill{Symbol: token, TradeID: id, BlockNumber: n, Amount: dec(amount),
		Direction: dir, PriceUSDC: dec(price), BlockTimestamp: blockTS}
	if opening {
		th := market.WholeShare()
		ex := market.DefaultExecution(market.DryRun)
		ack.Threshold, ack.Execution = &th, &ex
	}
	return w.position(base, ack, seen)
}

// placed returns the hedge placed among evs, if any.
func placedIn(evs []aggregate.Event) (position.OffChainOrderPlaced, bool) {
	for _, e := range evs {
		if p, ok := e.(position.OffChainOrderPlaced); ok {
			return p, true
		}
	}
	return position.OffChainOrderPlaced{}, false
}

// all returns every record of topic.
func (w *world) all(topic string) []*kgo.Record { return w.recs[topic] }

// scenario is the small two-symbol story the field-by-field test checks:
//
//	AAPL: sell 0.6 tAAPL @150 (block 100), sell 0.7 @151 (block 101) -> net
//	      -1.3 crosses the 1-share threshold: hedge Buy 1 (ref 151), filled
//	      at 150.5 -> net -0.3. Fill 1 is enriched with gas, Pyth and
//	      ETH/USD.
//	NVDA: buy 2 NVDAs1 @100 (block 102) -> hedge Sell 2 (ref 100), which
//	      fails at the broker -> a new hedge Sell 2 is placed and pending.
type scenario struct {
	*world
	exec1, exec2, exec3 string
}

func newScenario(t testing.TB) *scenario {
	w := newWorld(t)
	s := &scenario{world: w}
	w.fill(1, 1, "tAAPL", market.Sell, "0.6", "150", at(0), at(3), true)
	evs := w.fill(2, 3, "tAAPL", market.Sell, "0.7", "151", at(12), at(15), false)
	p, ok := placedIn(evs)
	if !ok {
		t.Fatal("AAPL hedge not placed")
	}
	s.exec1 = p.ExecutionID
	// 21,000 gas at 1.5 gwei with ETH at 3000.12345 (Pyth's expo -8).
	w.trade(market.TradeID{TxHash: txHash(1), LogIndex: 1}, "AAPL", onchaintrade.Enrich{GasUsed: 21000, EffectiveGasPrice: 1_500_000_000,
		PythPrice:   &market.PythPrice{Value: "15012345", Expo: -5, Conf: "2100", PublishTime: at(1)},
		ETHUSDPrice: &market.PythPrice{Value: "300012345000", Expo: -8, Conf: "150000000", PublishTime: at(1)}}, at(60))
	ref := dec("151")
	w.order(s.exec1, offchainorder.Place{Symbol: "AAPL", Shares: dec("1"), Direction: market.Buy, Broker: market.DryRun, ReferencePrice: &ref}, at(16))
	w.order(s.exec1, offchainorder.ConfirmSubmission{BrokerOrderID: "brk-1"}, at(17))
	w.order(s.exec1, offchainorder.CompleteFill{Price: dec("150.5")}, at(20))
	w.position("AAPL", position.CompleteOffChainOrder{ExecutionID: s.exec1, SharesFilled: dec("1"), Direction: market.Buy,
		BrokerOrderID: "brk-1", Price: dec("150.5"), BrokerTimestamp: at(20)}, at(21))

	evs = w.fill(3, 0, "NVDAs1", market.Buy, "2", "100", at(28), at(30), true)
	if p, ok = placedIn(evs); !ok {
		t.Fatal("NVDA hedge not placed")
	}
	s.exec2 = p.ExecutionID
	ref = dec("100")
	w.order(s.exec2, offchainorder.Place{Symbol: "NVDA", Shares: dec("2"), Direction: market.Sell, Broker: market.DryRun, ReferencePrice: &ref}, at(31))
	w.order(s.exec2, offchainorder.MarkFailed{Error: "rejected by broker"}, at(35))
	evs = w.position("NVDA", position.FailOffChainOrder{ExecutionID: s.exec2, Error: "rejected by broker"}, at(36))
	if p, ok = placedIn(evs); !ok {
		t.Fatal("NVDA re-hedge not placed")
	}
	s.exec3 = p.ExecutionID
	return s
}

// clone copies records so they can be produced again (franz-go sets their
// partition and offset).
func clone(recs []*kgo.Record) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		out[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	return out
}
