package sinks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// row is a table row with every value as ClickHouse's toString (NULL as
// "NULL"), so expectations read like the table.
type row map[string]string

// tableRows reads table (FINAL unless it is a view) ordered by orderBy,
// leaving out the columns in skip.
func tableRows(t testing.TB, db *DB, table, orderBy string, skip ...string) []row {
	t.Helper()
	return tableRowsWhere(t, db, table, "1", orderBy, skip...)
}

func tableRowsWhere(t testing.TB, db *DB, table, where, orderBy string, skip ...string) []row {
	t.Helper()
	ctx := testCtx(t)
	var engine string
	if err := db.Conn().QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
		named("t", table)).Scan(&engine); err != nil {
		t.Fatalf("table %s: %v", table, err)
	}
	cr, err := db.Conn().Query(ctx, "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
		named("t", table))
	if err != nil {
		t.Fatal(err)
	}
	var cols, exprs []string
	for cr.Next() {
		var c string
		if err := cr.Scan(&c); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(skip, c) {
			continue
		}
		cols = append(cols, c)
		exprs = append(exprs, fmt.Sprintf("ifNull(toString(`%s`), 'NULL')", c))
	}
	cr.Close()
	final := " FINAL"
	if engine == "View" {
		final = ""
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + table + final + " WHERE " + where + " ORDER BY " + orderBy
	rows, err := db.Conn().Query(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := row{}
		for i, c := range cols {
			r[c] = vals[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRows compares got with want field by field; want rows list only the
// columns they check.
func checkRows(t testing.TB, table string, got []row, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d:\n%v", table, len(got), len(want), got)
		return
	}
	for i, w := range want {
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			g, ok := got[i][k]
			if !ok {
				t.Errorf("%s row %d: no column %s", table, i, k)
				continue
			}
			if g != w[k] {
				t.Errorf("%s row %d: %s = %q, want %q", table, i, k, g, w[k])
			}
		}
	}
}

// tableChecksum is the row count and an order-independent hash of the
// table's rows (FINAL).
func tableChecksum(t testing.TB, db *DB, table string) (uint64, uint64) {
	t.Helper()
	var n, sum uint64
	if err := db.Conn().QueryRow(testCtx(t), "SELECT count(), sum(cityHash64(toString(tuple(*)))) FROM "+table+" FINAL").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func countRows(t testing.TB, db *DB, q string) uint64 {
	t.Helper()
	var n uint64
	if err := db.Conn().QueryRow(testCtx(t), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
