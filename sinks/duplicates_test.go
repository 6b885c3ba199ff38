package sinks

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/topics"
)

var scenarioTopics = []string{topics.OnChainTradeEvents, topics.PositionEvents, topics.OffchainOrderEvents, topics.PnLEvents}

type checksum struct{ n, sum uint64 }

func checksums(t testing.TB, db *DB) map[string]checksum {
	out := map[string]checksum{}
	for _, table := range ViewNames() {
		n, sum := tableChecksum(t, db, table)
		out[table] = checksum{n, sum}
	}
	return out
}

// TestDuplicatesCollapse: every event record produced twice in a row, then
// the whole stream produced again (a re-published batch at new offsets),
// then everything redelivered to a cold projector (a new group from offset
// 0): the tables hold exactly the scenario's rows each time.
func TestDuplicatesCollapse(t *testing.T) {
	db := testDB(t)
	addr := startKafka(t)
	s := newScenario(t)
	cl := producer(t, addr)
	for _, topic := range scenarioTopics {
		var twice []*kgo.Record
		for _, r := range s.all(topic) {
			twice = append(twice, clone([]*kgo.Record{r, r})...)
		}
		produce(t, cl, twice...)
		produce(t, cl, clone(s.all(topic))...)
	}
	rs := runAll(t, db, addr, Options{MaxBatch: 3}) // small polls: duplicates span batches
	checkScenario(t, db, s)
	for _, r := range rs {
		if st := r.pr.Stats(); st.Rejected != 0 || st.Records != uint64(3*len(s.all(r.pr.p.Topic()))) {
			t.Errorf("%s stats %+v, want %d records and no rejections", r.pr.p.Name(), st, 3*len(s.all(r.pr.p.Topic())))
		}
	}
	before := checksums(t, db)
	// Duplicates were skipped by the fold, not merely collapsed: the state
	// tables got one row per aggregate per batch at most.
	if n := countRows(t, db, "SELECT count() FROM pnl_summary WHERE last_sequence = 5 AND symbol = 'AAPL'"); n != 1 {
		t.Errorf("pnl_summary has %d physical rows for AAPL@5, want 1", n)
	}

	for _, r := range rs {
		r.stop(t)
	}
	runAll(t, db, addr, Options{Group: "redelivered"})
	checkScenario(t, db, s)
	after := checksums(t, db)
	for table, c := range before {
		if after[table] != c {
			t.Errorf("%s changed by a full redelivery: %+v -> %+v", table, c, after[table])
		}
	}
}

// TestInsertDeduplicationToken: an insert retried with the same token (the
// acknowledgement of the first was lost) adds no rows, even physically.
func TestInsertDeduplicationToken(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	s := newScenario(t)
	p := NewPnLProjection()
	recs := withOffsets(s.all(topics.PnLEvents))
	b, err := p.Project(ctx, db, nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		for _, table := range p.Tables() {
			if err := db.Insert(ctx, table.Name, table.Columns, b.Rows[table.Name], table.Name+"/pnl.events/0/0-3"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := countRows(t, db, "SELECT count() FROM metrics_pnl"); n != 4 {
		t.Errorf("metrics_pnl has %d physical rows after 3 identical inserts, want 4", n)
	}
	if n := countRows(t, db, "SELECT count() FROM pnl_summary"); n != 2 {
		t.Errorf("pnl_summary has %d physical rows after 3 identical inserts, want 2", n)
	}
}

// TestCrashBetweenInserts: the process dies after the side table
// (hedge_view) was written but before the state table (position_view).
// A restarted projection reads the old state back, folds the redelivered
// records again and re-emits the same hedge rows: nothing is lost.
func TestCrashBetweenInserts(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	s := newScenario(t)
	recs := withOffsets(s.all(topics.PositionEvents))
	half := len(recs) / 2

	first := NewPositionsProjection()
	insertAll := func(p Projection, b Batch, token string) {
		t.Helper()
		for _, table := range p.Tables() {
			if rows := b.Rows[table.Name]; len(rows) > 0 {
				if err := db.Insert(ctx, table.Name, table.Columns, rows, table.Name+token); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b, err := first.Project(ctx, db, nil, recs[:half])
	if err != nil {
		t.Fatal(err)
	}
	insertAll(first, b, "/a")
	b, err = first.Project(ctx, db, nil, recs[half:])
	if err != nil {
		t.Fatal(err)
	}
	// Crash: only the side table made it.
	if err := db.Insert(ctx, HedgesTable.Name, HedgesTable.Columns, b.Rows[HedgesTable.Name], "hedge_view/b"); err != nil {
		t.Fatal(err)
	}

	restarted := NewPositionsProjection()
	b2, err := restarted.Project(ctx, db, nil, recs[half:])
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Rows[PositionsTable.Name]) != len(b.Rows[PositionsTable.Name]) || len(b2.Rows[HedgesTable.Name]) != len(b.Rows[HedgesTable.Name]) {
		t.Fatalf("redelivery after the crash projected %d/%d rows, first attempt %d/%d",
			len(b2.Rows[PositionsTable.Name]), len(b2.Rows[HedgesTable.Name]), len(b.Rows[PositionsTable.Name]), len(b.Rows[HedgesTable.Name]))
	}
	insertAll(restarted, b2, "/b")
	// The same redelivery once more, now that the state is stored: all
	// duplicates, nothing to write.
	b3, err := NewPositionsProjection().Project(ctx, db, nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b3.Rows) != 0 || len(b3.Rejected) != 0 {
		t.Errorf("a full redelivery after the state was stored projected %v", b3.Rows)
	}
	got := tableRowsWhere(t, db, "position_view", "1", "aggregate_id", "state")
	if len(got) != 2 || got[0]["sequence"] != "5" || got[0]["net"] != "-0.3" || got[1]["pending_execution_id"] != s.exec3 {
		t.Errorf("position_view = %v", got)
	}
	if h := tableRows(t, db, "hedge_view", "execution_id"); len(h) != 3 {
		t.Errorf("hedge_view has %d hedges, want 3", len(h))
	}
}

// withOffsets copies records with the partition and offsets a broker
// would give them (one partition).
func withOffsets(recs []*kgo.Record) []*kgo.Record {
	out := clone(recs)
	for i, r := range out {
		r.Offset = int64(i)
	}
	return out
}
