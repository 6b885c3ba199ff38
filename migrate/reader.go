package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	_ "modernc.org/sqlite" // pure-Go driver "sqlite"
)

// Legacy table names.
const (
	TableOnchain      = "onchain_trades"
	TableOffchain     = "offchain_trades"
	TableSchwabExec   = "schwab_executions" // offchain_trades before 2025-09-19
	TableAccumulators = "trade_accumulators"
	TableSchwabAuth   = "schwab_auth"
	TableEventQueue   = "event_queue"
	TableMetricsPnL   = "metrics_pnl"
	TableLinks        = "trade_execution_links"
	// TableFills names the RecordMigratedFill commands (one per legacy
	// fill), which have no table of their own.
	TableFills = "fills"
)

// Schema is what the legacy database has: the schema version is read from
// the tables and columns present, never from a migrations table (a
// hand-edited database may have none).
type Schema struct {
	// Columns per table present, with their declared types (upper case).
	Columns map[string]map[string]string
	// Offchain is offchain_trades, or schwab_executions in databases older
	// than the broker abstraction; "" when neither exists.
	Offchain string
}

// Has reports whether table exists.
func (s Schema) Has(table string) bool { return s.Columns[table] != nil }

// HasColumn reports whether table has column.
func (s Schema) HasColumn(table, column string) bool { _, ok := s.Columns[table][column]; return ok }

// Describe names the schema's features in one line.
func (s Schema) Describe() string {
	var f []string
	if s.Has(TableOnchain) {
		on := "onchain_trades"
		var extra []string
		for _, c := range []string{"block_timestamp", "gas_used", "effective_gas_price", "pyth_price"} {
			if s.HasColumn(TableOnchain, c) {
				extra = append(extra, c)
			}
		}
		if len(extra) > 0 {
			on += "(+" + strings.Join(extra, ",") + ")"
		}
		f = append(f, on)
	}
	if s.Offchain != "" {
		f = append(f, fmt.Sprintf("%s(shares %s)", s.Offchain, s.Columns[s.Offchain]["shares"]))
	}
	for _, t := range []string{TableAccumulators, TableEventQueue, TableMetricsPnL, TableSchwabAuth, TableLinks} {
		if s.Has(t) {
			f = append(f, t)
		}
	}
	return strings.Join(f, " ")
}

// DB is a legacy database opened read-only.
type DB struct {
	db     *sql.DB
	Path   string
	Schema Schema
}

// Open opens the legacy database at path read-only (the migration never
// writes to it) and reads its schema.
func Open(ctx context.Context, path string) (*DB, error) {
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("open legacy database %s: %w", path, err)
	}
	d := &DB{db: db, Path: path}
	if d.Schema, err = readSchema(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("legacy database %s: %w", path, err)
	}
	if !d.Schema.Has(TableOnchain) && d.Schema.Offchain == "" && !d.Schema.Has(TableAccumulators) {
		db.Close()
		return nil, fmt.Errorf("legacy database %s: none of %s, %s, %s: not the legacy bot's database", path, TableOnchain, TableOffchain, TableAccumulators)
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func readSchema(ctx context.Context, db *sql.DB) (Schema, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table'`)
	if err != nil {
		return Schema{}, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return Schema{}, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Schema{}, fmt.Errorf("list tables: %w", err)
	}
	s := Schema{Columns: map[string]map[string]string{}}
	for _, n := range names {
		switch n {
		case TableOnchain, TableOffchain, TableSchwabExec, TableAccumulators, TableSchwabAuth, TableEventQueue, TableMetricsPnL, TableLinks:
		default:
			continue
		}
		cols := map[string]string{}
		r, err := db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, n)
		if err != nil {
			return Schema{}, fmt.Errorf("columns of %s: %w", n, err)
		}
		for r.Next() {
			var c, t string
			if err := r.Scan(&c, &t); err != nil {
				r.Close()
				return Schema{}, err
			}
			cols[strings.ToLower(c)] = strings.ToUpper(t)
		}
		r.Close()
		s.Columns[n] = cols
	}
	switch {
	case s.Has(TableOffchain):
		s.Offchain = TableOffchain
	case s.Has(TableSchwabExec):
		s.Offchain = TableSchwabExec
	}
	return s, nil
}

// Count returns how many rows table has (0 when it does not exist).
func (d *DB) Count(ctx context.Context, table string) (int, error) {
	if !d.Schema.Has(table) {
		return 0, nil
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// row is one result row, its values by column name; absent columns read
// as NULL, so every schema version maps through the same code.
type row struct {
	idx  map[string]int
	vals []any
}

func (r row) get(col string) any {
	if i, ok := r.idx[col]; ok {
		return r.vals[i]
	}
	return nil
}

// each runs query and calls fn for every row.
func (d *DB) each(ctx context.Context, query string, fn func(row) error) error {
	rows, err := d.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	r := row{idx: map[string]int{}, vals: make([]any, len(cols))}
	ptrs := make([]any, len(cols))
	for i, c := range cols {
		r.idx[strings.ToLower(c)] = i
		ptrs[i] = &r.vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Value conversion. Legacy REAL columns are binary floats: each becomes
// the shortest decimal that reads back as the same float64 (0.1 stays
// 0.1), which is what a person reading the database sees.

var errNull = errors.New("is NULL")

// Decimal converts a legacy numeric value (INTEGER, REAL or TEXT).
func Decimal(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case nil:
		return decimal.Zero, errNull
	case int64:
		return decimal.NewFromInt(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return decimal.Zero, fmt.Errorf("%v is not a number", x)
		}
		return decimal.NewFromString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		d, err := decimal.NewFromString(strings.TrimSpace(x))
		if err != nil {
			return decimal.Zero, fmt.Errorf("%q is not a number", clip(x))
		}
		return d, nil
	case []byte:
		return Decimal(string(x))
	}
	return decimal.Zero, fmt.Errorf("unexpected %T", v)
}

// text reads a TEXT value ("" for NULL).
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}

// integer reads an INTEGER value.
func integer(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, errNull
	case int64:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case string, []byte:
		n, err := strconv.ParseInt(strings.TrimSpace(text(x)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", clip(text(x)))
		}
		return n, nil
	}
	return 0, fmt.Errorf("unexpected %T", v)
}

// timeFormats are how the legacy bot (sqlx/chrono and SQLite's
// CURRENT_TIMESTAMP) wrote timestamps; all are UTC unless they say.
var timeFormats = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// Time reads a legacy timestamp: TEXT in any of the bot's formats, a
// driver-parsed time, or unix seconds. ok is false for NULL.
func Time(v any) (t time.Time, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x.UTC(), true, nil
	case int64:
		return time.Unix(x, 0).UTC(), true, nil
	case string, []byte:
		s := strings.TrimSpace(text(x))
		if s == "" {
			return time.Time{}, false, nil
		}
		for _, f := range timeFormats {
			if t, err := time.Parse(f, s); err == nil {
				return t.UTC(), true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("%q is not a timestamp", clip(s))
	}
	return time.Time{}, false, fmt.Errorf("unexpected %T", v)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// blockNumbers reads the real block numbers the legacy event_queue kept,
// by "tx_hash:log_index" (hash lower-cased).
func (d *DB) blockNumbers(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	if !d.Schema.HasColumn(TableEventQueue, "block_number") {
		return out, nil
	}
	err := d.each(ctx, `SELECT tx_hash, log_index, block_number FROM event_queue`, func(r row) error {
		li, err1 := integer(r.get("log_index"))
		bn, err2 := integer(r.get("block_number"))
		if err1 == nil && err2 == nil && li >= 0 && bn > 0 {
			out[strings.ToLower(text(r.get("tx_hash")))+":"+strconv.FormatInt(li, 10)] = uint64(bn)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", TableEventQueue, err)
	}
	return out, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
