package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// VerifyTable is one table's rows: in the legacy database (migratable,
// i.e. not refused), as aggregates on the event topics, and as rows of
// its ClickHouse view (nil without --clickhouse or for tables without
// one).
type VerifyTable struct {
	Table      string `json:"table"`
	Legacy     int    `json:"legacy"`
	Refused    int    `json:"refused"`
	Aggregates int    `json:"aggregates"`
	View       *int   `json:"view_rows,omitempty"`
}

// Report is the verification's result; OK when Mismatches is empty.
type Report struct {
	Tables []VerifyTable `json:"tables"`
	// Checked counts what was compared field by field.
	Positions int `json:"positions"`
	Commands  int `json:"commands"`
	PnL       int `json:"pnl_symbols"`
	// Mismatches lists every difference, one line each.
	Mismatches []string `json:"mismatches,omitempty"`
}

// OK reports whether nothing differed.
func (r *Report) OK() bool { return len(r.Mismatches) == 0 }

func (r *Report) mismatch(format string, a ...any) {
	r.Mismatches = append(r.Mismatches, fmt.Sprintf(format, a...))
}

// Verify compares the legacy database (as planned) with the aggregates on
// the topics (l, read with events) and, when db is set, the ClickHouse
// views:
//   - per table, migratable rows vs aggregates vs view rows;
//   - every command against the event it caused, field by field (every
//     trade, order, position and fill, not a sample: it is cheap);
//   - every position's net, long and short, exactly: the migration's
//     events folded with the aggregate's own Evolve, against the legacy
//     row;
//   - PnL per symbol: the legacy metrics_pnl's last cumulative PnL vs the
//     last pnl.events record.
func Verify(ctx context.Context, p *Plan, l *Log, db *sinks.DB) (*Report, error) {
	r := &Report{}
	agg := map[string]int{}
	for _, it := range p.Items {
		ev, ok := eventOf(l, it)
		if !ok {
			r.mismatch("%s row %s: no event for %s %s (command %s)", it.Table, it.Row, it.AggregateType, it.AggregateID, it.CommandID)
			continue
		}
		agg[it.Table]++
		r.Commands++
		compareFields(r, it, ev)
	}
	for _, c := range p.Tables {
		if c.Commands == 0 && c.Refused == 0 {
			continue
		}
		r.Tables = append(r.Tables, VerifyTable{Table: c.Table, Legacy: c.Commands, Refused: c.Refused, Aggregates: agg[c.Table]})
	}
	comparePositions(r, p, l)
	comparePnL(r, p, l)
	if db != nil {
		if err := compareViews(ctx, r, p, db); err != nil {
			return r, err
		}
	}
	return r, nil
}

// eventOf finds the event item's command caused.
func eventOf(l *Log, it Item) (topics.EventEnvelope, bool) {
	e, ok := l.ByCommand[it.CommandID]
	return e, ok && e.AggregateType == it.AggregateType && e.AggregateID == it.AggregateID
}

// compareFields checks that every field of the command reached its
// event unchanged (the event adds its own times and derived fields).
func compareFields(r *Report, it Item, ev topics.EventEnvelope) {
	var cmd, got map[string]json.RawMessage
	b, _ := json.Marshal(it.Command)
	if json.Unmarshal(b, &cmd) != nil || json.Unmarshal(ev.Payload, &got) != nil {
		r.mismatch("%s row %s: event %s undecodable", it.Table, it.Row, ev.EventType)
		return
	}
	for _, k := range sortedKeys(cmd) {
		if it.Table == TableAccumulators && (k == "threshold" || k == "execution") {
			continue // configuration, not legacy data
		}
		want, have := cmd[k], got[k]
		if bytes.Equal(want, have) || sameDecimal(want, have) {
			continue
		}
		r.mismatch("%s row %s: %s: legacy %s, %s %s has %s", it.Table, it.Row, k, want, it.AggregateType, it.AggregateID, orNone(have))
	}
}

func sameDecimal(a, b json.RawMessage) bool {
	var x, y decimal.Decimal
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x.Equal(y)
}

func orNone(b json.RawMessage) string {
	if b == nil {
		return "nothing"
	}
	return string(b)
}

func comparePositions(r *Report, p *Plan, l *Log) {
	for _, it := range p.Items {
		c, ok := it.Command.(position.Migrate)
		if !ok {
			continue
		}
		envs := l.Events[topics.Position][it.AggregateID]
		// Fold the migration's own events: what follows (a hedge
		// outcome, live fills) moves the position on by design.
		var evs []aggregate.Event
		for _, env := range envs {
			if !IsMigrated(env.CommandID) {
				break
			}
			e, err := position.Definition.DecodeEvent(env.EventType, env.Payload)
			if err != nil {
				r.mismatch("position %s: event #%d %s undecodable: %v", c.Symbol, env.Sequence, env.EventType, err)
				return
			}
			evs = append(evs, e)
		}
		if len(evs) == 0 {
			continue // reported as a missing event
		}
		r.Positions++
		st := aggregate.Replay(position.Definition, evs)
		if st.Status != aggregate.Live {
			r.mismatch("position %s: lifecycle %s (%s)", c.Symbol, st.Status, st.Failure)
			continue
		}
		for _, f := range []struct {
			name       string
			legacy, at decimal.Decimal
		}{
			{"net", c.NetPosition, st.State.Net},
			{"accumulated_long", c.AccumulatedLong, st.State.AccumulatedLong},
			{"accumulated_short", c.AccumulatedShort, st.State.AccumulatedShort},
		} {
			if !f.legacy.Equal(f.at) {
				r.mismatch("position %s: %s legacy %s, aggregate %s", c.Symbol, f.name, f.legacy, f.at)
			}
		}
		if want := p.Positions[c.Symbol]; !want.Net.Equal(st.State.Net) {
			r.mismatch("position %s: net %s after its migrated fills, want %s", c.Symbol, st.State.Net, want.Net)
		}
	}
}

// comparePnL compares the legacy reporter's cumulative PnL per base
// symbol with the last hedgeline PnL record of the symbol.
func comparePnL(r *Report, p *Plan, l *Log) {
	if p.LegacyPnL == nil {
		return
	}
	syms := make([]string, 0, len(p.LegacyPnL))
	for s := range p.LegacyPnL {
		syms = append(syms, string(s))
	}
	sort.Strings(syms)
	for _, s := range syms {
		want := p.LegacyPnL[market.Symbol(s)]
		r.PnL++
		got, ok := l.PnL[s]
		switch {
		case !ok && !want.IsZero():
			r.mismatch("pnl %s: legacy cumulative %s, hedgeline has no PnL record", s, want)
		case ok && !got.CumulativePnL.Equal(want):
			r.mismatch("pnl %s: legacy cumulative %s, hedgeline %s", s, want, got.CumulativePnL)
		}
	}
}

// ViewWait is how long the verification waits for the views to show
// every aggregate (the sinks project asynchronously).
var ViewWait = time.Minute

// compareViews counts the migrated rows of each view.
func compareViews(ctx context.Context, r *Report, p *Plan, db *sinks.DB) error {
	var symbols []string
	for _, it := range p.Items {
		if _, ok := it.Command.(position.Migrate); ok {
			symbols = append(symbols, it.AggregateID)
		}
	}
	queries := map[string]struct {
		q    string
		args []any
	}{
		TableOnchain:      {"SELECT count() FROM " + sinks.TradesTable.Name + " FINAL WHERE migrated = 1", nil},
		p.Schema.Offchain: {"SELECT count() FROM " + sinks.OrdersTable.Name + " FINAL WHERE migrated = 1", nil},
		TableAccumulators: {"SELECT count() FROM " + sinks.PositionsTable.Name + " FINAL WHERE aggregate_id IN ?", []any{symbols}},
	}
	// The sinks project asynchronously: give them a while to catch up.
	deadline := time.Now().Add(ViewWait)
	for {
		behind := false
		for i := range r.Tables {
			t := &r.Tables[i]
			q, ok := queries[t.Table]
			if !ok {
				continue
			}
			var n uint64
			if err := db.Conn().QueryRow(ctx, q.q, q.args...).Scan(&n); err != nil {
				return fmt.Errorf("count the %s view rows: %w", t.Table, err)
			}
			v := int(n)
			t.View = &v
			behind = behind || v < t.Aggregates
		}
		if !behind || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	for _, t := range r.Tables {
		if t.View != nil && *t.View != t.Aggregates {
			r.mismatch("%s: %d aggregates, %d view rows", t.Table, t.Aggregates, *t.View)
		}
	}
	return nil
}

func lastPnLSequence(l *Log, symbol string) uint64 { return l.PnL[symbol].PositionSequence }
