package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	took := make([]time.Duration, 200)
	bytes := make([]int, 200)
	for i := range took {
		// 1..200 ms, shuffled order: the percentiles must sort.
		took[i] = time.Duration((i*37)%200+1) * time.Millisecond
		bytes[i] = 1000 + i%3
	}
	r := summarize("/api/pnl", took, bytes, 1000, 1000)
	if r.Requests != 200 || r.P50 != 100*time.Millisecond || r.P99 != 198*time.Millisecond || r.Max != 200*time.Millisecond {
		t.Fatalf("summary %+v", r)
	}
	if r.Bytes != 1001 || r.Rows != 1000 || r.Symbols != 1000 {
		t.Fatalf("bytes %d rows %d symbols %d", r.Bytes, r.Rows, r.Symbols)
	}
}

func TestAPITable(t *testing.T) {
	var b strings.Builder
	APITable(&b, []APIRow{
		{Endpoint: "/api/pnl", Requests: 200, P50: 12 * time.Millisecond, P99: 31500 * time.Microsecond, Max: 1200 * time.Millisecond, Bytes: 512_300, Rows: 1000, Symbols: 1000},
		{Endpoint: "/api/orders?limit=100", Requests: 100, P50: 4 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond, Bytes: 900, Rows: 100, Symbols: 87},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || len(lines[0]) != len(lines[2]) || len(lines[2]) != len(lines[3]) {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range []string{"GET /api/pnl ", "| 200 ", "12 ms", "32 ms", "1.20 s", "512.3 kB", "1,000 (1000 symbols)"} {
		if !strings.Contains(lines[2], want) {
			t.Fatalf("row %q lacks %q", lines[2], want)
		}
	}
	if !strings.Contains(lines[3], "900 B") || !strings.Contains(lines[3], "100 (87 symbols)") {
		t.Fatalf("row %q", lines[3])
	}
}

func TestBytesize(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 25_400_000: "25.4 MB"} {
		if got := bytesize(n); got != want {
			t.Errorf("bytesize(%d) = %q, want %q", n, got, want)
		}
	}
}

// getTimed times only the requests after the warm-ups, and a wrong
// answer (status, not an array, row or symbol count) fails it.
func TestGetTimed(t *testing.T) {
	var calls atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusOK)
	body := `[{"symbol":"AAPL","x":1},{"symbol":"MSFT"},{"symbol":"AAPL"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/obj":
			fmt.Fprint(w, `{"status":"live"}`)
		default:
			w.WriteHeader(int(status.Load()))
			fmt.Fprint(w, body)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	r, err := getTimed(ctx, srv.Client(), srv.URL, "/a?x=1", 3, 10, apiCheck{3, 2})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 13 || r.Requests != 10 || r.Rows != 3 || r.Symbols != 2 || r.Bytes != len(body) || r.P50 <= 0 || r.Max < r.P99 || r.P99 < r.P50 {
		t.Fatalf("calls %d, row %+v", calls.Load(), r)
	}
	if _, err := getTimed(ctx, srv.Client(), srv.URL, "/a", 0, 2, apiCheck{-1, -1}); err != nil {
		t.Fatalf("any rows: %v", err)
	}
	for _, c := range []struct {
		name, path string
		want       apiCheck
		errHas     string
	}{
		{"rows", "/a", apiCheck{1000, -1}, "3 rows, want 1000"},
		{"symbols", "/a", apiCheck{-1, 3}, "2 symbols, want 3"},
		{"not an array", "/obj", apiCheck{-1, -1}, "not a JSON array"},
	} {
		if _, err := getTimed(ctx, srv.Client(), srv.URL, c.path, 1, 2, c.want); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s: err %v, want one with %q", c.name, err, c.errHas)
		}
	}
	status.Store(http.StatusBadGateway)
	if _, err := getTimed(ctx, srv.Client(), srv.URL, "/a", 0, 1, apiCheck{-1, -1}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("502: err %v", err)
	}
}

// The endpoints' checks come from the database's counts: every symbol in
// /api/pnl and /api/positions, the range's symbols, at most 100 orders.
func TestAPIEndpoints(t *testing.T) {
	from := time.Date(2025, 11, 5, 10, 0, 0, 0, time.UTC)
	es := apiEndpoints(dbCounts{symbols: 1000, orders: 42}, from, from.Add(72*time.Hour), 998)
	got := map[string]apiCheck{}
	n := 0
	for _, e := range es {
		got[e.path], n = e.want, n+e.n
	}
	want := map[string]apiCheck{
		"/api/pnl": {1000, 1000}, "/api/pnl?from=2025-11-05T10%3A00%3A00Z&to=2025-11-08T10%3A00%3A00Z": {998, 998},
		"/api/pnl/history?bucket=1h": {-1, 1000}, "/api/positions": {1000, 1000}, "/api/orders?limit=100": {42, -1},
	}
	if len(got) != len(want) || n != 550 {
		t.Fatalf("endpoints %v (%d requests)", got, n)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %+v, want %+v", p, got[p], w)
		}
	}
}

func TestAPIReport(t *testing.T) {
	r := newResults()
	if rep := r.apiReport(); len(rep.Rows) != 0 || rep.Title != "" {
		t.Fatalf("not run: %+v", rep)
	}
	r.api = apiRun{fills: 1_000_000, db: dbCounts{metricsPnl: 1_019_389, onchainPnl: 1_000_000, symbols: 1000, trades: 1_000_000, orders: 19_389,
		first: time.Date(2025, 11, 4, 14, 30, 2, 0, time.UTC), last: time.Date(2025, 11, 10, 5, 0, 0, 0, time.UTC)},
		rows: []APIRow{{Endpoint: "/api/pnl"}}}
	rep := r.apiReport()
	if rep.Title != "REST API on the 1M-fill database" || len(rep.Rows) != 1 {
		t.Fatalf("report %+v", rep)
	}
	for _, want := range []string{"metrics_pnl 1,019,389 rows (1,000,000 on-chain fills, 2025-11-04 to 2025-11-10)", "pnl_summary 1000 symbols", "offchain_order_view 19,389 rows"} {
		if !strings.Contains(rep.Database, want) {
			t.Errorf("database sentence %q lacks %q", rep.Database, want)
		}
	}
}
