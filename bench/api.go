package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/hedgeline/hedgeline/sinks"
)

// The REST API phase: `hedgeline serve` over the database the replay
// filled with the whole goal run (every fill), timed with sequential GETs,
// one at a time, on one keep-alive connection: the latency a dashboard
// polling the API sees, not a throughput under concurrent load.

// apiWarmups are the untimed requests before each endpoint's timed ones:
// the first opens serve's ClickHouse pool, and ClickHouse warms its caches.
const apiWarmups = 3

// dbCounts are the rows of the database the API serves, counted in
// ClickHouse (FINAL) by the harness.
type dbCounts struct {
	metricsPnl, onchainPnl uint64 // metrics_pnl rows: all, on-chain fills
	symbols                uint64 // pnl_summary symbols
	trades                 uint64 // onchain_trade_view rows
	orders                 uint64 // offchain_order_view rows
	// first and last on-chain fill times (metrics_pnl occurred_at).
	first, last time.Time
}

func countRows(ctx context.Context, db *sinks.DB) (dbCounts, error) {
	var c dbCounts
	for _, q := range []struct {
		sql string
		to  []any
	}{
		{"SELECT count(), countIf(venue = 'onchain'), minIf(occurred_at, venue = 'onchain'), maxIf(occurred_at, venue = 'onchain') FROM metrics_pnl FINAL",
			[]any{&c.metricsPnl, &c.onchainPnl, &c.first, &c.last}},
		{"SELECT uniqExact(symbol) FROM pnl_summary FINAL", []any{&c.symbols}},
		{"SELECT count() FROM onchain_trade_view FINAL", []any{&c.trades}},
		{"SELECT count() FROM offchain_order_view FINAL", []any{&c.orders}},
	} {
		if err := db.Conn().QueryRow(ctx, q.sql).Scan(q.to...); err != nil {
			return c, fmt.Errorf("count rows (%s): %w", q.sql, err)
		}
	}
	c.first, c.last = c.first.UTC(), c.last.UTC()
	return c, nil
}

// APIRow is one endpoint's timings: p50/p99/max over Requests sequential
// GETs, each from sending the request to the last byte of the body read;
// Bytes is the median response body, Rows the JSON array's length.
type APIRow struct {
	Endpoint      string
	Requests      int
	P50, P99, Max time.Duration
	Bytes, Rows   int
	Symbols       int // distinct symbols in the rows
}

// summarize turns one endpoint's samples into its row.
func summarize(endpoint string, took []time.Duration, bytes []int, rows, symbols int) APIRow {
	bs := make([]float64, len(bytes))
	for i, b := range bytes {
		bs[i] = float64(b)
	}
	return APIRow{Endpoint: endpoint, Requests: len(took), P50: Percentile(took, .5), P99: Percentile(took, .99),
		Max: Percentile(took, 1), Bytes: int(Median(bs) + 0.5), Rows: rows, Symbols: symbols}
}

// APITable prints the API rows (Markdown).
func APITable(w io.Writer, rows []APIRow) {
	cells := [][]string{{"endpoint", "requests", "p50", "p99", "max", "response (median)", "rows"}}
	for _, r := range rows {
		cells = append(cells, []string{"GET " + r.Endpoint, fmt.Sprint(r.Requests), ms(r.P50), ms(r.P99), ms(r.Max),
			bytesize(r.Bytes), fmt.Sprintf("%s (%d symbols)", group(int64(r.Rows)), r.Symbols)})
	}
	markdown(w, cells)
}

// bytesize formats a byte count in B, kB or MB (powers of 1000).
func bytesize(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// apiCheck is what every response of an endpoint must hold (besides 200
// and a JSON array): exactly rows rows (-1: any) and symbols distinct
// symbols (-1: any).
type apiCheck struct{ rows, symbols int }

// getTimed times n sequential GETs of url after warm untimed ones; every
// response must be 200 with a JSON array that passes want. A failed
// request or check fails the phase: a wrong answer is not a latency.
func getTimed(ctx context.Context, cl *http.Client, base, endpoint string, warm, n int, want apiCheck) (APIRow, error) {
	var took []time.Duration
	var sizes []int
	rows, syms := 0, 0
	for i := 0; i < warm+n; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+endpoint, nil)
		if err != nil {
			return APIRow{}, err
		}
		start := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return APIRow{}, fmt.Errorf("GET %s: %w", endpoint, err)
		}
		body, err := io.ReadAll(resp.Body)
		el := time.Since(start)
		resp.Body.Close()
		if err != nil {
			return APIRow{}, fmt.Errorf("GET %s: reading the body: %w", endpoint, err)
		}
		if resp.StatusCode != http.StatusOK {
			return APIRow{}, fmt.Errorf("GET %s (request %d): %s: %s", endpoint, i+1, resp.Status, tail(body, 500))
		}
		if rows, syms, err = arrayOf(body); err != nil {
			return APIRow{}, fmt.Errorf("GET %s (request %d): %w", endpoint, i+1, err)
		}
		if want.rows >= 0 && rows != want.rows {
			return APIRow{}, fmt.Errorf("GET %s (request %d): %d rows, want %d", endpoint, i+1, rows, want.rows)
		}
		if want.symbols >= 0 && syms != want.symbols {
			return APIRow{}, fmt.Errorf("GET %s (request %d): %d symbols, want %d", endpoint, i+1, syms, want.symbols)
		}
		if i >= warm {
			took, sizes = append(took, el), append(sizes, len(body))
		}
	}
	return summarize(endpoint, took, sizes, rows, syms), nil
}

// arrayOf reads a JSON array of objects: its length and distinct "symbol"s.
func arrayOf(body []byte) (rows, symbols int, err error) {
	var items []struct {
		Symbol string `json:"symbol"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		return 0, 0, fmt.Errorf("not a JSON array of objects: %w (%s)", err, tail(body, 200))
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.Symbol] = true
	}
	return len(items), len(seen), nil
}

// apiEndpoints are the timed requests: paths (with their query) and how
// many of each. c are the database's counts (what the answers must hold),
// inRange the symbols with a fill in [from, to).
func apiEndpoints(c dbCounts, from, to time.Time, inRange int) []struct {
	path string
	n    int
	want apiCheck
} {
	sym := int(c.symbols)
	rng := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}.Encode()
	return []struct {
		path string
		n    int
		want apiCheck
	}{
		{"/api/pnl", 200, apiCheck{sym, sym}},
		{"/api/pnl?" + rng, 100, apiCheck{inRange, inRange}},
		{"/api/pnl/history?bucket=1h", 50, apiCheck{-1, sym}},
		{"/api/positions", 100, apiCheck{sym, sym}},
		{"/api/orders?limit=100", 100, apiCheck{int(min(c.orders, 100)), -1}},
	}
}

// restAPI counts the rows of db (the database of the goal run, every fill
// projected: fills is the run's size), starts `hedgeline serve` on it and
// times the endpoints.
func (s *Suite) restAPI(ctx context.Context, db *sinks.DB, fills int, res *results) error {
	begin := time.Now()
	c, err := countRows(ctx, db)
	if err != nil {
		return err
	}
	s.logf("database %s: metrics_pnl %d rows (%d on-chain fills, %s to %s), pnl_summary %d symbols, onchain_trade_view %d rows, offchain_order_view %d rows",
		db.Database(), c.metricsPnl, c.onchainPnl, c.first.Format(time.RFC3339), c.last.Format(time.RFC3339), c.symbols, c.trades, c.orders)
	// The run's fills and the cold start's probe fill.
	if want := uint64(fills) + 1; c.onchainPnl != want || c.trades != want {
		return fmt.Errorf("database %s holds %d on-chain fills in metrics_pnl and %d trades, want the run's %d and the cold start's one", db.Database(), c.onchainPnl, c.trades, fills)
	}
	// A range over the middle half of the run's fills.
	span := c.last.Sub(c.first)
	from := c.first.Add(span / 4).Truncate(time.Second)
	to := from.Add(span / 2).Truncate(time.Second)
	var inRange uint64
	if err := db.Conn().QueryRow(ctx, "SELECT uniqExact(symbol) FROM metrics_pnl FINAL WHERE occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}",
		clickhouse.DateNamed("from", from, clickhouse.MicroSeconds), clickhouse.DateNamed("to", to, clickhouse.MicroSeconds)).Scan(&inRange); err != nil {
		return fmt.Errorf("symbols in range: %w", err)
	}

	port, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := StartProc("serve", filepath.Join(s.cfg.Dir, "serve.log"), s.cfg.Bin, "serve", "--listen", addr,
		"--clickhouse", s.ch.Addr, "--clickhouse-database", db.Database(), "--log-level", "warn")
	if err != nil {
		return err
	}
	defer func() { _ = p.Stop(10 * time.Second) }()
	base := "http://" + addr
	cl := &http.Client{Timeout: 2 * time.Minute}
	if err := waitHealthy(ctx, cl, p, base+"/api/health?ready=true", time.Minute); err != nil {
		return err
	}
	var rows []APIRow
	for _, e := range apiEndpoints(c, from, to, int(inRange)) {
		r, err := getTimed(ctx, cl, base, e.path, apiWarmups, e.n, e.want)
		if err != nil {
			return fmt.Errorf("REST API: %w", err)
		}
		rows = append(rows, r)
		s.logf("REST API GET %s: %d requests, p50 %s p99 %s max %s, %s, %d rows",
			e.path, r.Requests, ms(r.P50), ms(r.P99), ms(r.Max), bytesize(r.Bytes), r.Rows)
	}
	res.api = apiRun{fills: fills, db: c, rows: rows}
	s.logf("REST API phase done in %s", ms(time.Since(begin)))
	return nil
}

// waitHealthy polls url until it answers 200, failing early if p exits.
func waitHealthy(ctx context.Context, cl *http.Client, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited before %s answered (log %s)", p.Name, url, p.LogPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not healthy after %s: %w", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// apiRun is what the API phase measured.
type apiRun struct {
	fills int
	db    dbCounts
	rows  []APIRow
}

// APIReport is the REST API table and what the database held.
type APIReport struct {
	Title    string // "REST API on the 1M-fill database"
	Database string // a sentence on its rows
	Rows     []APIRow
}

func (r *results) apiReport() APIReport {
	a := r.api
	if len(a.rows) == 0 {
		return APIReport{}
	}
	return APIReport{
		Title: fmt.Sprintf("REST API on the %s-fill database", size(a.fills)),
		Database: fmt.Sprintf("hedgeline serve over the replayed ClickHouse database: metrics_pnl %s rows (%s on-chain fills, %s to %s), "+
			"pnl_summary %d symbols, onchain_trade_view %s rows, offchain_order_view %s rows; sequential GETs on one connection after %d warm-ups each; "+
			"the range is the middle half of the fills' time",
			group(int64(a.db.metricsPnl)), group(int64(a.db.onchainPnl)), a.db.first.Format(time.DateOnly), a.db.last.Format(time.DateOnly),
			a.db.symbols, group(int64(a.db.trades)), group(int64(a.db.orders)), apiWarmups),
		Rows: a.rows,
	}
}
