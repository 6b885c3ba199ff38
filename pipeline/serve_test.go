package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/api"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// TestServeAPI runs `hedgeline serve` over the pipeline's ClickHouse after
// the sample: every endpoint, /api/pnl byte for byte as `pnl --json` and
// equal to a FIFO folded here from position.events, bad parameters, then an
// empty database and an unreachable ClickHouse on the same engine.
func TestServeAPI(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	chAddr := kitStartClickHouse(t, dir)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"), "--clickhouse", chAddr))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fills := kitIngestSample(ctx, t, addr)

	// The reference: FIFO over each position's fills, in its event order.
	evs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.PositionEvents))
	if err != nil {
		t.Fatal(err)
	}
	hists, problems := kitFoldHistories(evs)
	kitReport(t, problems)
	ref := map[string][]kitPnlWant{}
	wantFills := 0
	for sym, h := range hists {
		w, err := kitReferencePnL(h)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) > 0 {
			ref[sym] = w
			wantFills += len(w)
		}
	}

	// serve as a user starts it, on a free port.
	listen, metricsAddr := kitFreeAddr(t), kitFreeAddr(t)
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- dispatch(serveCtx, []string{"serve", "--listen", listen, "--clickhouse", chAddr, "--brokers", addr,
			"--metrics-listen", metricsAddr}, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		stopServe()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + listen
	kitWaitFor(t, 10*time.Second, "serve to answer", func() (bool, string) {
		resp, err := http.Get(base + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	cli := func(args ...string) []byte {
		t.Helper()
		var out bytes.Buffer
		if err := dispatch(ctx, append(args, "--clickhouse", chAddr, "--json"), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.Bytes()
	}

	// Views are projected by their own consumers: wait for every fill.
	var pnls []sinks.PnLSummary
	kitWaitFor(t, time.Minute, "/api/pnl to count every fill", func() (bool, string) {
		pnls = nil
		apiGet(t, base+"/api/pnl", 200, &pnls)
		n := 0
		for _, p := range pnls {
			n += p.Fills
		}
		return n == wantFills, fmt.Sprintf("%d of %d fills", n, wantFills)
	})

	// One symbol's last on-chain fill gets a Pyth price: its open lots are
	// marked at it, every other symbol's at its last fill's price.
	marks := map[string]decimal.Decimal{}
	lastFill := map[string]file.Fill{}
	for _, f := range fills {
		lastFill[string(f.Symbol.Base)] = f
		marks[string(f.Symbol.Base)] = f.PriceUSDC
	}
	pythSym := pnls[0].Symbol
	pyth := market.PythPrice{Value: lastFill[pythSym].PriceUSDC.Add(decimal.RequireFromString("1.23")).Shift(5).Truncate(0).String(),
		Expo: -5, Conf: "100", PublishTime: lastFill[pythSym].BlockTimestamp}
	if marks[pythSym], err = pyth.Price(); err != nil {
		t.Fatal(err)
	}
	kitEnrich(t, addr, lastFill[pythSym], onchaintrade.Enrich{GasUsed: 21000, EffectiveGasPrice: 1_500_000_000, PythPrice: &pyth})
	kitWaitFor(t, time.Minute, "the Pyth mark to reach /api/pnl", func() (bool, string) {
		pnls = nil
		apiGet(t, base+"/api/pnl", 200, &pnls)
		return pnls[0].MarkSource == "pyth", pnls[0].MarkSource
	})

	t.Run("pnl", func(t *testing.T) {
		if got, want := apiGet(t, base+"/api/pnl", 200, nil), cli("pnl"); !bytes.Equal(got, want) {
			t.Errorf("/api/pnl differs from pnl --json:\n%s\nvs\n%s", got, want)
		}
		if len(pnls) != len(ref) {
			t.Fatalf("/api/pnl has %d symbols, the reference %d", len(pnls), len(ref))
		}
		for _, p := range pnls {
			w := ref[p.Symbol]
			realized, on, off := new(big.Rat), decimal.Zero, decimal.Zero
			for _, f := range w {
				realized.Add(realized, f.realized)
				if f.venue == pnl.Onchain {
					on = on.Add(f.qty)
				} else {
					off = off.Add(f.qty)
				}
			}
			if p.RealizedPnL.Rat().Cmp(realized) != 0 || p.NetPosition.Rat().Cmp(w[len(w)-1].net) != 0 || p.Fills != len(w) ||
				!p.OffchainVolume.Equal(off) || !p.OnchainVolume.Equal(on) {
				t.Errorf("%s: api %+v; reference realized %s net %s fills %d on %s off %s",
					p.Symbol, p, realized.FloatString(18), w[len(w)-1].net.FloatString(18), len(w), on, off)
			}
			// Unrealized: the reference's open lots at the stated mark, cut
			// to 18 places like the view; attribution: its buckets.
			last := w[len(w)-1]
			source := map[bool]string{true: "pyth", false: "last_fill"}[p.Symbol == pythSym]
			unrealized := new(big.Rat).Mul(last.net, marks[p.Symbol].Rat())
			unrealized.Sub(unrealized, last.costBasis)
			if p.MarkSource != source || p.MarkPrice == nil || !p.MarkPrice.Equal(marks[p.Symbol]) || p.UnrealizedPnL == nil ||
				p.UnrealizedPnL.Rat().Cmp(kitTruncate18(unrealized)) != 0 ||
				p.TotalPnL.Rat().Cmp(new(big.Rat).Add(realized, p.UnrealizedPnL.Rat())) != 0 ||
				p.CostBasis == nil || p.CostBasis.Rat().Cmp(last.costBasis) != 0 {
				t.Errorf("%s: unrealized %v total %s at mark %v (%s), cost basis %v; reference %s at %s (%s), cost basis %s",
					p.Symbol, p.UnrealizedPnL, p.TotalPnL, p.MarkPrice, p.MarkSource, p.CostBasis,
					unrealized.FloatString(20), marks[p.Symbol], source, last.costBasis.FloatString(18))
			}
			for i, got := range []decimal.Decimal{p.CounterTradePnL, p.OnchainNettingPnL, p.DirectionalExposurePnL} {
				if got.Rat().Cmp(last.buckets[i]) != 0 {
					t.Errorf("%s: attribution bucket %d = %s, reference %s", p.Symbol, i, got, last.buckets[i].FloatString(18))
				}
			}
		}
		// A symbol and a range: still the CLI's answer.
		sym := pnls[0].Symbol
		first, last := ref[sym][0].occurredAt, ref[sym][len(ref[sym])-1].occurredAt
		from, to := first.Format(time.RFC3339Nano), last.Add(time.Microsecond).Format(time.RFC3339Nano)
		q := url.Values{"symbol": {strings.ToLower(sym)}, "from": {from}, "to": {to}}
		var ranged []sinks.PnLSummary
		got := apiGet(t, base+"/api/pnl?"+q.Encode(), 200, &ranged)
		if want := cli("pnl", "--symbol", sym, "--from", from, "--to", to); !bytes.Equal(got, want) {
			t.Errorf("/api/pnl?%s differs from the CLI:\n%s\nvs\n%s", q.Encode(), got, want)
		}
		if len(ranged) != 1 || ranged[0].Symbol != sym || ranged[0].Fills == 0 {
			t.Errorf("/api/pnl?%s = %+v", q.Encode(), ranged)
		}
	})

	t.Run("history", func(t *testing.T) {
		const bucket = 15 * time.Minute
		var hist []sinks.PnLPoint
		apiGet(t, base+"/api/pnl/history?bucket=15m", 200, &hist)
		type key struct {
			sym string
			b   int64
		}
		want := map[key]*big.Rat{}
		for sym, w := range ref {
			for _, f := range w {
				k := key{sym, f.occurredAt.Unix() - f.occurredAt.Unix()%int64(bucket/time.Second)}
				if want[k] == nil {
					want[k] = new(big.Rat)
				}
				want[k].Add(want[k], f.realized)
			}
		}
		if len(hist) != len(want) {
			t.Errorf("history has %d points, the reference %d buckets", len(hist), len(want))
		}
		cum := map[string]*big.Rat{}
		for _, p := range hist {
			w := want[key{p.Symbol, p.Bucket.Unix()}]
			if w == nil || p.RealizedPnL.Rat().Cmp(w) != 0 {
				t.Errorf("history %s %s: realized %s, reference %v", p.Symbol, p.Bucket, p.RealizedPnL, w)
			}
			if cum[p.Symbol] == nil {
				cum[p.Symbol] = new(big.Rat)
			}
			cum[p.Symbol].Add(cum[p.Symbol], p.RealizedPnL.Rat())
			if p.CumulativePnL.Rat().Cmp(cum[p.Symbol]) != 0 {
				t.Errorf("history %s %s: cumulative %s, running sum %s", p.Symbol, p.Bucket, p.CumulativePnL, cum[p.Symbol].FloatString(18))
			}
		}
	})

	t.Run("positions_trades_orders", func(t *testing.T) {
		var ps []sinks.Position
		// A pending hedge's age is taken at query time: equal but for it.
		if got, want := apiGet(t, base+"/api/positions", 200, &ps), cli("positions"); !bytes.Equal(withoutAges(t, got), withoutAges(t, want)) {
			t.Errorf("/api/positions differs from positions --json")
		}
		for _, p := range ps {
			if (p.PendingShares != nil) != (p.PendingPlacedAt != nil) || (p.PendingPlacedAt != nil) != (p.PendingAgeSeconds != nil) ||
				(p.PendingAgeSeconds != nil && (*p.PendingAgeSeconds < 0 || *p.PendingAgeSeconds > time.Since(*p.PendingPlacedAt).Seconds()+1)) {
				t.Errorf("position %s: pending %v placed at %v, age %v", p.Symbol, p.PendingShares, p.PendingPlacedAt, p.PendingAgeSeconds)
			}
		}
		if len(ps) != len(hists) {
			t.Errorf("%d positions, %d position aggregates on Kafka", len(ps), len(hists))
		}
		for _, p := range ps {
			h := hists[p.Symbol]
			if h == nil || p.Sequence != h.events[len(h.events)-1].Sequence {
				t.Errorf("position %s at sequence %d, Kafka has %v", p.Symbol, p.Sequence, h)
			}
		}
		var trades []sinks.Trade
		if got, want := apiGet(t, base+"/api/trades?limit=5", 200, &trades), cli("trades", "--limit", "5"); !bytes.Equal(got, want) {
			t.Errorf("/api/trades?limit=5 differs from trades --json --limit 5")
		}
		if len(trades) != min(5, len(fills)) {
			t.Errorf("/api/trades?limit=5: %d rows", len(trades))
		}
		sym := pnls[0].Symbol
		apiGet(t, base+"/api/trades?symbol="+sym, 200, &trades)
		if len(trades) == 0 {
			t.Errorf("no trades of %s", sym)
		}
		for i, tr := range trades {
			if tr.BaseSymbol != sym || (i > 0 && tr.BlockTimestamp.After(trades[i-1].BlockTimestamp)) {
				t.Errorf("/api/trades?symbol=%s row %d: %s at %s", sym, i, tr.BaseSymbol, tr.BlockTimestamp)
			}
		}
		var all, filled []sinks.Order
		if got, want := apiGet(t, base+"/api/orders", 200, &all), cli("orders"); !bytes.Equal(got, want) {
			t.Errorf("/api/orders differs from orders --json")
		}
		apiGet(t, base+"/api/orders?status=filled", 200, &filled)
		n := 0
		for _, o := range all {
			if o.Status == "Filled" {
				n++
			}
		}
		if len(all) == 0 || n == 0 || len(filled) != n {
			t.Errorf("%d orders, %d Filled; status=filled gave %d", len(all), n, len(filled))
		}
		for _, o := range filled {
			if o.Status != "Filled" {
				t.Errorf("status=filled returned %s", o.Status)
			}
			// The hedge's latency runs from its trigger's block to the
			// broker fill (the sample's event times are not wall-clock
			// times, so only its presence is checked); slippage is against
			// the reference price, in the desk's disfavour when positive.
			if o.HedgeLatencyMS == nil {
				t.Errorf("filled order %s placed %s filled %v: hedge latency %v", o.ExecutionID, o.PlacedAt, o.FilledAt, kitDeref(o.HedgeLatencyMS))
			}
			if o.ReferencePrice != nil && o.AvgPrice != nil {
				want := o.AvgPrice.Sub(*o.ReferencePrice)
				if o.Direction == "Sell" {
					want = want.Neg()
				}
				bps := want.Mul(decimal.NewFromInt(10000)).DivRound(*o.ReferencePrice, 2)
				if o.SlippagePerShare == nil || !o.SlippagePerShare.Equal(want) || o.SlippageBps == nil || !o.SlippageBps.Equal(bps) ||
					o.SlippageUSD == nil || !o.SlippageUSD.Equal(want.Mul(o.SharesFilled)) {
					t.Errorf("filled order %s %s at %s, reference %s: slippage %v/share %v USD %v bps; want %s/share %s bps",
						o.ExecutionID, o.Direction, o.AvgPrice, o.ReferencePrice, o.SlippagePerShare, o.SlippageUSD, o.SlippageBps, want, bps)
				}
			}
		}
		var others []sinks.Order
		apiGet(t, base+"/api/orders?status=Pending,Submitted,PartiallyFilled,Failed", 200, &others)
		if len(others) != len(all)-n {
			t.Errorf("%d orders not Filled, the other statuses gave %d", len(all)-n, len(others))
		}
	})

	t.Run("aggregate_events", func(t *testing.T) {
		sym := pnls[0].Symbol
		var envs []topics.EventEnvelope
		apiGet(t, base+"/api/aggregates/Position/"+url.PathEscape(sym)+"/events", 200, &envs)
		h := hists[sym]
		if len(envs) != len(h.events) {
			t.Fatalf("%d events of Position %s, Kafka has %d", len(envs), sym, len(h.events))
		}
		for i, e := range envs {
			if e.AggregateID != sym || e.Sequence != uint64(i+1) || e.EventType != h.events[i].EventType {
				t.Errorf("event %d: %s#%d %s, want %s#%d %s", i, e.AggregateID, e.Sequence, e.EventType, sym, i+1, h.events[i].EventType)
			}
		}
		// A fill's trade: its events sit under a symbol-prefixed key.
		var trades []sinks.Trade
		apiGet(t, base+"/api/trades?limit=1", 200, &trades)
		tevs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.OnChainTradeEvents))
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, e := range tevs {
			if e.AggregateID == trades[0].ID {
				want++
			}
		}
		envs = nil
		apiGet(t, base+"/api/aggregates/OnChainTrade/"+url.PathEscape(trades[0].ID)+"/events", 200, &envs)
		if want == 0 || len(envs) != want {
			t.Errorf("OnChainTrade %s: %d events from the API, %d on Kafka", trades[0].ID, len(envs), want)
		}
		for i, e := range envs {
			if e.AggregateID != trades[0].ID || e.Sequence != uint64(i+1) {
				t.Errorf("OnChainTrade event %d: %s#%d", i, e.AggregateID, e.Sequence)
			}
		}
		apiError(t, base+"/api/aggregates/Position/NOSUCH/events", 404, "NOSUCH")
		apiError(t, base+"/api/aggregates/Nope/x/events", 400, "parameter type")
	})

	// The sample's fills are not enriched: enrich the oldest as the chain
	// source would (21,000 gas at 1.5 gwei, ETH at 3000.12345) and read its
	// gas cost back; the other trades have none.
	t.Run("trade_gas", func(t *testing.T) {
		var trades []sinks.Trade
		apiGet(t, base+"/api/trades", 200, &trades)
		tr := trades[len(trades)-1]
		rec, err := topics.CommandRecord(topics.CommandEnvelope{AggregateType: topics.OnChainTrade, AggregateID: tr.ID,
			CommandID: "test:enrich:" + tr.ID, IssuedAt: time.Now().UTC(), CorrelationID: "test", CausationID: "test"},
			onchaintrade.Enrich{GasUsed: 21_000, EffectiveGasPrice: 1_500_000_000,
				ETHUSDPrice: &market.PythPrice{Value: "300012345000", Expo: -8, Conf: "150000000", PublishTime: tr.BlockTimestamp}},
			topics.SymbolKey(tr.BaseSymbol, tr.ID))
		if err != nil {
			t.Fatal(err)
		}
		kitProduce(t, kitNewProducer(t, addr), rec)
		q := "/api/trades?symbol=" + tr.BaseSymbol + "&to=" + url.QueryEscape(tr.BlockTimestamp.Add(time.Microsecond).Format(time.RFC3339Nano))
		var body []byte
		kitWaitFor(t, 30*time.Second, "the enriched trade's gas cost in /api/trades", func() (bool, string) {
			body = apiGet(t, base+q, 200, nil)
			return bytes.Contains(body, []byte(`"gas_cost_eth"`)), string(body)
		})
		var rows []map[string]json.RawMessage
		if err := json.Unmarshal(body, &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want := map[string]string{"gas_cost_eth": `"0.0000315"`, "eth_usd_price": `"3000.12345"`, "gas_cost_usd": `"0.094503888675"`}
			if string(r["id"]) != `"`+tr.ID+`"` {
				want = map[string]string{"gas_cost_eth": "", "eth_usd_price": "", "gas_cost_usd": ""} // absent
			}
			for k, v := range want {
				if string(r[k]) != v {
					t.Errorf("%s: trade %s has %s = %s, want %q", q, r["id"], k, r[k], v)
				}
			}
		}
		if want := cli("trades", "--symbol", tr.BaseSymbol, "--to", tr.BlockTimestamp.Add(time.Microsecond).Format(time.RFC3339Nano)); !bytes.Equal(body, want) {
			t.Errorf("%s differs from trades --json:\n%s\nvs\n%s", q, body, want)
		}
		var table bytes.Buffer
		if err := dispatch(ctx, []string{"trades", "--clickhouse", chAddr, "--limit", "1000"}, &table, io.Discard); err != nil {
			t.Fatal(err)
		}
		if out := table.String(); !strings.Contains(out, "GAS_ETH") || !strings.Contains(out, " 0.0000315 ") || !strings.Contains(out, " 0.094503888675 ") {
			t.Errorf("trades table lacks the gas cost:\n%s", out)
		}
	})

	t.Run("health", func(t *testing.T) {
		var h api.Health
		apiGet(t, base+"/api/health", 200, &h)
		if h.Status != "live" {
			t.Errorf("liveness = %+v", h)
		}
		apiGet(t, base+"/api/health?ready=true", 200, &h)
		if h.Status != "ready" || h.ClickHouse == nil || !h.ClickHouse.OK || h.Kafka == nil || !h.Kafka.OK || len(h.Lag) == 0 {
			t.Errorf("readiness = %+v", h)
		}
		for g, l := range h.Lag {
			if l.Error != "" || l.Total < 0 || len(l.ByTopic) == 0 {
				t.Errorf("lag of %s = %+v", g, l)
			}
		}
		var doc map[string]any
		apiGet(t, base+"/api/openapi.json", 200, &doc)
		apiError(t, base+"/api/pnl?from=yesterday", 400, "parameter from")
		apiError(t, base+"/api/nosuch", 404, "/api/nosuch")

		// serve's /metrics counts these requests by route pattern (ids
		// never become labels) and status code.
		before, err := kitScrape(metricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		const n = 3
		for range n {
			apiGet(t, base+"/api/positions", 200, nil)
			apiError(t, base+"/api/trades?limit=0", 400, "parameter limit")
		}
		after, err := kitScrape(metricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ route, code string }{{"/api/positions", "200"}, {"/api/trades", "400"}} {
			want := map[string]string{"route": c.route, "code": c.code}
			v0, _ := kitMetric(before, "hedgeline_api_requests_total", want)
			v1, _ := kitMetric(after, "hedgeline_api_requests_total", want)
			if v1-v0 != n {
				t.Errorf("hedgeline_api_requests_total%v went %v -> %v, want +%d", want, v0, v1, n)
			}
		}
		if _, series := kitMetric(after, "hedgeline_api_requests_total", map[string]string{"route": "/api/aggregates/{type}/{id}/events", "code": "200"}); series != 1 {
			t.Errorf("aggregate events requests counted under %d series, want 1 (the route pattern)", series)
		}
		if v, _ := kitMetric(after, "hedgeline_api_requests_total", map[string]string{"route": "other", "code": "404"}); v < 1 {
			t.Error("the unknown path's 404 was not counted as route other")
		}
		if v, _ := kitMetric(after, "hedgeline_ready", nil); v != 1 {
			t.Errorf("hedgeline_ready = %v while serving", v)
		}
	})

	// The page at / in a real browser, against these endpoints.
	t.Run("page", func(t *testing.T) { testServePage(t, base) })

	t.Run("empty_database", func(t *testing.T) {
		srv, err := api.New(api.Config{ClickHouse: sinks.Config{Addr: chAddr, Database: "serve_test_empty"}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		for _, p := range []string{"/api/pnl", "/api/pnl/history", "/api/positions", "/api/trades", "/api/orders"} {
			if got := apiGet(t, hs.URL+p, 200, nil); string(got) != "[]\n" {
				t.Errorf("%s on an empty database: %s", p, got)
			}
		}
		var h api.Health
		apiGet(t, hs.URL+"/api/health?ready=1", 200, &h)
		if h.Status != "ready" || h.Kafka != nil {
			t.Errorf("readiness without brokers = %+v", h)
		}
		apiError(t, hs.URL+"/api/aggregates/Position/AAPL/events", 503, "--brokers")
	})

	t.Run("clickhouse_down", func(t *testing.T) {
		srv, err := api.New(api.Config{ClickHouse: sinks.Config{Addr: kitFreeAddr(t)}, Kafka: kafkasec.Plaintext(addr)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		var h api.Health
		apiGet(t, hs.URL+"/api/health", 200, &h)
		apiGet(t, hs.URL+"/api/health?ready=true", 503, &h)
		if h.Status != "not ready" || h.ClickHouse == nil || h.ClickHouse.OK || h.ClickHouse.Error == "" || h.Kafka == nil || !h.Kafka.OK {
			t.Errorf("readiness with ClickHouse down = %+v", h)
		}
		apiError(t, hs.URL+"/api/pnl", 503, "clickhouse")
	})
}

// apiGet fetches url, wants status code and a JSON body, decodes it into v
// (when not nil) and returns the body.
func apiGet(t *testing.T, url string, code int, v any) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != code || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s (%s), want %d:\n%s", url, resp.Status, resp.Header.Get("Content-Type"), code, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, body)
		}
	}
	return body
}

// withoutAges is a JSON array of objects without their pending_age_seconds.
func withoutAges(t *testing.T, b []byte) []byte {
	t.Helper()
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, r := range rows {
		delete(r, "pending_age_seconds")
	}
	out, _ := json.Marshal(rows)
	return out
}

// kitTruncate18 cuts r toward zero to 18 decimal places.
func kitTruncate18(r *big.Rat) *big.Rat {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	n := new(big.Int).Mul(r.Num(), scale)
	n.Quo(n, r.Denom())
	return new(big.Rat).SetFrac(n, scale)
}

// kitEnrich sends the chain source's Enrich command for a fill.
func kitEnrich(t *testing.T, addr string, f file.Fill, e onchaintrade.Enrich) {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	id := f.TradeID.String()
	cl := kitNewProducer(t, addr)
	kitProduce(t, cl, kitCommandRecord(t, topics.OnChainTradeCommands, topics.SymbolKey(string(f.Symbol.Base), id), topics.CommandEnvelope{
		AggregateType: topics.OnChainTrade, AggregateID: id, CommandID: "test:enrich:" + id, CommandType: "Enrich",
		CommandVersion: 1, IssuedAt: time.Now().UTC(), CorrelationID: "test", CausationID: "test", Payload: payload}))
}

// apiError wants status code and a JSON error mentioning want.
func apiError(t *testing.T, url string, code int, want string) {
	t.Helper()
	var e api.Error
	apiGet(t, url, code, &e)
	if !strings.Contains(strings.ToLower(e.Error), strings.ToLower(want)) {
		t.Errorf("GET %s: error %q does not mention %q", url, e.Error, want)
	}
}

func kitDeref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
