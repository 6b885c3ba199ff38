// Package legacytest writes legacy bot databases (DOMAIN s.7.1) for tests:
// every schema version the bot had, every status of every table, NULL
// enrichment columns, a symbol in its three tokenized forms, in-flight
// orders, and on request broken rows that an old or hand-edited database
// may hold (tables are then created without their CHECK constraints).
package legacytest

import (
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/processors/brokerauth"
	_ "modernc.org/sqlite"
)

// Version is a legacy schema version.
type Version int

const (
	// V2025_07: the first schema: onchain_trades without block_timestamp or
	// enrichment, schwab_executions (shares INTEGER, order_id), event_queue.
	V2025_07 Version = iota + 1
	// V2025_09: block_timestamp, offchain_trades with broker and
	// broker_order_id, trade_execution_links.
	V2025_09
	// V2025_10: gas and Pyth columns, metrics_pnl, schwab_auth.
	V2025_10
	// V2026_01: shares REAL, event_queue gone (block numbers unknown).
	V2026_01
)

// Versions lists every version, oldest first.
var Versions = []Version{V2025_07, V2025_09, V2025_10, V2026_01}

func (v Version) String() string {
	return map[Version]string{V2025_07: "2025-07", V2025_09: "2025-09", V2025_10: "2025-10", V2026_01: "2026-01"}[v]
}

// Has reports what a version's schema carries.
func (v Version) BlockTimestamp() bool { return v >= V2025_09 }
func (v Version) Enrichment() bool     { return v >= V2025_10 }
func (v Version) EventQueue() bool     { return v < V2026_01 }
func (v Version) MetricsPnL() bool     { return v >= V2025_10 }
func (v Version) SchwabAuth() bool     { return v >= V2025_10 }
func (v Version) Offchain() string {
	if v < V2025_09 {
		return "schwab_executions"
	}
	return "offchain_trades"
}

// Options say what else to write.
type Options struct {
	// Broken adds rows the migration must refuse (and drops the CHECK
	// constraints that would keep them out).
	Broken bool
	// ExtraTrades adds that many tMSFT fills (alternating Buy and Sell)
	// and MSFT's accumulator, for volume.
	ExtraTrades int
	// Key encrypts the schwab_auth tokens (zero: a fixed test key).
	Key brokerauth.Key
}

// Token plaintexts of the schwab_auth row.
const (
	AccessToken  = "legacy-access-token"
	RefreshToken = "legacy-refresh-token"
)

// TestKey is the key the tokens are encrypted under unless Options.Key.
const TestKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// Broken is a row the migration must refuse.
type Broken struct{ Table, Row, Why string }

// DB describes what Create wrote.
type DB struct {
	Path    string
	Version Version
	// Rows per table, as written (broken rows included).
	Rows map[string]int
	// Broken rows, each with the word its refusal must contain.
	Broken []Broken
	// Positions: base symbol -> accumulated long, short (decimal strings
	// as a person reads the REAL column).
	Positions map[string][2]string
	// InFlight: base symbol -> legacy offchain row id of its pending hedge.
	InFlight map[string]int64
}

func check(on bool, expr string) string {
	if !on {
		return ""
	}
	return " CHECK(" + expr + ")"
}

// Create writes a legacy database of version v at path.
func Create(path string, v Version, opt Options) (*DB, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c := !opt.Broken
	sharesType := "INTEGER"
	if v >= V2026_01 {
		sharesType = "REAL"
	}
	onchain := `CREATE TABLE onchain_trades (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		tx_hash TEXT NOT NULL` + check(c, "length(tx_hash) = 66 AND tx_hash LIKE '0x%'") + `,
		log_index INTEGER NOT NULL` + check(c, "log_index >= 0") + `,
		symbol TEXT NOT NULL` + check(c, "symbol != ''") + `,
		amount REAL NOT NULL` + check(c, "amount > 0") + `,
		direction TEXT NOT NULL` + check(c, "direction IN ('BUY','SELL')") + `,
		price_usdc REAL NOT NULL` + check(c, "price_usdc > 0") + `,
		created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP`
	if v.BlockTimestamp() {
		onchain += `, block_timestamp TIMESTAMP`
	}
	if v.Enrichment() {
		onchain += `, gas_used INTEGER, effective_gas_price INTEGER, pyth_price REAL, pyth_confidence REAL` + check(c, "pyth_confidence >= 0") +
			`, pyth_exponent INTEGER, pyth_publish_time TIMESTAMP`
	}
	onchain += `, UNIQUE (tx_hash, log_index))`
	offchain := `CREATE TABLE ` + v.Offchain() + ` (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		symbol TEXT NOT NULL` + check(c, "symbol != ''") + `,
		shares ` + sharesType + ` NOT NULL` + check(c, "shares > 0") + `,
		direction TEXT NOT NULL` + check(c, "direction IN ('BUY','SELL')") + `,
		order_id TEXT, price_cents INTEGER` + check(c, "price_cents >= 0") + `,
		status TEXT NOT NULL DEFAULT 'PENDING'` + check(c, "status IN ('PENDING','SUBMITTED','FILLED','FAILED')") + `,
		executed_at TIMESTAMP`
	if v >= V2025_09 {
		offchain += `, broker TEXT NOT NULL DEFAULT 'schwab', broker_order_id TEXT`
	}
	if c {
		id := "order_id"
		if v >= V2025_09 {
			id = "broker_order_id"
		}
		offchain += fmt.Sprintf(`, CHECK ((status = 'PENDING' AND executed_at IS NULL) OR
			(status = 'SUBMITTED' AND %[1]s IS NOT NULL AND executed_at IS NULL) OR
			(status = 'FILLED' AND %[1]s IS NOT NULL AND executed_at IS NOT NULL AND price_cents IS NOT NULL) OR
			(status = 'FAILED' AND executed_at IS NOT NULL))`, id)
	}
	offchain += `)`
	acc := `CREATE TABLE trade_accumulators (
		symbol TEXT PRIMARY KEY NOT NULL,
		accumulated_long REAL NOT NULL DEFAULT 0` + check(c, "accumulated_long >= 0") + `,
		accumulated_short REAL NOT NULL DEFAULT 0` + check(c, "accumulated_short >= 0") + `,
		pending_execution_id INTEGER REFERENCES ` + v.Offchain() + `(id) ON DELETE SET NULL,
		last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP`
	if v < V2026_01 {
		acc += `, net_position REAL`
	}
	acc += `)`
	stmts := []string{onchain, offchain, acc,
		`CREATE INDEX idx_onchain_trades_symbol ON onchain_trades(symbol)`,
		`CREATE TABLE symbol_locks (symbol TEXT PRIMARY KEY, locked_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)`}
	if c {
		stmts = append(stmts, `CREATE UNIQUE INDEX idx_unique_in_progress_execution_per_symbol ON `+v.Offchain()+`(symbol) WHERE status IN ('PENDING','SUBMITTED')`)
	}
	if v.EventQueue() {
		eq := `CREATE TABLE event_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL,
			block_number INTEGER NOT NULL, event_data TEXT NOT NULL, processed BOOLEAN NOT NULL DEFAULT 0,
			created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, processed_at TIMESTAMP`
		if v.BlockTimestamp() {
			eq += `, block_timestamp TIMESTAMP`
		}
		stmts = append(stmts, eq+`, UNIQUE (tx_hash, log_index))`)
	}
	if v >= V2025_09 {
		stmts = append(stmts, `CREATE TABLE trade_execution_links (id INTEGER PRIMARY KEY AUTOINCREMENT,
			trade_id INTEGER NOT NULL REFERENCES onchain_trades(id), execution_id INTEGER NOT NULL REFERENCES `+v.Offchain()+`(id),
			contributed_shares REAL NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, UNIQUE (trade_id, execution_id))`)
	}
	if v.MetricsPnL() {
		stmts = append(stmts, `CREATE TABLE metrics_pnl (id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, timestamp TIMESTAMP NOT NULL,
			trade_type TEXT NOT NULL, trade_id INTEGER NOT NULL, trade_direction TEXT NOT NULL, quantity REAL NOT NULL,
			price_per_share REAL NOT NULL, realized_pnl REAL, cumulative_pnl REAL NOT NULL, net_position_after REAL NOT NULL,
			UNIQUE (trade_type, trade_id))`)
	}
	if v.SchwabAuth() {
		stmts = append(stmts, `CREATE TABLE schwab_auth (id INTEGER PRIMARY KEY`+check(c, "id = 1")+`, access_token TEXT NOT NULL,
			access_token_fetched_at DATETIME NOT NULL, refresh_token TEXT NOT NULL, refresh_token_fetched_at DATETIME NOT NULL,
			encryption_version INTEGER NOT NULL DEFAULT 1)`)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return nil, fmt.Errorf("legacytest %s: %w: %s", v, err, s)
		}
	}
	w := &writer{db: db, v: v, out: &DB{Path: path, Version: v, Rows: map[string]int{},
		Positions: map[string][2]string{}, InFlight: map[string]int64{}}}
	if err := w.scenario(opt); err != nil {
		return nil, fmt.Errorf("legacytest %s: %w", v, err)
	}
	return w.out, nil
}

type writer struct {
	db  *sql.DB
	tx  *sql.Tx
	v   Version
	out *DB
}

func (w *writer) exec(table, q string, args ...any) (int64, error) {
	r, err := w.tx.Exec(q, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", table, err)
	}
	w.out.Rows[table]++
	return r.LastInsertId()
}

// Hash is the tx hash of the legacy test fill n.
func Hash(n int) string { return fmt.Sprintf("0x%064x", 0xabc000+n) }

// trade writes an onchain_trades row (and its event_queue row, which
// holds its real block number, when the version has that table).
func (w *writer) trade(n int, symbol, dir string, amount, price float64, ts string, enrich bool) (int64, error) {
	cols := []string{"tx_hash", "log_index", "symbol", "amount", "direction", "price_usdc", "created_at"}
	args := []any{Hash(n), n % 7, symbol, amount, dir, price, strings.Replace(ts, "T", " ", 1)[:19]}
	if w.v.BlockTimestamp() {
		cols, args = append(cols, "block_timestamp"), append(args, ts)
	}
	if w.v.Enrichment() && enrich {
		cols = append(cols, "gas_used", "effective_gas_price", "pyth_price", "pyth_confidence", "pyth_exponent", "pyth_publish_time")
		args = append(args, 150000+n, 1000000+n, price+0.01, 0.21005, -5, ts)
	}
	id, err := w.exec("onchain_trades", `INSERT INTO onchain_trades (`+strings.Join(cols, ",")+`) VALUES (?`+strings.Repeat(",?", len(cols)-1)+`)`, args...)
	if err != nil || !w.v.EventQueue() {
		return id, err
	}
	_, err = w.exec("event_queue", `INSERT INTO event_queue (tx_hash, log_index, block_number, event_data, processed) VALUES (?,?,?,?,1)`,
		Hash(n), n%7, 34844164+n, "{}")
	return id, err
}

func (w *writer) order(symbol, dir string, shares float64, status string, orderID any, cents any, executed any) (int64, error) {
	t := w.v.Offchain()
	if w.v < V2025_09 {
		return w.exec(t, `INSERT INTO `+t+` (symbol, shares, direction, order_id, price_cents, status, executed_at) VALUES (?,?,?,?,?,?,?)`,
			symbol, shares, dir, orderID, cents, status, executed)
	}
	return w.exec(t, `INSERT INTO `+t+` (symbol, shares, direction, order_id, broker_order_id, price_cents, status, executed_at, broker) VALUES (?,?,?,?,?,?,?,?,?)`,
		symbol, shares, dir, orderID, orderID, cents, status, executed, "schwab")
}

func (w *writer) accumulator(symbol string, long, short float64, pending any) error {
	_, err := w.exec("trade_accumulators", `INSERT INTO trade_accumulators (symbol, accumulated_long, accumulated_short, pending_execution_id) VALUES (?,?,?,?)`,
		symbol, long, short, pending)
	if err == nil && symbol != "" && long >= 0 && short >= 0 {
		w.out.Positions[symbol] = [2]string{fmtF(long), fmtF(short)}
	}
	return err
}

func fmtF(f float64) string { return fmt.Sprintf("%v", f) }

// scenario writes the data. Legacy semantics (DOMAIN s.7.3): a bucket is
// reduced by the whole shares of an execution when it is created, and a
// FAILED execution does not give them back.
func (w *writer) scenario(opt Options) error {
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	w.tx = tx
	defer tx.Rollback()
	steps := []func() error{
		// AAPL in all three tokenized forms: long 10 + 0.1, short 0.3;
		// one FILLED Sell 10 hedge took 10 out of long.
		func() error {
			_, err := w.trade(1, "tAAPL", "BUY", 10, 150.1, "2025-11-04T14:30:01Z", true)
			return err
		},
		func() error {
			_, err := w.trade(2, "AAPL0x", "SELL", 0.3, 151.2, "2025-11-04T14:31:00Z", false)
			return err
		},
		func() error {
			_, err := w.trade(3, "AAPLs1", "BUY", 0.1, 149.9, "2025-11-04T14:32:00Z", true)
			return err
		},
		func() error {
			_, err := w.order("AAPL", "SELL", 10, "FILLED", "1004055538153", 15050, "2025-11-04 14:33:00")
			return err
		},
		func() error { return w.accumulator("AAPL", 0.1, 0.3, nil) },
		// TSLA: Sell 5; a FAILED Buy 1 (its share lost, legacy model) and a
		// SUBMITTED Buy 4 in flight.
		func() error { _, err := w.trade(4, "tTSLA", "SELL", 5, 250, "2025-11-04T15:00:00Z", false); return err },
		func() error {
			_, err := w.order("TSLA", "BUY", 1, "FAILED", nil, nil, "2025-11-04 15:01:00")
			return err
		},
		func() error {
			id, err := w.order("TSLA", "BUY", 4, "SUBMITTED", "1004055538200", nil, nil)
			w.out.InFlight["TSLA"] = id
			if err == nil {
				err = w.accumulator("TSLA", 0, 0, id)
			}
			return err
		},
		// NVDA: Buy 2.5 at 0.1 (a price that is no exact binary float); a
		// PENDING Sell 2 never placed (no broker order id) in flight.
		func() error {
			_, err := w.trade(5, "NVDAs1", "BUY", 2.5, 0.1, "2025-11-05T14:30:00Z", false)
			return err
		},
		func() error {
			id, err := w.order("NVDA", "SELL", 2, "PENDING", nil, nil, nil)
			w.out.InFlight["NVDA"] = id
			if err == nil {
				err = w.accumulator("NVDA", 0.5, 0, id)
			}
			return err
		},
	}
	if w.v.MetricsPnL() {
		// The legacy reporter's rows for AAPL (FIFO by base): 0.3 x
		// (151.2-150.1) = 0.33, then the hedge closes 9.7 @150.1 and
		// 0.1 @149.9 at 150.50: +3.88 +0.06.
		steps = append(steps, func() error {
			for i, r := range []struct {
				typ      string
				id       int
				dir      string
				qty, px  float64
				realized any
				cum, net float64
			}{
				{"ONCHAIN", 1, "BUY", 10, 150.1, nil, 0, 10},
				{"ONCHAIN", 2, "SELL", 0.3, 151.2, 0.33, 0.33, 9.7},
				{"ONCHAIN", 3, "BUY", 0.1, 149.9, nil, 0.33, 9.8},
				{"OFFCHAIN", 1, "SELL", 10, 150.5, 3.94, 4.27, -0.2},
			} {
				if _, err := w.exec("metrics_pnl", `INSERT INTO metrics_pnl (symbol, timestamp, trade_type, trade_id, trade_direction, quantity, price_per_share, realized_pnl, cumulative_pnl, net_position_after) VALUES (?,?,?,?,?,?,?,?,?,?)`,
					"AAPL", fmt.Sprintf("2025-11-04 14:3%d:00", i), r.typ, r.id, r.dir, r.qty, r.px, r.realized, r.cum, r.net); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if w.v.SchwabAuth() {
		steps = append(steps, func() error { return w.auth(opt.Key) })
	}
	if opt.Broken {
		steps = append(steps, func() error { return w.broken() })
	}
	if opt.ExtraTrades > 0 {
		steps = append(steps, func() error { return w.extra(opt.ExtraTrades) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (w *writer) auth(key brokerauth.Key) error {
	if key.IsZero() {
		var err error
		if key, err = brokerauth.ParseKey(TestKey); err != nil {
			return err
		}
	}
	access, err := brokerauth.Encrypt(key, "legacy", brokerauth.FieldAccess, AccessToken)
	if err != nil {
		return err
	}
	refresh, err := brokerauth.Encrypt(key, "legacy", brokerauth.FieldRefresh, RefreshToken)
	if err != nil {
		return err
	}
	_, err = w.exec("schwab_auth", `INSERT INTO schwab_auth (id, access_token, access_token_fetched_at, refresh_token, refresh_token_fetched_at) VALUES (1,?,?,?,?)`,
		fmt.Sprintf("%x", []byte(access)), "2025-11-04 08:00:00", fmt.Sprintf("%x", []byte(refresh)), "2025-11-03 08:00:00")
	return err
}

// broken writes rows the legacy CHECK constraints would have refused.
func (w *writer) broken() error {
	add := func(table string, id int64, why string) {
		w.out.Broken = append(w.out.Broken, Broken{Table: table, Row: fmt.Sprint(id), Why: why})
	}
	id, err := w.trade(90, "", "BUY", 1, 10, "2025-11-06T10:00:00Z", false)
	if err != nil {
		return err
	}
	add("onchain_trades", id, "empty symbol")
	if id, err = w.trade(91, "tGME", "SELL", -2, 20, "2025-11-06T10:01:00Z", false); err != nil {
		return err
	}
	add("onchain_trades", id, "negative amount")
	if id, err = w.exec("onchain_trades", `INSERT INTO onchain_trades (tx_hash, log_index, symbol, amount, direction, price_usdc) VALUES ('0x1234', 0, 'tGME', 1, 'BUY', 20)`); err != nil {
		return err
	}
	add("onchain_trades", id, "bad tx hash")
	// A sound trade whose symbol has no accumulator: migrated, but no
	// position can be told its fill.
	if id, err = w.trade(92, "tAMD", "BUY", 1, 100, "2025-11-06T10:02:00Z", false); err != nil {
		return err
	}
	w.out.Broken = append(w.out.Broken, Broken{Table: "fills", Row: fmt.Sprintf("onchain:%d", id), Why: "no migrated trade_accumulators row for AMD"})
	if id, err = w.order("GME", "BUY", 3, "FILLED", "77", 2273, nil); err != nil {
		return err
	}
	add(w.v.Offchain(), id, "inconsistent status/columns")
	if id, err = w.order("GME", "SELL", -1, "FAILED", nil, nil, "2025-11-06 10:05:00"); err != nil {
		return err
	}
	add(w.v.Offchain(), id, "negative shares")
	if err := w.accumulator("", 1, 0, nil); err != nil {
		return err
	}
	w.out.Broken = append(w.out.Broken, Broken{Table: "trade_accumulators", Row: "(empty)", Why: "empty symbol"})
	if err := w.accumulator("GME", -1, 0, nil); err != nil {
		return err
	}
	w.out.Broken = append(w.out.Broken, Broken{Table: "trade_accumulators", Row: "GME", Why: "negative accumulated_long"})
	return nil
}

// extra writes n tMSFT fills (Buy 0.5, Buy 0.7, Sell 0.2, ...) with the
// hedges the legacy bot made of them: whenever |long - short| reached one
// share, a FILLED offchain row of floor(|net|) shares, taken out of the
// bucket (DOMAIN s.7.3). Then MSFT's accumulator.
func (w *writer) extra(n int) error {
	var long, short float64
	for i := range n {
		dir, amt := "BUY", 0.5
		switch i % 3 {
		case 1:
			amt = 0.7
		case 2:
			dir, amt = "SELL", 0.2
		}
		at := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		if _, err := w.trade(1000+i, "tMSFT", dir, amt, 400+float64(i%100)/100, at.Format(time.RFC3339), i%3 == 0); err != nil {
			return err
		}
		if dir == "BUY" {
			long += amt
		} else {
			short += amt
		}
		net := long - short
		if math.Abs(net) < 1 {
			continue
		}
		shares := math.Floor(math.Abs(net))
		side := "SELL"
		if net > 0 {
			long -= shares
		} else {
			side = "BUY"
			short -= shares
		}
		if _, err := w.order("MSFT", side, shares, "FILLED", fmt.Sprintf("X%d", i), 40000+i%100, at.Format("2006-01-02 15:04:05")); err != nil {
			return err
		}
	}
	return w.accumulator("MSFT", long, short, nil)
}
