package sinks

import (
	"context"
	"strings"
	"testing"
)

// TestReplayIntoShadow: a replay rebuilds every view from offset 0 into
// shadow tables while the live ones stay readable, the rebuilt tables equal
// the live ones, and the swap puts them in place.
func TestReplayIntoShadow(t *testing.T) {
	db := testDB(t)
	s, addr := produceScenario(t)
	runAll(t, db, addr, Options{})
	live := checksums(t, db)

	ctx := testCtx(t)
	if err := CreateShadow(ctx, db, "_replay", ViewNames()); err != nil {
		t.Fatal(err)
	}
	runAll(t, db, addr, Options{Group: "replay", TableSuffix: "_replay"})
	for _, table := range ViewNames() {
		n, sum := tableChecksum(t, db, table+"_replay")
		if (checksum{n, sum}) != live[table] {
			t.Errorf("rebuilt %s: %d rows, checksum %d; live %+v", table, n, sum, live[table])
		}
	}
	if err := SwapShadow(ctx, db, "_replay", ViewNames()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_replay'"); n != 0 {
		t.Errorf("%d shadow tables left after the swap", n)
	}
	checkScenario(t, db, s) // the views read the swapped-in tables

	if err := CreateShadow(context.Background(), db, "", ViewNames()); err == nil {
		t.Error("empty suffix accepted")
	}
	if err := SwapShadow(context.Background(), db, "_x", []string{"schema_migrations"}); err == nil || !strings.Contains(err.Error(), "not a projection table") {
		t.Errorf("swapping a non-projection table: %v", err)
	}
}
