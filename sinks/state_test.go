package sinks

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/topics"
)

// memReader is a StateReader over rows "inserted" in memory: it keeps the
// newest version per key, as FINAL does.
type memReader struct {
	rows  map[string]StoredState
	reads [][]string
	fail  error
}

func (m *memReader) ReadStates(_ context.Context, _, _, _ string, keys []string) (map[string]StoredState, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	m.reads = append(m.reads, slices.Clone(keys))
	out := map[string]StoredState{}
	for _, k := range keys {
		if s, ok := m.rows[k]; ok {
			out[k] = s
		}
	}
	return out, nil
}

// store applies a batch's state-table rows, as an insert would.
func (m *memReader) store(t testing.TB, table Table, b Batch) {
	t.Helper()
	if m.rows == nil {
		m.rows = map[string]StoredState{}
	}
	ki, vi := slices.Index(table.Columns, "aggregate_id"), slices.Index(table.Columns, "sequence")
	if ki < 0 {
		ki, vi = slices.Index(table.Columns, "symbol"), slices.Index(table.Columns, "last_sequence")
	}
	si := slices.Index(table.Columns, "state")
	for _, r := range b.Rows[table.Name] {
		if len(r) != len(table.Columns) {
			t.Fatalf("%s row has %d values for %d columns", table.Name, len(r), len(table.Columns))
		}
		k, v := r[ki].(string), r[vi].(uint64)
		if old, ok := m.rows[k]; !ok || old.Version <= v {
			m.rows[k] = StoredState{Version: v, State: []byte(r[si].(string))}
		}
	}
}

func TestStateProjectionFold(t *testing.T) {
	ctx := context.Background()
	s := newScenario(t)
	recs := withOffsets(s.all(topics.PositionEvents))
	rd := &memReader{}
	p := NewPositionsProjection()

	b, err := p.Project(ctx, rd, nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	// One state row per position, one hedge row per execution, in order.
	if n := len(b.Rows[PositionsTable.Name]); n != 2 {
		t.Errorf("%d position rows, want 2", n)
	}
	if n := len(b.Rows[HedgesTable.Name]); n != 3 {
		t.Errorf("%d hedge rows, want 3", n)
	}
	if len(b.Rejected) != 0 || len(rd.reads) != 1 || len(rd.reads[0]) != 2 {
		t.Errorf("rejected %v, reads %v", b.Rejected, rd.reads)
	}
	rd.store(t, PositionsTable, b)
	if p.Cached() != 2 {
		t.Errorf("%d cached states, want 2", p.Cached())
	}

	// Redelivered to the same instance: served from the cache, all skipped.
	b, err = p.Project(ctx, rd, nil, recs)
	if err != nil || len(b.Rows) != 0 || len(rd.reads) != 1 {
		t.Errorf("redelivery: rows %v, reads %d, err %v", b.Rows, len(rd.reads), err)
	}
	// After Reset (a rebalance) the state is read back and still skipped.
	p.Reset()
	b, err = p.Project(ctx, rd, nil, recs[len(recs)-2:])
	if err != nil || len(b.Rows) != 0 || len(rd.reads) != 2 {
		t.Errorf("after reset: rows %v, reads %d, err %v", b.Rows, len(rd.reads), err)
	}

	// A failed read leaves the cache as it was.
	p.Reset()
	rd.fail = errors.New("clickhouse down")
	if _, err := p.Project(ctx, rd, nil, recs); err == nil || p.Cached() != 0 {
		t.Errorf("failed read: err %v, cached %d", err, p.Cached())
	}
}

// TestStateProjectionResumesExactly: folding a stream in two halves with a
// restart (a fresh projection reading the stored state) in between gives
// the same rows as folding it at once.
func TestStateProjectionResumesExactly(t *testing.T) {
	ctx := context.Background()
	w := busyWorld(t, 3, 20)
	for _, mk := range []func() Projection{
		func() Projection { return NewTradesProjection() },
		func() Projection { return NewPositionsProjection() },
		func() Projection { return NewPnLProjection() },
	} {
		p := mk()
		state := p.Tables()[len(p.Tables())-1]
		recs := withOffsets(w.all(p.Topic()))
		once, err := p.Project(ctx, &memReader{}, nil, recs)
		if err != nil {
			t.Fatal(err)
		}
		rd := &memReader{}
		for _, cut := range []int{len(recs) / 3, len(recs) / 2} {
			q := mk()
			b, err := q.Project(ctx, rd, nil, recs[:cut])
			if err != nil {
				t.Fatal(err)
			}
			rd.store(t, state, b)
		}
		b, err := mk().Project(ctx, rd, nil, recs)
		if err != nil {
			t.Fatal(err)
		}
		rd.store(t, state, b)
		final := &memReader{}
		final.store(t, state, once)
		if len(final.rows) != len(rd.rows) {
			t.Fatalf("%s: %d keys at once, %d resumed", p.Name(), len(final.rows), len(rd.rows))
		}
		for k, v := range final.rows {
			if got := rd.rows[k]; got.Version != v.Version || string(got.State) != string(v.State) {
				t.Errorf("%s %s: resumed %d %s, at once %d %s", p.Name(), k, got.Version, got.State, v.Version, v.State)
			}
		}
	}
}

func TestStateProjectionEvicts(t *testing.T) {
	ctx := context.Background()
	w := busyWorld(t, 1, 30)
	recs := withOffsets(w.all(topics.OnChainTradeEvents)) // one aggregate per fill
	p, err := NewStateProjection(StateConfig[TradeState, AggregateEvent]{
		Name: "trades", Topic: topics.OnChainTradeEvents, AggregateType: topics.OnChainTrade,
		StateTable: TradesTable, KeyColumn: "aggregate_id", VersionColumn: "sequence", MaxCached: 10,
		Decode: NewTradesProjection().cfg.Decode, Apply: applyTrade, Row: tradeRow,
	})
	if err != nil {
		t.Fatal(err)
	}
	rd := &memReader{}
	for i := 0; i < len(recs); i += 4 {
		b, err := p.Project(ctx, rd, nil, recs[i:min(i+4, len(recs))])
		if err != nil {
			t.Fatal(err)
		}
		rd.store(t, TradesTable, b)
		if p.Cached() > 10+4 {
			t.Fatalf("cache holds %d states, bound 10 (+ one batch)", p.Cached())
		}
	}
	if len(rd.rows) != 30 {
		t.Errorf("%d trades stored, want 30", len(rd.rows))
	}
}

func TestNewStateProjectionChecks(t *testing.T) {
	_, err := NewStateProjection(StateConfig[TradeState, AggregateEvent]{Name: "x", Topic: "y", StateTable: Table{Name: "t", Columns: []string{"id"}}})
	if err == nil || !strings.Contains(err.Error(), "Decode, Apply and Row") || !strings.Contains(err.Error(), `no column "state"`) {
		t.Errorf("err = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Database: "1bad-name", ReadTimeout: -time.Second, Password: "x"}.Validate()
	for _, want := range []string{"address is required", "database", "read timeout", "password needs a user"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if err := (Config{Addr: "127.0.0.1:9000"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	if _, err := NewProjector(nil, kafkasec.Cluster{}, nil, Options{MaxBatch: -1}); err == nil {
		t.Error("NewProjector accepted nothing")
	}
}

func TestViewNames(t *testing.T) {
	want := []string{"onchain_trade_view", "hedge_view", "position_view", "offchain_order_view", "metrics_pnl", "pnl_summary"}
	if got := ViewNames(); !slices.Equal(got, want) {
		t.Errorf("ViewNames() = %v, want %v", got, want)
	}
	if p := ProjectionOf("hedge_view"); p == nil || p.Name() != "positions" {
		t.Errorf("ProjectionOf(hedge_view) = %v", p)
	}
	// Every projection writes its state table last (see Projection).
	for _, p := range Projections() {
		ts := p.Tables()
		last := ts[len(ts)-1]
		if !slices.Contains(last.Columns, "state") {
			t.Errorf("%s: last table %s is not its state table", p.Name(), last.Name)
		}
	}
}

// TestFailedGenesisStateRoundTrips: an event that fails an aggregate at
// genesis leaves a zero state (empty direction and broker, which their
// decoders reject); the stored state must still read back, or a restart
// would stop the projector on that key. This relies on
// aggregate.Lifecycle omitting a zero state.
func TestFailedGenesisStateRoundTrips(t *testing.T) {
	ctx := context.Background()
	bad := []*kgo.Record{
		envelopeRecord(t, topics.OnChainTradeEvents, "AAPL|x", topics.EventEnvelope{AggregateType: topics.OnChainTrade, AggregateID: txHash(9) + ":1", Sequence: 1, EventType: "OnChainTradeEvent::Enriched"},
			map[string]any{"gas_used": 1, "effective_gas_price": 1, "enriched_at": t0}),
		envelopeRecord(t, topics.OffchainOrderEvents, "o", topics.EventEnvelope{AggregateType: topics.OffchainOrder, AggregateID: "o", Sequence: 1, EventType: "OffchainOrderEvent::Submitted"},
			map[string]any{"broker_order_id": "b", "submitted_at": t0}),
	}
	for i, p := range []Projection{NewTradesProjection(), NewOrdersProjection()} {
		rd := &memReader{}
		b, err := p.Project(ctx, rd, nil, withOffsets(bad[i:i+1]))
		if err != nil || len(b.Rejected) != 1 {
			t.Fatalf("%s: %v, rejected %v", p.Name(), err, b.Rejected)
		}
		state := p.Tables()[len(p.Tables())-1]
		rd.store(t, state, b)
		q := p.(interface{ Reset() })
		q.Reset()
		// A later event of the same aggregate reads the failed state back.
		again := clone(bad[i : i+1])
		again[0].Value = bytes.Replace(again[0].Value, []byte(`"sequence":1`), []byte(`"sequence":2`), 1)
		b, err = p.Project(ctx, rd, nil, withOffsets(again))
		if err != nil || len(b.Rejected) != 1 || !strings.Contains(b.Rejected[0].Err.Error(), "failed earlier") {
			t.Fatalf("%s: reading a failed-at-genesis state back: %v, rejected %v", p.Name(), err, b.Rejected)
		}
	}
}
