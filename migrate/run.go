package migrate

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Meter prints one table's progress (rows, rows/s, ETA) to w, at most
// once a second and once at the end.
type Meter struct {
	w      io.Writer
	what   string
	total  int
	start  time.Time
	last   time.Time
	closed bool
}

// NewMeter starts a meter of total rows of what (nil w: silent).
func NewMeter(w io.Writer, what string, total int) *Meter {
	now := time.Now()
	return &Meter{w: w, what: what, total: total, start: now, last: now}
}

// Update reports done rows.
func (m *Meter) Update(done int) {
	if m == nil || m.w == nil || m.closed {
		return
	}
	now := time.Now()
	end := done >= m.total
	if !end && now.Sub(m.last) < time.Second {
		return
	}
	m.last, m.closed = now, end
	el := now.Sub(m.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	eta := "-"
	if end {
		eta = "done in " + now.Sub(m.start).Round(time.Millisecond).String()
	} else if rate > 0 {
		eta = "ETA " + (time.Duration(float64(m.total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(m.w, "%-22s %8d/%-8d rows %9.0f rows/s  %s\n", m.what, done, m.total, rate, eta)
}

// TableResult is one table's line of a run.
type TableResult struct {
	TableCount
	Produced   int `json:"produced"`
	Skipped    int `json:"skipped"` // produced by an earlier run
	Accepted   int `json:"accepted"`
	Rejected   int `json:"rejected"`
	Unresolved int `json:"unresolved"`
}

// Result is what a run did.
type Result struct {
	Tables     []TableResult `json:"tables"`
	Rejections []Refusal     `json:"rejections,omitempty"` // refused by the aggregates
}

// Result starts a run's result from the plan's counts.
func (p *Plan) Result() *Result {
	r := &Result{}
	for _, c := range p.Tables {
		r.Tables = append(r.Tables, TableResult{TableCount: c})
	}
	return r
}

func (r *Result) table(name string) *TableResult {
	for i := range r.Tables {
		if r.Tables[i].Table == name {
			return &r.Tables[i]
		}
	}
	r.Tables = append(r.Tables, TableResult{TableCount: TableCount{Table: name}})
	return &r.Tables[len(r.Tables)-1]
}

// Phases splits the plan in produce order: first the trades and the
// positions (a position's Migrate before its fills, on one partition),
// then, once the positions are accepted, the broker orders (an in-flight
// order's outcome must find its position migrated) and the tokens.
func (p *Plan) Phases() (first, then []Item) {
	for _, it := range p.Items {
		switch it.AggregateType {
		case topics.OffchainOrder, topics.BrokerAuth:
			then = append(then, it)
		default:
			first = append(first, it)
		}
	}
	return first, then
}

// Produce produces the items that l does not hold yet, in order, and
// returns once the brokers acknowledged them.
func Produce(ctx context.Context, k kafkasec.Cluster, items []Item, l *Log, res *Result, progress io.Writer) error {
	cl, err := kgo.NewClient(topics.ClientOpts(k, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	const batch = 5000
	for start := 0; start < len(items); {
		table := items[start].Table
		end := start
		for end < len(items) && items[end].Table == table {
			end++
		}
		m := NewMeter(progress, "produce "+table, end-start)
		for i := start; i < end; i += batch {
			var recs []*kgo.Record
			for _, it := range items[i:min(i+batch, end)] {
				if l.Produced[it.CommandID] {
					res.table(table).Skipped++
					continue
				}
				recs = append(recs, it.Record)
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return fmt.Errorf("produce %s commands: %w", table, err)
			}
			res.table(table).Produced += len(recs)
			m.Update(min(i+batch, end) - start)
		}
		start = end
	}
	return nil
}

// Answered counts the items that have their aggregate's answer in l.
func Answered(items []Item, l *Log) int {
	n := 0
	for _, it := range items {
		if _, ok := l.Outcomes[it.CommandID]; ok {
			n++
		}
	}
	return n
}

// Await follows l until every item has its aggregate's answer, or until
// deadline.
func Await(ctx context.Context, items []Item, l *Log, deadline time.Time, progress io.Writer) error {
	m := NewMeter(progress, "await aggregates", len(items))
	for {
		answered := Answered(items, l)
		m.Update(answered)
		if answered == len(items) || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if err := l.Follow(ctx); err != nil {
			return err
		}
	}
}

// Tally counts the aggregates' answers to the plan into res.
func Tally(p *Plan, l *Log, res *Result) {
	for _, it := range p.Items {
		t := res.table(it.Table)
		o, ok := l.Outcomes[it.CommandID]
		switch {
		case !ok:
			t.Unresolved++
		case o.Accepted:
			t.Accepted++
		default:
			t.Rejected++
			res.Rejections = append(res.Rejections, Refusal{Table: it.Table, Row: it.Row, Reason: o.Reason})
		}
	}
}

// WaitPnL follows l (read with events) until the PnL stage has booked
// every migrated fill (a pnl.events record of each symbol at or past the
// position sequence of its last MigratedFillRecorded), or timeout.
func WaitPnL(ctx context.Context, p *Plan, l *Log, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		want := map[string]uint64{}
		for _, it := range p.Items {
			if it.Table != TableFills {
				continue
			}
			if ev, ok := eventOf(l, it); ok && ev.Sequence > want[it.AggregateID] {
				want[it.AggregateID] = ev.Sequence
			}
		}
		booked := 0
		for sym, seq := range want {
			if lastPnLSequence(l, sym) >= seq {
				booked++
			}
		}
		if booked == len(want) || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		if err := l.Follow(ctx); err != nil {
			return err
		}
	}
}
