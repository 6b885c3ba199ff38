package sinks

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// TestThroughput measures a 100k-event projection end to end (Kafka ->
// projector -> ClickHouse): set HEDGELINE_SINKS_BENCH=1 (optionally =N
// events). Each event is a new trade, so every event is a row and a state
// (the worst case for the fold: nothing collapses within a batch).
func TestThroughput(t *testing.T) {
	env := os.Getenv("HEDGELINE_SINKS_BENCH")
	if env == "" {
		t.Skip("set HEDGELINE_SINKS_BENCH=1 to measure")
	}
	n := 100_000
	if v, err := strconv.Atoi(env); err == nil && v > 1 {
		n = v
	}
	db := testDB(t)
	addr := startKafka(t)
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		id := market.TradeID{TxHash: txHash(uint64(i + 1)), LogIndex: uint64(i % 7)}
		sym := fmt.Sprintf("S%02d", i%50)
		recs = append(recs, envelopeRecord(t, topics.OnChainTradeEvents, topics.SymbolKey(sym, id.String()),
			topics.EventEnvelope{AggregateType: topics.OnChainTrade, AggregateID: id.String(), Sequence: 1, EventType: "OnChainTradeEvent::Filled"},
			onchaintrade.Filled{TradeID: id, Symbol: "t" + sym, BaseSymbol: market.Symbol(sym), Amount: dec("1.25"), Direction: market.Buy,
				PriceUSDC: dec("123.456789"), BlockNumber: uint64(i + 1), BlockTimestamp: at(i), FilledAt: at(i + 1)}))
	}
	cl := producer(t, addr)
	start := time.Now()
	for i := 0; i < n; i += 10000 {
		produce(t, cl, recs[i:min(i+10000, n)]...)
	}
	t.Logf("produced %d events in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	r := startProjector(t, db, addr, NewTradesProjection(), Options{})
	r.waitCommitted(t, addr, 5*time.Minute)
	el := time.Since(start)
	if got := countRows(t, db, "SELECT count() FROM onchain_trade_view FINAL"); got != uint64(n) {
		t.Fatalf("%d rows, want %d", got, n)
	}
	st := r.pr.Stats()
	t.Logf("projected %d events into %d rows in %s: %.0f rows/s (%d batches)", st.Records, st.Rows, el.Round(time.Millisecond),
		float64(st.Rows)/el.Seconds(), st.Batches)

	// The positions stream: folds collapse many events into few rows.
	w := busyWorld(t, 50, n/250)
	pos := w.all(topics.PositionEvents)
	for i := 0; i < len(pos); i += 10000 {
		produce(t, cl, clone(pos[i:min(i+10000, len(pos))])...)
	}
	start = time.Now()
	r = startProjector(t, db, addr, NewPositionsProjection(), Options{})
	r.waitCommitted(t, addr, 5*time.Minute)
	el = time.Since(start)
	st = r.pr.Stats()
	t.Logf("positions: projected %d events into %d rows in %s: %.0f events/s (%d batches)", st.Records, st.Rows, el.Round(time.Millisecond),
		float64(st.Records)/el.Seconds(), st.Batches)
}
