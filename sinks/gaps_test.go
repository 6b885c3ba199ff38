package sinks

// Gaps in an aggregate's sequences (issue 8): the broker lost an event and
// kept the next; the lost one is re-published later, at a higher offset.
// The projection parks what comes after the gap and applies it once the
// gap fills, so the view ends equal to the one of the in-order stream.

import (
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/processors/sequence"
	"github.com/hedgeline/hedgeline/topics"
)

// gapStream returns the position events of the scenario with NVDA's event
// seq removed and a later NVDA event duplicated right after its original,
// and the removed record (to be produced later).
func gapStream(t testing.TB, recs []*kgo.Record, id string, seq uint64) (gapped []*kgo.Record, lost *kgo.Record) {
	t.Helper()
	dup := false
	for _, r := range clone(recs) {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case env.AggregateID == id && env.Sequence == seq:
			lost = r
			continue
		case env.AggregateID == id && env.Sequence > seq && !dup:
			gapped = append(gapped, r, clone([]*kgo.Record{r})[0])
			dup = true
			continue
		}
		gapped = append(gapped, r)
	}
	if lost == nil || !dup {
		t.Fatalf("no %s event %d with a later one in the stream", id, seq)
	}
	return gapped, lost
}

// parkedRowsOf returns the b.Park rows as (sequence, consumed) pairs.
func parkedRowsOf(b Batch) [][2]uint64 {
	var out [][2]uint64
	for _, r := range b.Park {
		out = append(out, [2]uint64{r[3].(uint64), uint64(r[5].(uint8))})
	}
	return out
}

// TestStateProjectionParksGap: without ClickHouse, in batches of 3, the
// events after NVDA's missing #2 are parked (and reported as a gap) until
// #2 arrives, a duplicate is skipped, and the final states equal those of
// the in-order stream.
func TestStateProjectionParksGap(t *testing.T) {
	ctx := context.Background()
	in := newScenario(t).all(topics.PositionEvents)

	ref := &memReader{}
	p := NewPositionsProjection()
	b, err := p.Project(ctx, ref, nil, withOffsets(in))
	if err != nil || len(b.Rejected) > 0 || len(b.Park) > 0 || b.Duplicates > 0 {
		t.Fatalf("in order: %v, rejected %v, park %v, duplicates %d", err, b.Rejected, b.Park, b.Duplicates)
	}
	ref.store(t, PositionsTable, b)

	gapped, lost := gapStream(t, in, "NVDA", 2)
	got := &memReader{}
	q := NewPositionsProjection()
	var parked, dups int
	for lo := 0; lo < len(gapped); lo += 3 {
		b, err := q.Project(ctx, got, nil, withOffsets(gapped[lo:min(lo+3, len(gapped))]))
		if err != nil || len(b.Rejected) > 0 {
			t.Fatalf("batch at %d: %v, rejected %v", lo, err, b.Rejected)
		}
		got.store(t, PositionsTable, b)
		parked += b.Parked
		dups += b.Duplicates
	}
	gaps := q.Gaps()
	if len(gaps) != 1 || gaps[0].AggregateID != "NVDA" || gaps[0].Version != 1 ||
		!slices.Equal(gaps[0].Missing, []sequence.Range{{From: 2, To: 2}}) || gaps[0].Parked != parked || parked == 0 || dups != 1 {
		t.Fatalf("gaps %+v, parked %d, duplicates %d; want NVDA missing 2, one duplicate", gaps, parked, dups)
	}
	if st := got.rows["NVDA"]; st.Version != 1 {
		t.Fatalf("NVDA folded to %d past its gap, want 1", st.Version)
	}

	b, err = q.Project(ctx, got, nil, withOffsets([]*kgo.Record{lost}))
	if err != nil || len(b.Rejected) > 0 || b.Unparked != parked {
		t.Fatalf("gap filled: %v, rejected %v, unparked %d, want %d", err, b.Rejected, b.Unparked, parked)
	}
	// Every parked event was written open when it was parked, and is now
	// marked consumed.
	for _, r := range parkedRowsOf(b) {
		if r[1] != 1 {
			t.Errorf("parked row %v not consumed after the gap filled", r)
		}
	}
	if n := len(b.Park); n != parked {
		t.Errorf("%d consumed rows, want %d", n, parked)
	}
	got.store(t, PositionsTable, b)
	if len(q.Gaps()) != 0 {
		t.Errorf("gaps after filling: %+v", q.Gaps())
	}
	for k, want := range ref.rows {
		if g := got.rows[k]; g.Version != want.Version || string(g.State) != string(want.State) {
			t.Errorf("%s: version %d state %s, want %d %s", k, g.Version, g.State, want.Version, want.State)
		}
	}
}

// TestPnLKeepsSparseSequences: pnl records are versioned by the position
// sequence of their fill, which skips the position's other events: the
// pnl projection must not park them.
func TestPnLKeepsSparseSequences(t *testing.T) {
	recs := newScenario(t).all(topics.PnLEvents)
	b, err := NewPnLProjection().Project(context.Background(), &memReader{}, nil, withOffsets(recs))
	if err != nil || len(b.Rejected) > 0 || b.Parked > 0 || len(b.Rows[MetricsPnLTable.Name]) != len(recs) {
		t.Fatalf("%v, rejected %v, parked %d, %d metrics rows for %d records", err, b.Rejected, b.Parked, len(b.Rows[MetricsPnLTable.Name]), len(recs))
	}
}

// samePositions compares the positions tables of two databases.
func samePositions(t testing.TB, got, want *DB) {
	t.Helper()
	for _, table := range []string{PositionsTable.Name, HedgesTable.Name} {
		gn, gs := tableChecksum(t, got, table)
		wn, ws := tableChecksum(t, want, table)
		if gn != wn || gs != ws || gn == 0 {
			t.Errorf("%s: %d rows (hash %d), want %d rows (hash %d) as in order", table, gn, gs, wn, ws)
		}
	}
}

type gapRow struct {
	stateTable, topic, id     string
	applied, from, to, parked uint64
	sequences                 []uint64
	openSeconds               int64
}

func readGaps(t testing.TB, db *DB) []gapRow {
	t.Helper()
	rows, err := db.Conn().Query(testCtx(t), `SELECT state_table, topic, aggregate_id, applied_version, missing_from, missing_to,
		parked, parked_sequences, open_seconds FROM projection_gaps ORDER BY state_table, aggregate_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []gapRow
	for rows.Next() {
		var g gapRow
		if err := rows.Scan(&g.stateTable, &g.topic, &g.id, &g.applied, &g.from, &g.to, &g.parked, &g.sequences, &g.openSeconds); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOpenGap asserts projection_gaps shows NVDA waiting for #2 and the
// log warned about it.
func checkOpenGap(t testing.TB, db *DB, log *testlog.Buffer) {
	t.Helper()
	gaps := readGaps(t, db)
	if len(gaps) != 1 {
		t.Fatalf("projection_gaps = %+v, want one row", gaps)
	}
	g := gaps[0]
	if g.stateTable != PositionsTable.Name || g.topic != topics.PositionEvents || g.id != "NVDA" || g.applied != 1 ||
		g.from != 2 || g.to != 2 || g.parked == 0 || int(g.parked) != len(g.sequences) || g.sequences[0] != 3 || g.openSeconds < 0 {
		t.Errorf("projection_gaps = %+v, want NVDA missing 2..2 with 3.. parked", g)
	}
	// The documented query shows it.
	_, blocks := queriesDoc(t)
	i := slices.IndexFunc(blocks, func(q string) bool { return strings.Contains(q, GapsView) })
	if i < 0 {
		t.Fatal("QUERIES.md has no projection_gaps query")
	}
	var id string
	var from, to uint64
	if err := db.Conn().QueryRow(testCtx(t), "SELECT aggregate_id, missing_from, missing_to FROM ("+blocks[i]+")").Scan(&id, &from, &to); err != nil || id != "NVDA" || from != 2 || to != 2 {
		t.Errorf("QUERIES.md projection_gaps query: %s %d-%d, %v", id, from, to, err)
	}
	if n := countRows(t, db, "SELECT count() FROM position_view FINAL WHERE aggregate_id = 'NVDA' AND sequence = 1"); n != 1 {
		t.Errorf("position_view moved NVDA past its gap")
	}
	if out := log.String(); !strings.Contains(out, "events missing") || !strings.Contains(out, "aggregate_id=NVDA") ||
		!strings.Contains(out, "missing=2 ") || !strings.Contains(out, "topic="+topics.PositionEvents) || !strings.Contains(out, "open_for=") {
		t.Errorf("no gap warning naming topic, NVDA, the missing range and its age in the log:\n%s", out)
	}
}

func checkGapClosed(t testing.TB, db *DB) {
	t.Helper()
	if gaps := readGaps(t, db); len(gaps) != 0 {
		t.Errorf("projection_gaps after the gap filled = %+v", gaps)
	}
	if n := countRows(t, db, "SELECT count() FROM parked_events FINAL WHERE consumed = 0"); n != 0 {
		t.Errorf("%d parked events left open", n)
	}
}

// TestGapFilledLater: the lost event is produced after the rest (and a
// duplicate): views equal those of the in-order stream, the gap is
// visible (view, log, stats) while it is open and gone once filled.
func TestGapFilledLater(t *testing.T) {
	db := testDB(t)
	ref := openDB(t, chServer.Addr(), "t_gap_filled_later_ref", true)
	addr := startKafka(t)
	in := newScenario(t).all(topics.PositionEvents)
	projectOnce(t, ref, NewPositionsProjection(), in)

	gapped, lost := gapStream(t, in, "NVDA", 2)
	cl := producer(t, addr)
	produce(t, cl, gapped...)
	log, sink := testLogger(t)
	r := startProjector(t, db, addr, NewPositionsProjection(), Options{Logger: log})
	r.waitCommitted(t, addr, time.Minute)
	checkOpenGap(t, db, sink)

	produce(t, cl, lost)
	r.waitCommitted(t, addr, time.Minute)
	samePositions(t, db, ref)
	checkGapClosed(t, db)
	st := r.pr.Stats()
	if st.Parked == 0 || st.Unparked != st.Parked || st.Duplicates != 1 || st.Rejected != 0 {
		t.Errorf("stats %+v: want parked = unparked > 0, one duplicate, no rejection", st)
	}
	if out := sink.String(); !strings.Contains(out, "gap closed") {
		t.Errorf("no gap-closed note in the log:\n%s", out)
	}
}

// TestParkedSurvivesRestart: the projector commits past the parked events
// and is restarted (a new process: nothing cached) before the lost event
// arrives; the parked events are read back from parked_events and applied
// when it does.
func TestParkedSurvivesRestart(t *testing.T) {
	db := testDB(t)
	ref := openDB(t, chServer.Addr(), "t_parked_survives_restart_ref", true)
	addr := startKafka(t)
	in := newScenario(t).all(topics.PositionEvents)
	projectOnce(t, ref, NewPositionsProjection(), in)

	gapped, lost := gapStream(t, in, "NVDA", 2)
	cl := producer(t, addr)
	produce(t, cl, gapped...)
	log, sink := testLogger(t)
	first := startProjector(t, db, addr, NewPositionsProjection(), Options{Logger: log})
	first.waitCommitted(t, addr, time.Minute)
	checkOpenGap(t, db, sink)
	first.stop(t)

	produce(t, cl, lost)
	second := startProjector(t, db, addr, NewPositionsProjection(), Options{})
	second.mu.Lock()
	for part, o := range first.committed { // partitions with nothing new
		second.committed[part] = max(second.committed[part], o)
	}
	second.mu.Unlock()
	second.waitCommitted(t, addr, time.Minute)
	if st := second.pr.Stats(); st.Records != 1 || st.Unparked == 0 {
		t.Errorf("restarted projector: stats %+v, want the one lost record and the parked ones applied", st)
	}
	samePositions(t, db, ref)
	checkGapClosed(t, db)
}

// TestReplayWithOpenGap: a replay (from offset 0, the same parking rules)
// of a topic with an open gap rebuilds the same views and the same open
// gap, whose parked events move with the swapped-in state table; the live
// projector, restarted, applies them when the lost event arrives.
func TestReplayWithOpenGap(t *testing.T) {
	db := testDB(t)
	ref := openDB(t, chServer.Addr(), "t_replay_with_open_gap_ref", true)
	addr := startKafka(t)
	in := newScenario(t).all(topics.PositionEvents)
	projectOnce(t, ref, NewPositionsProjection(), in)

	gapped, lost := gapStream(t, in, "NVDA", 2)
	cl := producer(t, addr)
	produce(t, cl, gapped...)
	log, sink := testLogger(t)
	live := startProjector(t, db, addr, NewPositionsProjection(), Options{Logger: log})
	live.waitCommitted(t, addr, time.Minute)
	checkOpenGap(t, db, sink)
	before := map[string][2]uint64{}
	for _, table := range []string{PositionsTable.Name, HedgesTable.Name} {
		n, sum := tableChecksum(t, db, table)
		before[table] = [2]uint64{n, sum}
	}
	live.stop(t) // SwapShadow wants the live projector stopped

	err := Replay(testCtx(t), db, kafkasec.Plaintext(addr), ReplayOptions{
		Projections: []Projection{NewPositionsProjection()}, Logger: log,
		KafkaOpts: []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for table, w := range before {
		if n, sum := tableChecksum(t, db, table); n != w[0] || sum != w[1] {
			t.Errorf("%s after replay: %d rows (hash %d), live had %d (hash %d)", table, n, sum, w[0], w[1])
		}
	}
	checkOpenGap(t, db, sink)
	if n := countRows(t, db, "SELECT count() FROM parked_events WHERE state_table LIKE '%_replay'"); n != 0 {
		t.Errorf("%d parked rows of the shadow left", n)
	}

	produce(t, cl, lost)
	again := startProjector(t, db, addr, NewPositionsProjection(), Options{})
	again.mu.Lock()
	for part, o := range live.committed {
		again.committed[part] = max(again.committed[part], o)
	}
	again.mu.Unlock()
	again.waitCommitted(t, addr, time.Minute)
	samePositions(t, db, ref)
	checkGapClosed(t, db)
}

// TestUndecodableEventFillsItsPlace: an event whose envelope is intact but
// whose payload does not decode is rejected on arrival and still counts in
// its aggregate's order, so the events after it are not parked for ever.
func TestUndecodableEventFillsItsPlace(t *testing.T) {
	var recs []*kgo.Record
	var last uint64
	for _, r := range clone(newScenario(t).all(topics.PositionEvents)) {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if env.AggregateID != "NVDA" {
			continue
		}
		if env.Sequence == 2 {
			env.EventType = "PositionEvent::FromTheFuture"
			if r.Value, err = topics.EncodeEvent(env); err != nil {
				t.Fatal(err)
			}
		}
		recs = append(recs, r)
		last = env.Sequence
	}
	p := NewPositionsProjection()
	rd := &memReader{}
	b, err := p.Project(context.Background(), rd, nil, withOffsets(recs))
	if err != nil || b.Parked != 0 || len(b.Rejected) == 0 || !strings.Contains(b.Rejected[0].Err.Error(), "FromTheFuture") {
		t.Fatalf("%v, parked %d, rejected %v", err, b.Parked, b.Rejected)
	}
	rd.store(t, PositionsTable, b)
	if v := rd.rows["NVDA"].Version; v != last {
		t.Errorf("NVDA at version %d, want %d (every event in its place)", v, last)
	}
	if len(p.Gaps()) != 0 {
		t.Errorf("gaps: %+v", p.Gaps())
	}
}

// Issue 8: the broker lost a pnl record and it was re-published after later
// ones. Each record names the one before it, so the projection waits for
// it instead of applying the later ones and then dropping it: the summary
// and the metrics rows end equal to the in-order stream's.
func TestPnLWaitsForALostRecord(t *testing.T) {
	ctx := context.Background()
	in := newScenario(t).all(topics.PnLEvents)
	ref := &memReader{}
	b, err := NewPnLProjection().Project(ctx, ref, nil, withOffsets(in))
	if err != nil || len(b.Rejected) > 0 || b.Parked > 0 {
		t.Fatalf("in order: %v, rejected %v, parked %d", err, b.Rejected, b.Parked)
	}
	ref.store(t, PnLSummaryTable, b)
	wantRows := len(b.Rows[MetricsPnLTable.Name])

	// Lose the second record of the first symbol with three or more.
	count := map[string]int{}
	var lost *kgo.Record
	var rest []*kgo.Record
	for _, r := range clone(in) {
		count[string(r.Key)]++
		if lost == nil && count[string(r.Key)] == 2 && countKey(in, r.Key) >= 3 {
			lost = r
			continue
		}
		rest = append(rest, r)
	}
	if lost == nil {
		t.Fatal("scenario has no symbol with three pnl records")
	}
	got := &memReader{}
	q := NewPnLProjection()
	rows, parked := 0, 0
	for lo := 0; lo < len(rest); lo += 2 {
		b, err := q.Project(ctx, got, nil, withOffsets(rest[lo:min(lo+2, len(rest))]))
		if err != nil || len(b.Rejected) > 0 {
			t.Fatalf("batch at %d: %v, rejected %v", lo, err, b.Rejected)
		}
		got.store(t, PnLSummaryTable, b)
		rows += len(b.Rows[MetricsPnLTable.Name])
		parked += b.Parked
	}
	if parked == 0 {
		t.Fatalf("records after the lost one were applied, not parked")
	}
	b, err = q.Project(ctx, got, nil, withOffsets([]*kgo.Record{lost}))
	if err != nil || len(b.Rejected) > 0 || b.Unparked != parked {
		t.Fatalf("lost record back: %v, rejected %v, unparked %d of %d", err, b.Rejected, b.Unparked, parked)
	}
	got.store(t, PnLSummaryTable, b)
	rows += len(b.Rows[MetricsPnLTable.Name])
	if rows != wantRows {
		t.Fatalf("%d metrics rows, want %d", rows, wantRows)
	}
	for sym, want := range ref.rows {
		if g := got.rows[sym]; g.Version != want.Version || string(g.State) != string(want.State) {
			t.Errorf("%s: summary %d %s, want %d %s", sym, g.Version, g.State, want.Version, want.State)
		}
	}
}

func countKey(recs []*kgo.Record, key []byte) int {
	n := 0
	for _, r := range recs {
		if string(r.Key) == string(key) {
			n++
		}
	}
	return n
}
