package sinks

// The conformance battery every projection must pass (issue 12): the same
// four faults, run against the real embedded ClickHouse and a kfake broker,
// each compared with the projection's events projected once, cleanly.
//
//	duplicates  every record twice in a row, then the stream re-published
//	            at new offsets, then all of it to a cold consumer group
//	crash       the process dies after the first table insert of a batch,
//	            before the others and the commit; a fresh projector resumes
//	outage      ClickHouse unreachable (the first failed insert landed, its
//	            acknowledgement lost) for a number of calls, then back
//	poison      an undecodable record and one the projection cannot use
//
// A new projection is covered by adding it to Projections() (and, for a
// topic that is not an aggregate event topic, a poisonRecord case).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/topics"
)

func TestConformance(t *testing.T) {
	// The reference: each projection's events projected once, in one
	// batch, and checked field by field against the scenario.
	s := newScenario(t)
	ref := testDB(t)
	for _, p := range Projections() {
		projectOnce(t, ref, p, s.all(p.Topic()))
	}
	checkScenario(t, ref, s)
	if t.Failed() {
		t.FailNow()
	}
	for _, p := range Projections() {
		t.Run(p.Name(), func(t *testing.T) { conformance(t, p, s.all(p.Topic()), projectionRows(t, ref, p)) })
	}
}

// conformance runs the battery for p over its clean stream, whose
// projection is want.
func conformance(t *testing.T, p Projection, clean []*kgo.Record, want map[string][]row) {
	fresh := func() Projection { return ProjectionOf(p.Tables()[0].Name) }
	if len(clean) < 3 {
		t.Fatalf("the scenario has %d %s records; the battery needs a few", len(clean), p.Topic())
	}
	n := uint64(len(clean))

	t.Run("duplicates", func(t *testing.T) {
		db, addr := testDB(t), startKafka(t)
		stopMerges(t, db, p)
		cl := producer(t, addr)
		var twice []*kgo.Record
		for _, r := range clean {
			twice = append(twice, clone([]*kgo.Record{r, r})...)
		}
		produce(t, cl, twice...)
		produce(t, cl, clone(clean)...)

		r := startProjector(t, db, addr, fresh(), Options{MaxBatch: 3}) // small polls: duplicates span batches
		r.waitCommitted(t, addr, time.Minute)
		// Skipped by the fold (not merely collapsed by ClickHouse).
		if st := r.pr.Stats(); st.Records != 3*n || st.Duplicates != 2*n || st.Rejected != 0 {
			t.Errorf("stats %+v, want %d records, %d of them duplicates, none rejected", st, 3*n, 2*n)
		}
		sameRows(t, db, p, want)
		// So no row was written twice, even physically (merges are off).
		for _, table := range p.Tables() {
			q := "SELECT toUInt64(count() - uniqExact(toString(tuple(*)))) FROM " + quoteIdent(table.Name)
			if d := countRows(t, db, q); d != 0 {
				t.Errorf("%s holds %d rows twice: the fold re-wrote duplicates", table.Name, d)
			}
		}
		r.stop(t)

		// Everything again to a cold projector (a new group from offset 0):
		// all duplicates against the states read back, nothing written.
		cold := startProjector(t, db, addr, fresh(), Options{Group: "cold", MaxBatch: 3})
		cold.waitCommitted(t, addr, time.Minute)
		if st := cold.pr.Stats(); st.Duplicates != 3*n || st.Rows != 0 || st.Rejected != 0 {
			t.Errorf("cold redelivery stats %+v, want %d duplicates and no rows", st, 3*n)
		}
		sameRows(t, db, p, want)
	})

	t.Run("crash", func(t *testing.T) {
		db, addr := testDB(t), startKafka(t)
		produce(t, producer(t, addr), clone(clean)...)

		// Die in the second batch that writes the first table, right after
		// that insert: the projection's other tables (the state table last)
		// and the commit never happen.
		cw := &crashWriter{Writer: db, table: p.Tables()[0].Name, at: 2, crashed: make(chan struct{})}
		r := startProjector(t, cw, addr, fresh(), Options{MaxBatch: 2})
		select {
		case <-cw.crashed:
		case <-time.After(time.Minute):
			t.Fatalf("no second insert into %s within a minute (stats %+v)", cw.table, r.pr.Stats())
		}
		r.stop(t)
		r.mu.Lock()
		if c := r.committed[cw.partition]; c > cw.first {
			t.Errorf("partition %d committed to %d, past the crashed batch at %d", cw.partition, c, cw.first)
		}
		committed := maps.Clone(r.committed)
		r.mu.Unlock()

		resumed := startProjector(t, db, addr, fresh(), Options{MaxBatch: 2})
		resumed.mu.Lock()
		for part, o := range committed { // partitions done before the crash get no new commit
			resumed.committed[part] = max(resumed.committed[part], o)
		}
		resumed.mu.Unlock()
		resumed.waitCommitted(t, addr, time.Minute)
		if st := resumed.pr.Stats(); st.Rejected != 0 || st.Records == 0 {
			t.Errorf("resumed stats %+v", st)
		}
		sameRows(t, db, p, want)
	})

	t.Run("outage", func(t *testing.T) {
		db, addr := testDB(t), startKafka(t)
		stopMerges(t, db, p) // physical row counts show a retried insert that was not deduplicated
		produce(t, producer(t, addr), clone(clean)...)

		fw := &flakyWriter{Writer: db, downAt: 2, failures: 5, landed: map[string]int{}}
		var commitsWhileDown int
		var mu sync.Mutex
		r := startProjector(t, fw, addr, fresh(), Options{MaxBatch: 2, BackoffMax: 200 * time.Millisecond,
			OnBatch: func(BatchInfo) {
				if fw.isDown() {
					mu.Lock()
					commitsWhileDown++
					mu.Unlock()
				}
			}})
		r.waitCommitted(t, addr, time.Minute)
		mu.Lock()
		if commitsWhileDown > 0 {
			t.Errorf("%d batches committed while ClickHouse was unreachable", commitsWhileDown)
		}
		mu.Unlock()
		st := r.pr.Stats()
		if fw.failed() < fw.failures || st.Retries < uint64(fw.failures) || st.Rejected != 0 {
			t.Errorf("%d calls failed, stats %+v: want the outage (%d failed calls) retried through", fw.failed(), st, fw.failures)
		}
		sameRows(t, db, p, want)
		landed := fw.rowsLanded()
		for _, tb := range p.Tables() {
			table, rows := tb.Name, landed[tb.Name]
			if got := countRows(t, db, "SELECT count() FROM "+quoteIdent(table)); got != uint64(rows) {
				t.Errorf("%s holds %d physical rows, the distinct inserts %d: a retried insert landed twice", table, got, rows)
			}
		}
	})

	t.Run("poison", func(t *testing.T) {
		db, addr := testDB(t), startKafka(t)
		cl := producer(t, addr)
		undecodable := &kgo.Record{Topic: p.Topic(), Key: clean[0].Key, Value: []byte("not json at all")}
		unusable, why := poisonRecord(t, p, clean)
		half := len(clean) / 2
		produce(t, cl, undecodable)
		produce(t, cl, clone(clean[:half])...)
		produce(t, cl, unusable)
		produce(t, cl, clone(clean[half:])...)

		r := startProjector(t, db, addr, fresh(), Options{})
		r.waitCommitted(t, addr, time.Minute)
		if st := r.pr.Stats(); st.Rejected != 2 || st.Records != n+2 {
			t.Errorf("stats %+v, want %d records, 2 rejected", st, n+2)
		}
		sameRows(t, db, p, want)

		rejs := readRejections(t, addr, 2)
		for _, w := range []struct {
			rec    *kgo.Record
			reason string
		}{{undecodable, "undecodable"}, {unusable, why}} {
			found := false
			for _, rej := range rejs {
				if !bytes.Equal(rej.Original(), w.rec.Value) {
					continue
				}
				found = true
				prefix := fmt.Sprintf("projection %s: %s/%d@%d: ", p.Name(), p.Topic(), rej.Partition, rej.Offset)
				if rej.Topic != p.Topic() || !strings.HasPrefix(rej.Reason, prefix) || !strings.Contains(rej.Reason, w.reason) || rej.AggregateType == "" {
					t.Errorf("rejection %+v: want topic %s, reason %q...%q", rej, p.Topic(), prefix, w.reason)
				}
			}
			if !found {
				t.Errorf("no rejection of %q among %d", w.rec.Value, len(rejs))
			}
		}
	})
}

// poisonRecord is a record of p's topic that decodes as JSON but that p
// cannot use, and the words its rejection reason must contain.
func poisonRecord(t *testing.T, p Projection, clean []*kgo.Record) (*kgo.Record, string) {
	t.Helper()
	if p.Topic() == topics.PnLEvents {
		v := bytes.Replace(clean[0].Value, []byte(`"onchain"`), []byte(`"moon"`), 1)
		if bytes.Equal(v, clean[0].Value) {
			t.Fatal("the first pnl record has no onchain venue to spoil")
		}
		return &kgo.Record{Topic: p.Topic(), Key: clean[0].Key, Value: v}, `"moon"`
	}
	// An aggregate event topic: an event of another aggregate type.
	env, err := topics.DecodeEnvelope(clean[0].Value)
	if err != nil {
		t.Fatalf("no poison fixture for %s (records are not event envelopes: %v): add one", p.Topic(), err)
	}
	other := topics.Position
	if env.AggregateType == other {
		other = topics.OnChainTrade
	}
	env.AggregateType = other
	v, err := topics.EncodeEvent(env)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: p.Topic(), Key: clean[0].Key, Value: v}, fmt.Sprintf("aggregate type %q on the", other)
}

// projectOnce projects recs in one batch into w (no Kafka): the reference
// a projection's tables are compared with.
func projectOnce(t testing.TB, w Writer, p Projection, recs []*kgo.Record) {
	t.Helper()
	ctx := testCtx(t)
	b, err := p.Project(ctx, w, nil, withOffsets(recs))
	if err != nil || len(b.Rejected) > 0 || len(b.Park) > 0 {
		t.Fatalf("reference %s: %v, rejected %v, parked %d", p.Name(), err, b.Rejected, len(b.Park))
	}
	for _, table := range p.Tables() {
		if err := w.Insert(ctx, table.Name, table.Columns, b.Rows[table.Name], "ref/"+table.Name); err != nil {
			t.Fatal(err)
		}
	}
}

// projectionRows reads every table of p (FINAL), ordered by all columns.
func projectionRows(t testing.TB, db *DB, p Projection) map[string][]row {
	t.Helper()
	out := map[string][]row{}
	for _, table := range p.Tables() {
		cols := make([]string, len(table.Columns))
		for i, c := range table.Columns {
			cols[i] = quoteIdent(c)
		}
		out[table.Name] = tableRows(t, db, table.Name, strings.Join(cols, ", "))
	}
	return out
}

// sameRows asserts p's tables in db equal want row for row, and that no
// event is left parked.
func sameRows(t testing.TB, db *DB, p Projection, want map[string][]row) {
	t.Helper()
	got := projectionRows(t, db, p)
	for _, table := range p.Tables() {
		g, w := got[table.Name], want[table.Name]
		if len(w) == 0 {
			t.Fatalf("the reference has no %s rows", table.Name)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %d rows differ from the clean run's %d:\ngot  %v\nwant %v", table.Name, len(g), len(w), g, w)
		}
	}
	if n := countRows(t, db, "SELECT count() FROM parked_events FINAL WHERE consumed = 0"); n != 0 {
		t.Errorf("%d events left parked", n)
	}
}

// stopMerges keeps every insert of p's tables its own part, so count()
// without FINAL counts rows as inserted.
func stopMerges(t testing.TB, db *DB, p Projection) {
	t.Helper()
	for _, table := range p.Tables() {
		if err := db.Conn().Exec(testCtx(t), "SYSTEM STOP MERGES "+quoteIdent(table.Name)); err != nil {
			t.Fatal(err)
		}
	}
}

// tokenRange returns the partition and first offset of an insert token
// (<table>/<topic>/<partition>/<first>-<last>).
func tokenRange(token string) (int32, int64) {
	parts := strings.Split(token, "/")
	var part int32
	var first, last int64
	if len(parts) >= 4 {
		fmt.Sscanf(parts[len(parts)-2], "%d", &part)
		fmt.Sscanf(parts[len(parts)-1], "%d-%d", &first, &last)
	}
	return part, first
}

// crashWriter is a process killed right after its at-th insert into table
// landed: that call, and with it the projector, hangs until the projector
// is stopped, so nothing after it (other tables, the commit) happens.
type crashWriter struct {
	Writer
	table   string
	at      int
	crashed chan struct{}

	n         int
	partition int32
	first     int64
}

func (c *crashWriter) Insert(ctx context.Context, table string, cols []string, rows [][]any, token string) error {
	if table == c.table {
		c.n++
	}
	if c.n > c.at {
		return errors.New("crashWriter: written to after the crash")
	}
	if err := c.Writer.Insert(ctx, table, cols, rows, token); err != nil || table != c.table || c.n != c.at {
		return err
	}
	c.partition, c.first = tokenRange(token)
	close(c.crashed)
	<-ctx.Done()
	return ctx.Err()
}

// flakyWriter loses ClickHouse at its downAt-th insert (which lands, but
// its acknowledgement is lost) and answers the next failures calls of any
// kind with a connection error, as a server that went away would.
type flakyWriter struct {
	Writer
	downAt, failures int

	mu      sync.Mutex
	inserts int
	down    bool
	fails   int
	landed  map[string]int    // token -> rows, of inserts that reached the server
	tables  map[string]string // token -> table
}

var errConnReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (f *flakyWriter) isDown() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.down }
func (f *flakyWriter) failed() int  { f.mu.Lock(); defer f.mu.Unlock(); return f.fails }

// fail reports whether this call fails, counting it.
func (f *flakyWriter) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down {
		return false
	}
	f.fails++
	if f.fails >= f.failures {
		f.down = false
	}
	return true
}

// rowsLanded sums, per table, the rows of the distinct inserts that landed.
func (f *flakyWriter) rowsLanded() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for token, n := range f.landed {
		out[f.tables[token]] += n
	}
	return out
}

func (f *flakyWriter) Insert(ctx context.Context, table string, cols []string, rows [][]any, token string) error {
	if f.fail() {
		return fmt.Errorf("insert into %s: %w", table, errConnReset)
	}
	err := f.Writer.Insert(ctx, table, cols, rows, token)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		if _, ok := f.landed[token]; !ok {
			f.landed[token] = len(rows)
			if f.tables == nil {
				f.tables = map[string]string{}
			}
			f.tables[token] = table
		}
	}
	f.inserts++
	if err == nil && f.inserts == f.downAt {
		f.down, f.fails = true, 1 // this one's acknowledgement is the first loss
		return fmt.Errorf("insert into %s: %w", table, errConnReset)
	}
	return err
}

func (f *flakyWriter) ReadStates(ctx context.Context, table, keyColumn, versionColumn string, keys []string) (map[string]StoredState, error) {
	if f.fail() {
		return nil, fmt.Errorf("read states from %s: %w", table, errConnReset)
	}
	return f.Writer.ReadStates(ctx, table, keyColumn, versionColumn, keys)
}

func (f *flakyWriter) ReadParked(ctx context.Context, stateTable string, partitions []int32) ([]ParkedEvent, error) {
	if f.fail() {
		return nil, fmt.Errorf("read parked events of %s: %w", stateTable, errConnReset)
	}
	return f.Writer.ReadParked(ctx, stateTable, partitions)
}
