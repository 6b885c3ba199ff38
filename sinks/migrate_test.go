package sinks

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	sql := `-- header comment;
CREATE TABLE a (
    x UInt8 -- trailing; not an end
) ENGINE = Memory;

-- only a comment here

CREATE VIEW b AS SELECT 1;
SELECT ';' ;
-- trailing comment`
	got := SplitStatements(sql)
	want := []string{
		"-- header comment;\nCREATE TABLE a (\n    x UInt8 -- trailing; not an end\n) ENGINE = Memory",
		"-- only a comment here\n\nCREATE VIEW b AS SELECT 1",
		"SELECT ';'",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("SplitStatements:\n got %q\nwant %q", got, want)
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d migrations", len(ms))
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("%s: version %d at position %d: versions must be 1..n without gaps", m.File, m.Version, i)
		}
		for _, s := range m.Statements {
			// Idempotent at start-up (a view may be replaced: it stores
			// nothing), and no insert-time columns.
			if !strings.Contains(s, "IF NOT EXISTS") && !strings.Contains(s, "CREATE OR REPLACE VIEW") {
				t.Errorf("%s: statement is not idempotent:\n%s", m.File, s)
			}
			if strings.Contains(strings.ToLower(s), "now()") {
				t.Errorf("%s: now() in DDL: a replay would not write identical rows", m.File)
			}
		}
	}
	for _, bad := range []fstest.MapFS{
		{"m/1_a.sql": {Data: []byte("SELECT 1;")}},
		{"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/0001_b.sql": {Data: []byte("SELECT 1;")}},
		{"m/0001_a.sql": {Data: []byte("-- nothing")}},
		{"m/0000_a.sql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := loadMigrations(bad, "m"); err == nil {
			t.Errorf("loadMigrations accepted %v", bad)
		}
	}
}

// TestMigrateTwice: the DDL applies twice without error and
// schema_migrations lists each version once.
func TestMigrateTwice(t *testing.T) {
	db := testDB(t) // migrated once
	ctx := testCtx(t)
	rep, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	if len(rep.Applied) != 0 || len(rep.Current) != len(ms) || len(rep.Unknown) != 0 {
		t.Fatalf("second Migrate = %+v", rep)
	}
	// Even re-running every statement (as after a crash mid-migration) is
	// harmless.
	for _, m := range ms {
		for _, s := range m.Statements {
			if err := db.Conn().Exec(ctx, s); err != nil {
				t.Fatalf("%s again: %v", m.File, err)
			}
		}
	}
	if n := countRows(t, db, "SELECT count() FROM schema_migrations"); n != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	rows := tableRows(t, db, "schema_migrations", "version", "applied_at")
	for i, m := range ms {
		if r := rows[i]; r["version"] != itoa(int(m.Version)) || r["name"] != m.Name || r["checksum"] != m.Checksum {
			t.Errorf("schema_migrations row %d = %v, want %s", i, r, m.File)
		}
	}
	for _, name := range append(ViewNames(), AnalyticsViews()...) {
		if countRows(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '"+name+"'") != 1 {
			t.Errorf("table %s missing", name)
		}
	}
	var engine string
	if err := db.Conn().QueryRow(ctx, "SELECT engine FROM system.databases WHERE name = currentDatabase()").Scan(&engine); err != nil || engine != "Atomic" {
		t.Errorf("database engine %q, %v; want Atomic", engine, err)
	}
}

// TestMigrateChecksumChanged: a file applied before and edited since is an
// error naming it; nothing after it is applied.
func TestMigrateChecksumChanged(t *testing.T) {
	db := openDB(t, testAddr(t), "t_checksum", false)
	ctx := testCtx(t)
	v1 := fstest.MapFS{"m/0001_first.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS first (x UInt8) ENGINE = Memory;\n")}}
	ms, err := loadMigrations(v1, "m")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := applyMigrations(ctx, db, ms); err != nil || !slices.Equal(rep.Applied, []string{"0001_first.sql"}) {
		t.Fatalf("first apply: %+v %v", rep, err)
	}
	v2 := fstest.MapFS{
		"m/0001_first.sql":  {Data: []byte("CREATE TABLE IF NOT EXISTS first (x UInt16) ENGINE = Memory;\n")},
		"m/0002_second.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS second (x UInt8) ENGINE = Memory;\n")},
	}
	ms, err = loadMigrations(v2, "m")
	if err != nil {
		t.Fatal(err)
	}
	_, err = applyMigrations(ctx, db, ms)
	var ce *ChecksumError
	if !errors.Is(err, ErrChecksumMismatch) || !errors.As(err, &ce) || ce.File != "0001_first.sql" || !strings.Contains(err.Error(), "0001_first.sql") {
		t.Fatalf("changed migration: err = %v", err)
	}
	if n := countRows(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'second'"); n != 0 {
		t.Error("a migration after the changed one was applied")
	}
	// A database migrated by a newer binary reports what it does not know.
	rep, err := applyMigrations(ctx, db, nil)
	if err != nil || !slices.Equal(rep.Unknown, []uint32{1}) {
		t.Errorf("unknown versions: %+v %v", rep, err)
	}
}

func testAddr(t testing.TB) string {
	needCH(t)
	return chServer.Addr()
}

func itoa(i int) string { return strconv.Itoa(i) }
