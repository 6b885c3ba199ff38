package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hedgeline/hedgeline/api/web"
	"github.com/shopspring/decimal"

	cdplog "github.com/chromedp/cdproto/log"
)

// kitChromium is the browser the page tests drive: HEDGELINE_CHROMIUM, else
// chromium, chromium-browser or google-chrome on PATH; the test skips when
// there is none.
func kitChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HEDGELINE_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("HEDGELINE_CHROMIUM=%s: %v", p, err)
		}
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no Chromium to test the page in: none of chromium, chromium-browser, google-chrome on PATH and " +
		"HEDGELINE_CHROMIUM unset (install the Debian package chromium; .ci/run does)")
	return ""
}

// kitBrowser starts headless Chromium with a fresh profile and no network
// beyond what the page asks for. problems collects what the page must never
// do: throw, log an error (a CSP violation, a failed request) or request
// anything outside allowedOrigin.
func kitBrowser(t *testing.T, allowedOrigin string) (ctx context.Context, problems func() []string) {
	t.Helper()
	bin := kitChromium(t)
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
	)
	var mu sync.Mutex
	var found []string
	add := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		found = append(found, fmt.Sprintf(format, a...))
	}
	ctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(format string, a ...any) { t.Logf("chromedp: "+format, a...) }),
		chromedp.WithListener(func(ev any) {
			switch ev := ev.(type) {
			case *runtime.EventExceptionThrown:
				d := ev.ExceptionDetails
				desc := ""
				if d.Exception != nil {
					desc = d.Exception.Description
				}
				add("exception at %s:%d: %s %s", d.URL, d.LineNumber+1, d.Text, desc)
			case *runtime.EventConsoleAPICalled:
				if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
					var args []string
					for _, a := range ev.Args {
						args = append(args, string(a.Value)+a.Description)
					}
					add("console.%s: %s", ev.Type, strings.Join(args, " "))
				}
			case *cdplog.EventEntryAdded:
				if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
					add("browser log (%s %s): %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
				}
			case *network.EventRequestWillBeSent:
				if u := ev.Request.URL; !strings.HasPrefix(u, allowedOrigin+"/") && !strings.HasPrefix(u, "data:") {
					add("request outside %s: %s", allowedOrigin, u)
				}
			}
		}))
	// Closing the browser before its profile dir goes (cleanups run last
	// registered first).
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser, which lives as long as the context
	// of that run: this one, not a later action's with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(found)
	}
}

// pageView is what the test reads back from the rendered page.
type pageView struct {
	Columns []string `json:"columns"`
	Rows    []struct {
		Symbol string                  `json:"symbol"`
		Cells  map[string]pageViewCell `json:"cells"`
	} `json:"rows"`
	Total  map[string]pageViewCell `json:"total"`
	Series []struct {
		Symbol string `json:"symbol"`
		Points string `json:"points"`
	} `json:"series"`
	Chart struct {
		Bucket string  `json:"bucket"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
		Box    float64 `json:"box"` // the width of its container
		Note   string  `json:"note"`
	} `json:"chart"`
	Legend []struct {
		Symbol string `json:"symbol"`
		Value  string `json:"value"`
		Text   string `json:"text"`
	} `json:"legend"`
	Health    string            `json:"health"`
	Checks    map[string]string `json:"checks"`
	Positions []struct {
		Symbol  string                  `json:"symbol"`
		Pending string                  `json:"pending"`
		Cells   map[string]pageViewCell `json:"cells"`
	} `json:"positions"`
	Orders []struct {
		ID    string                  `json:"id"`
		Cells map[string]pageViewCell `json:"cells"`
	} `json:"orders"`
	Updated  string  `json:"updated"`
	Overflow float64 `json:"overflow"` // page width beyond the viewport
	PnLBox   struct {
		Left, Right, Width, Height, Viewport float64
	} `json:"pnlBox"`
}

type pageViewCell struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

const pageViewJS = `(() => {
  const cells = (tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) =>
    [td.dataset.field, { text: td.textContent.trim(), value: td.dataset.value ?? "" }]));
  const foot = document.querySelector("#pnl tfoot tr");
  const svg = document.getElementById("pnl-chart");
  const box = document.querySelector("#pnl").closest(".table-wrap").getBoundingClientRect();
  return {
    columns: [...document.querySelectorAll("#pnl thead th")].map((th) => th.dataset.field),
    rows: [...document.querySelectorAll("#pnl tbody tr")].map((tr) => ({ symbol: tr.dataset.symbol, cells: cells(tr) })),
    total: foot ? cells(foot) : {},
    series: [...svg.querySelectorAll("polyline.series")].map((p) => ({ symbol: p.dataset.symbol, points: p.getAttribute("points") })),
    chart: { bucket: svg.dataset.bucket || "", width: svg.getBoundingClientRect().width,
      height: svg.getBoundingClientRect().height, box: document.getElementById("chart").clientWidth,
      note: document.getElementById("chart-note").hidden ? "" : document.getElementById("chart-note").textContent },
    legend: [...document.querySelectorAll("#legend li")].map((li) => ({ symbol: li.dataset.symbol, value: li.dataset.value,
      text: li.querySelector(".legend-value").textContent })),
    health: document.getElementById("health").dataset.status,
    checks: Object.fromEntries([...document.querySelectorAll("#health [data-check]")].map((li) => [li.dataset.check, li.dataset.ok ?? ""])),
    positions: [...document.querySelectorAll("#positions tbody tr")].map((tr) => ({ symbol: tr.dataset.symbol, pending: tr.dataset.pending, cells: cells(tr) })),
    orders: [...document.querySelectorAll("#orders tbody tr")].map((tr) => ({ id: tr.dataset.executionId, cells: cells(tr) })),
    updated: document.getElementById("updated").dataset.updated,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    pnlBox: { Left: box.left, Right: box.right, Width: box.width, Height: box.height, Viewport: window.innerWidth },
  };
})()`

// The fields of /api/pnl the page shows, by how: money rounded to cents,
// shares and prices as the API wrote them.
var (
	pageMoneyFields = []string{"realized_pnl", "unrealized_pnl", "total_pnl", "counter_trade_pnl", "onchain_netting_pnl", "directional_exposure_pnl"}
	pageExactFields = []string{"mark_price", "mark_source", "net_position", "onchain_volume", "offchain_volume", "fills"}
)

// testServePage loads serve's page at base in headless Chromium on a laptop
// and a phone viewport and checks what it rendered against the API: every
// PnL cell (the columns of fields the API sends, only those), the totals,
// one chart series per symbol ending at its realized PnL, health, positions
// and orders; the page throws nothing, logs no error (a CSP violation
// would) and requests nothing from elsewhere. Screenshots go to the test's
// temp dir (and HEDGELINE_TEST_LOG_DIR when set).
func testServePage(t *testing.T, base string) {
	pg := kitOpenPage(t, base)

	var pnlRows []map[string]any
	kitDecodeNumbers(t, apiGet(t, base+"/api/pnl", 200, nil), &pnlRows)
	var positions []map[string]any
	kitDecodeNumbers(t, apiGet(t, base+"/api/positions", 200, nil), &positions)
	var orders []map[string]any
	kitDecodeNumbers(t, apiGet(t, base+"/api/orders?limit=20", 200, nil), &orders)
	if len(pnlRows) == 0 || len(orders) == 0 {
		t.Fatalf("the scenario left %d PnL rows and %d orders: nothing to show", len(pnlRows), len(orders))
	}

	laptop := pg.load(t, "laptop", 1366, 900)

	t.Run("pnl_table", func(t *testing.T) { checkPagePnL(t, laptop, pnlRows) })

	t.Run("chart", func(t *testing.T) { checkPageChart(t, laptop, base, pnlRows) })

	t.Run("health_positions_orders", func(t *testing.T) {
		v := laptop
		if v.Health != "ready" || v.Checks["clickhouse"] != "true" || v.Checks["kafka"] != "true" || v.Checks["lag"] != "true" {
			t.Errorf("health strip: %s %v", v.Health, v.Checks)
		}
		if len(v.Positions) != len(positions) {
			t.Errorf("%d position rows, /api/positions %d", len(v.Positions), len(positions))
		}
		pending := map[string]string{}
		for _, p := range positions {
			pending[p["symbol"].(string)] = strconv.FormatBool(p["pending_execution_id"] != nil && p["pending_execution_id"] != "")
		}
		for _, p := range v.Positions {
			if pending[p.Symbol] != p.Pending {
				t.Errorf("position %s: pending %q on the page, %q from the API", p.Symbol, p.Pending, pending[p.Symbol])
			}
		}
		var ids, shown []string
		for _, o := range orders {
			ids = append(ids, o["execution_id"].(string))
		}
		for _, o := range v.Orders {
			shown = append(shown, o.ID)
		}
		if !slices.Equal(shown, ids) {
			t.Errorf("orders on the page %v, /api/orders?limit=20 %v", shown, ids)
		}
		if _, err := time.Parse(time.RFC3339, v.Updated); err != nil {
			t.Errorf("updated at %q: %v", v.Updated, err)
		}
	})

	t.Run("phone", func(t *testing.T) {
		v := pg.load(t, "phone", 390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)
		if len(v.Rows) != len(pnlRows) || len(v.Series) != len(laptop.Series) {
			t.Errorf("phone: %d PnL rows, %d series; laptop %d, %d", len(v.Rows), len(v.Series), len(laptop.Rows), len(v.Series))
		}
		// The table is on screen, and wide tables scroll in their card, not
		// the page.
		b := v.PnLBox
		if b.Width < 100 || b.Height < 20 || b.Left < 0 || b.Right > b.Viewport+0.5 {
			t.Errorf("phone: PnL table box %+v", b)
		}
		if v.Overflow > 0 {
			t.Errorf("phone: the page is %g px wider than the screen", v.Overflow)
		}
	})

	pg.checkProblems(t)
}

// kitDecodeNumbers decodes JSON keeping numbers as written.
func kitDecodeNumbers(t testing.TB, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// kitPage is a browser tab on serve's page at base.
type kitPage struct {
	ctx      context.Context
	base     string
	shots    string // screenshots, in the test's temp dir
	problems func() []string
}

func kitOpenPage(t *testing.T, base string) *kitPage {
	t.Helper()
	ctx, problems := kitBrowser(t, base)
	return &kitPage{ctx: ctx, base: base, shots: t.TempDir(), problems: problems}
}

// load opens the page at a viewport, waits for it to have rendered the
// API's answers, reads it back and saves a screenshot (also to
// HEDGELINE_TEST_LOG_DIR when set).
func (pg *kitPage) load(t *testing.T, name string, width, height int64, opts ...chromedp.EmulateViewportOption) pageView {
	t.Helper()
	start := time.Now()
	runCtx, cancel := context.WithTimeout(pg.ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(runCtx,
		chromedp.EmulateViewport(width, height, opts...),
		chromedp.Navigate(pg.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#pnl tbody tr[data-symbol]`)),
		chromedp.WaitReady(chromedp.CSS(`#updated[data-updated^="2"]`)),
		chromedp.WaitReady(chromedp.CSS(`#pnl-chart polyline.series`)),
	)
	if err != nil {
		t.Fatalf("%s: load the page: %v (page problems: %q)", name, err, pg.problems())
	}
	// The chart redraws after a resize settles (100 ms): let it.
	raw, err := chromedp.Run(runCtx, chromedp.Poll[[]byte](`(() => {
		const c = document.getElementById("chart"), s = document.getElementById("pnl-chart");
		return Math.abs(s.getBoundingClientRect().width - c.clientWidth) < 2 && `+pageViewJS+`;
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("%s: the chart does not fill its card: %v", name, err)
	}
	var v pageView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: read the page: %v\n%s", name, err, raw)
	}
	png, err := chromedp.Run(runCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", name, err)
	}
	file := fmt.Sprintf("page-%s-%dx%d.png", name, width, height)
	path := filepath.Join(pg.shots, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("HEDGELINE_TEST_LOG_DIR"); d != "" {
		_ = os.WriteFile(filepath.Join(d, file), png, 0o644)
	}
	t.Logf("%s: rendered in %s; screenshot %s (%d bytes)", name, time.Since(start).Round(time.Millisecond), path, len(png))
	return v
}

// checkProblems fails t with what the page did that it must not.
func (pg *kitPage) checkProblems(t *testing.T) {
	t.Helper()
	if p := pg.problems(); len(p) > 0 {
		t.Errorf("the page misbehaved:\n%s", strings.Join(p, "\n"))
	}
}

// checkPagePnL compares the rendered PnL table with /api/pnl's rows: the
// columns are the symbol and exactly the known fields the API sent, money
// to the cent (and exact in data-value), the rest as the API wrote it, and
// the totals row's exact sums.
func checkPagePnL(t *testing.T, v pageView, pnlRows []map[string]any) {
	t.Helper()
	// The columns: the symbol, then exactly the known fields the API sent.
	want := map[string]bool{"symbol": true}
	for _, f := range append(slices.Clone(pageMoneyFields), pageExactFields...) {
		for _, r := range pnlRows {
			if _, ok := r[f]; ok {
				want[f] = true
			}
		}
	}
	got := map[string]bool{}
	for _, c := range v.Columns {
		got[c] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PnL columns %v, want those of the API's fields %v", v.Columns, want)
	}
	if len(v.Rows) != len(pnlRows) {
		t.Fatalf("PnL table has %d rows, /api/pnl %d", len(v.Rows), len(pnlRows))
	}
	for i, r := range pnlRows {
		row := v.Rows[i]
		if row.Symbol != r["symbol"] {
			t.Errorf("row %d is %s, /api/pnl has %s", i, row.Symbol, r["symbol"])
			continue
		}
		for _, f := range pageMoneyFields {
			api, ok := r[f]
			if !ok {
				continue
			}
			c := row.Cells[f]
			if api == nil {
				if c.Value != "" || c.Text != "" {
					t.Errorf("%s %s: null in the API, page shows %+v", row.Symbol, f, c)
				}
				continue
			}
			d, err := decimal.NewFromString(api.(string))
			if err != nil {
				t.Fatalf("/api/pnl %s %s: %v", row.Symbol, f, err)
			}
			if c.Value != api || strings.ReplaceAll(c.Text, ",", "") != d.StringFixed(2) {
				t.Errorf("%s %s: page %q (exact %q), /api/pnl %q (to the cent %s)", row.Symbol, f, c.Text, c.Value, api, d.StringFixed(2))
			}
		}
		for _, f := range pageExactFields {
			api, ok := r[f]
			if !ok {
				continue
			}
			want := ""
			if api != nil {
				want = fmt.Sprint(api)
			}
			if c := row.Cells[f]; strings.ReplaceAll(c.Text, ",", "") != want {
				t.Errorf("%s %s: page %q, /api/pnl %q", row.Symbol, f, c.Text, want)
			}
		}
	}
	// The totals row: exact sums.
	if len(pnlRows) > 1 {
		for _, f := range pageMoneyFields {
			if !want[f] {
				continue
			}
			sum := decimal.Zero
			for _, r := range pnlRows {
				if s, ok := r[f].(string); ok {
					sum = sum.Add(decimal.RequireFromString(s))
				}
			}
			c := v.Total[f]
			if d, err := decimal.NewFromString(c.Value); err != nil || !d.Equal(sum) || strings.ReplaceAll(c.Text, ",", "") != sum.StringFixed(2) {
				t.Errorf("total %s: page %q (exact %q), sum of /api/pnl %s", f, c.Text, c.Value, sum)
			}
		}
	}
}

// checkPageChart checks the chart against /api/pnl/history at the bucket
// the page chose: one series per symbol, each with points inside the
// chart, and a legend giving where each ends, which over all time is the
// symbol's realized PnL in pnlRows.
func checkPageChart(t *testing.T, v pageView, base string, pnlRows []map[string]any) {
	t.Helper()
	bucket, err := strconv.Atoi(v.Chart.Bucket)
	if err != nil || bucket < 1 {
		t.Fatalf("chart bucket %q", v.Chart.Bucket)
	}
	var hist []map[string]any
	kitDecodeNumbers(t, apiGet(t, base+"/api/pnl/history?bucket="+url.QueryEscape(v.Chart.Bucket), 200, nil), &hist)
	last := map[string]string{}
	for _, p := range hist {
		last[p["symbol"].(string)] = p["cumulative_pnl"].(string)
	}
	if len(v.Series) != len(last) || len(v.Legend) != len(last) {
		t.Errorf("chart has %d series and %d legend entries, the history %d symbols", len(v.Series), len(v.Legend), len(last))
	}
	realized := map[string]string{}
	for _, r := range pnlRows {
		realized[r["symbol"].(string)] = r["realized_pnl"].(string)
	}
	seen := map[string]bool{}
	for _, s := range v.Series {
		if _, ok := last[s.Symbol]; !ok || seen[s.Symbol] {
			t.Errorf("series %q: not a symbol of the history, or twice", s.Symbol)
		}
		seen[s.Symbol] = true
		pts := strings.Fields(s.Points)
		if len(pts) < 2 {
			t.Errorf("series %s has %d points: %q", s.Symbol, len(pts), s.Points)
		}
		for _, p := range pts {
			x, y, ok := strings.Cut(p, ",")
			fx, errx := strconv.ParseFloat(x, 64)
			fy, erry := strconv.ParseFloat(y, 64)
			if !ok || errx != nil || erry != nil || fx < 0 || fy < 0 || fx > v.Chart.Width || fy > v.Chart.Height || math.IsNaN(fx+fy) {
				t.Errorf("series %s: point %q outside the %gx%g chart", s.Symbol, p, v.Chart.Width, v.Chart.Height)
				break
			}
		}
	}
	// The legend shows where each line ends: the running sum over all
	// time, which is the symbol's realized PnL.
	for _, l := range v.Legend {
		d, err := decimal.NewFromString(l.Value)
		if l.Value != last[l.Symbol] || err != nil || !d.Equal(decimal.RequireFromString(realized[l.Symbol])) ||
			strings.ReplaceAll(l.Text, ",", "") != d.StringFixed(2) {
			t.Errorf("legend %s: %q (exact %q); history ends at %q, /api/pnl realized %q", l.Symbol, l.Text, l.Value, last[l.Symbol], realized[l.Symbol])
		}
	}
}

// TestServePageAllFields renders the page over a stand-in API that sends
// every optional field (unrealized and total PnL, the mark, the attribution
// buckets, a pending hedge's age) with amounts that test the rounding, and
// an order with slippage: the columns appear and show the API's values.
func TestServePageAllFields(t *testing.T) {
	kitChromium(t) // skip before serving anything
	type obj = map[string]any
	pnlRows := []obj{
		{"symbol": "AAPL", "realized_pnl": "1234567.125", "unrealized_pnl": "-0.005", "total_pnl": "1234567.12",
			"mark_price": "227.8404", "mark_source": "pyth", "counter_trade_pnl": "1234567", "onchain_netting_pnl": "0.125",
			"directional_exposure_pnl": "0", "net_position": "0.0992", "onchain_volume": "26.5688", "offchain_volume": "4", "fills": 20},
		{"symbol": "TSLA", "realized_pnl": "-2.994999", "unrealized_pnl": "0.004", "total_pnl": "-2.990999",
			"mark_price": nil, "mark_source": "none", "counter_trade_pnl": "-1.5", "onchain_netting_pnl": "0",
			"directional_exposure_pnl": "-1.494999", "net_position": "-1000.5", "onchain_volume": "15.1837", "offchain_volume": "4", "fills": 13},
	}
	t0 := time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)
	hist := []obj{
		{"symbol": "AAPL", "bucket": t0, "realized_pnl": "1000000", "cumulative_pnl": "1000000", "net_position": "1", "fills": 3},
		{"symbol": "AAPL", "bucket": t0.Add(10 * time.Minute), "realized_pnl": "234567.125", "cumulative_pnl": "1234567.125", "net_position": "0.0992", "fills": 17},
		{"symbol": "TSLA", "bucket": t0.Add(5 * time.Minute), "realized_pnl": "-2.994999", "cumulative_pnl": "-2.994999", "net_position": "-1000.5", "fills": 13},
	}
	positions := []obj{
		{"symbol": "AAPL", "sequence": 9, "net": "0.0992", "accumulated_long": "1", "accumulated_short": "0", "hedged_shares": "-4",
			"threshold_kind": "shares", "threshold_value": "1", "broker": "dry_run", "fractional": false, "last_updated": t0, "status": "live"},
		{"symbol": "TSLA", "sequence": 4, "net": "-1000.5", "accumulated_long": "0", "accumulated_short": "1000.5", "hedged_shares": "0",
			"pending_execution_id": "ex-1", "pending_shares": "1000", "pending_direction": "Buy", "pending_age_seconds": 83.4,
			"threshold_kind": "dollars", "threshold_value": "5000", "broker": "alpaca", "fractional": true, "last_updated": t0, "status": "live"},
	}
	orders := []obj{
		{"execution_id": "ex-2", "symbol": "AAPL", "status": "Filled", "broker": "alpaca", "direction": "Sell", "shares": "3", "shares_filled": "3",
			"avg_price": "227.80", "reference_price": "227.8404", "placed_at": t0, "filled_at": t0.Add(1500 * time.Millisecond), "migrated": false, "lifecycle": "Live",
			// The API's own latency (trigger block to fill) wins over placed-to-filled.
			"hedge_latency_ms": 2250, "slippage_per_share": "0.0404", "slippage_usd": "0.1212", "slippage_bps": "1.77"},
		{"execution_id": "ex-1", "symbol": "TSLA", "status": "Submitted", "broker": "alpaca", "direction": "Buy", "shares": "1000", "shares_filled": "0",
			"reference_price": "347.62", "placed_at": t0, "migrated": false, "lifecycle": "Live"},
	}
	health := obj{"status": "ready", "clickhouse": obj{"ok": true, "latency_ms": 1.2}, "kafka": obj{"ok": true, "latency_ms": 0.4},
		"consumer_lag": obj{"hedgeline-pnl": obj{"state": "Stable", "total": 0, "by_topic": obj{"pnl.events": 0}}}}

	mux := http.NewServeMux()
	for path, v := range map[string]any{"/api/pnl": pnlRows, "/api/pnl/history": hist, "/api/positions": positions,
		"/api/orders": orders, "/api/health": health} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	mux.Handle("/", web.Handler(http.NotFoundHandler()))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	pg := kitOpenPage(t, hs.URL)
	v := pg.load(t, "all-fields", 1366, 900)
	var api []map[string]any
	kitDecodeNumbers(t, apiGet(t, hs.URL+"/api/pnl", 200, nil), &api)
	checkPagePnL(t, v, api)
	checkPageChart(t, v, hs.URL, api)

	// What the stand-in's amounts must look like: rounding half away from
	// zero, a zero after rounding without its sign, thousands grouped.
	for _, c := range []struct{ sym, field, text string }{
		{"AAPL", "realized_pnl", "1,234,567.13"}, {"AAPL", "unrealized_pnl", "-0.01"}, {"AAPL", "onchain_netting_pnl", "0.13"},
		{"TSLA", "realized_pnl", "-2.99"}, {"TSLA", "unrealized_pnl", "0.00"}, {"TSLA", "mark_price", ""}, {"TSLA", "net_position", "-1,000.5"},
	} {
		for _, r := range v.Rows {
			if r.Symbol == c.sym && r.Cells[c.field].Text != c.text {
				t.Errorf("%s %s shows %q, want %q", c.sym, c.field, r.Cells[c.field].Text, c.text)
			}
		}
	}
	if got := v.Total["realized_pnl"]; got.Value != "1234564.130001" || got.Text != "1,234,564.13" {
		t.Errorf("realized total %+v", got)
	}
	// The pending hedge comes first, with its age.
	if len(v.Positions) != 2 || v.Positions[0].Symbol != "TSLA" || v.Positions[0].Pending != "true" ||
		v.Positions[0].Cells["pending_age_seconds"].Text != "1m 23s" || v.Positions[0].Cells["pending_shares"].Text != "Buy 1,000" {
		t.Errorf("positions: %+v", v.Positions)
	}
	if len(v.Orders) != 2 || v.Orders[0].Cells["slippage"].Value != "0.0404" || v.Orders[0].Cells["slippage"].Text != "0.04" ||
		v.Orders[0].Cells["latency"].Text != "2.25 s" || v.Orders[1].Cells["slippage"].Text != "" {
		t.Errorf("orders: %+v", v.Orders)
	}
	pg.checkProblems(t)
}

// TestServePageManySymbols: with more symbols than the chart draws, the page
// asks the API for the history of the ones with the largest realized PnL
// only, draws those, and says so; the table still has every symbol.
func TestServePageManySymbols(t *testing.T) {
	kitChromium(t)
	type obj = map[string]any
	t0 := time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)
	var pnlRows, hist []obj
	const n = 15
	for i := range n {
		sym := fmt.Sprintf("S%02d", i)
		// |realized| grows with i, signs alternate: the top 12 are S03..S14.
		realized := fmt.Sprintf("%d.5", i*10)
		if i%2 == 1 {
			realized = "-" + realized
		}
		pnlRows = append(pnlRows, obj{"symbol": sym, "realized_pnl": realized, "net_position": "1", "onchain_volume": "1",
			"offchain_volume": "0", "fills": 2})
		hist = append(hist, obj{"symbol": sym, "bucket": t0, "realized_pnl": "0", "cumulative_pnl": "0", "net_position": "1", "fills": 1},
			obj{"symbol": sym, "bucket": t0.Add(time.Hour), "realized_pnl": realized, "cumulative_pnl": realized, "net_position": "1", "fills": 1})
	}
	var mu sync.Mutex
	var asked []string
	mux := http.NewServeMux()
	serveJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/pnl/history", func(w http.ResponseWriter, r *http.Request) {
		only := r.URL.Query().Get("symbol")
		mu.Lock()
		asked = append(asked, only)
		mu.Unlock()
		var out []obj
		for _, h := range hist {
			if only == "" || slices.Contains(strings.Split(only, ","), h["symbol"].(string)) {
				out = append(out, h)
			}
		}
		serveJSON(w, out)
	})
	for path, v := range map[string]any{"/api/pnl": pnlRows, "/api/positions": []obj{}, "/api/orders": []obj{},
		"/api/health": obj{"status": "ready", "clickhouse": obj{"ok": true, "latency_ms": 1}, "kafka": obj{"ok": true, "latency_ms": 1}}} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) { serveJSON(w, v) })
	}
	mux.Handle("/", web.Handler(http.NotFoundHandler()))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	v := kitOpenPage(t, hs.URL).load(t, "many-symbols", 1366, 900)
	want := "S03,S04,S05,S06,S07,S08,S09,S10,S11,S12,S13,S14"
	mu.Lock()
	got := slices.Clone(asked)
	mu.Unlock()
	if len(got) == 0 || slices.ContainsFunc(got, func(s string) bool { return s != want }) {
		t.Errorf("history asked for symbols %q, want only %q", got, want)
	}
	if len(v.Rows) != n || len(v.Series) != 12 || v.Chart.Note != "top 12 of 15 symbols by realized PnL" {
		t.Errorf("%d table rows, %d series, note %q", len(v.Rows), len(v.Series), v.Chart.Note)
	}
}
