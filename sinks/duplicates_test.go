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

// withOffsets copies records with the partition and offsets a broker
// would give them (one partition).
func withOffsets(recs []*kgo.Record) []*kgo.Record {
	out := clone(recs)
	for i, r := range out {
		r.Offset = int64(i)
	}
	return out
}
