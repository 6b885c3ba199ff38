package sinks

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"
)

func eqDec(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) || got.String() != dec(want).String() {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// checkQueries runs the typed read functions over the projected scenario.
func checkQueries(t *testing.T, db *DB, s *scenario) {
	ctx := testCtx(t)
	all, err := db.PnL(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(all)
	// AAPL's open lot is the 0.3 short its last on-chain fill opened at
	// 151, so it is marked at cost; the off-chain buy at 20 s closed
	// on-chain lots opened 8 s before: a counter trade.
	want := `[{"symbol":"AAPL","realized_pnl":"-0.1","net_position":"-0.3","onchain_volume":"1.3","offchain_volume":"1","fills":3,` +
		`"unrealized_pnl":"0","total_pnl":"-0.1","mark_price":"151","mark_source":"last_fill","mark_time":"2025-10-01T14:30:12Z",` +
		`"cost_basis":"-45.3","counter_trade_pnl":"-0.1","onchain_netting_pnl":"0","directional_exposure_pnl":"0"},` +
		`{"symbol":"NVDA","realized_pnl":"0","net_position":"2","onchain_volume":"2","offchain_volume":"0","fills":1,` +
		`"unrealized_pnl":"0","total_pnl":"0","mark_price":"100","mark_source":"last_fill","mark_time":"2025-10-01T14:30:28Z",` +
		`"cost_basis":"200","counter_trade_pnl":"0","onchain_netting_pnl":"0","directional_exposure_pnl":"0"}]`
	if string(js) != want {
		t.Errorf("PnL all time:\n got %s\nwant %s", js, want)
	}
	nv, err := db.PnL(ctx, Filter{Symbols: []string{"NVDA"}})
	if err != nil || len(nv) != 1 || nv[0].Symbol != "NVDA" {
		t.Errorf("PnL NVDA = %+v, %v", nv, err)
	}
	// [at(10), at(25)): AAPL's fills at 12 (sell 0.7) and 20 (buy 1 off-chain).
	ranged, err := db.PnL(ctx, Filter{From: at(10), To: at(25)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ranged) != 1 {
		t.Fatalf("PnL in range = %+v", ranged)
	}
	r := ranged[0]
	if r.Symbol != "AAPL" || r.Fills != 2 {
		t.Errorf("PnL in range = %+v", r)
	}
	eqDec(t, "range realized", r.RealizedPnL, "-0.1")
	eqDec(t, "range net", r.NetPosition, "-0.3")
	eqDec(t, "range onchain", r.OnchainVolume, "0.7")
	eqDec(t, "range offchain", r.OffchainVolume, "1")

	ps, err := db.Positions(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Symbol != "AAPL" || ps[1].Symbol != "NVDA" {
		t.Fatalf("Positions = %+v", ps)
	}
	eqDec(t, "AAPL net", ps[0].Net, "-0.3")
	eqDec(t, "AAPL hedged", ps[0].HedgedShares, "1")
	if ps[0].PendingShares != nil || ps[0].LastPriceUSDC == nil || !ps[0].LastUpdated.Equal(at(20)) || ps[0].Sequence != 5 {
		t.Errorf("AAPL position = %+v", ps[0])
	}
	if p := ps[1]; p.PendingExecutionID != s.exec3 || p.PendingShares == nil || !p.PendingShares.Equal(dec("2")) ||
		p.PendingDirection != "Sell" || p.ThresholdKind != "shares" || p.Broker != "dry_run" || p.Status != "live" {
		t.Errorf("NVDA position = %+v", p)
	}
	if ps, err := db.Positions(ctx, Filter{From: at(30)}); err != nil || len(ps) != 1 || ps[0].Symbol != "NVDA" {
		t.Errorf("Positions updated from at(30) = %+v, %v", ps, err)
	}

	trs, err := db.Trades(ctx, Filter{Symbols: []string{"AAPL"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 2 || trs[0].ID != txHash(2)+":3" || trs[1].ID != txHash(1)+":1" {
		t.Fatalf("AAPL trades = %+v", trs)
	}
	tr := trs[1]
	if tr.GasUsed == nil || *tr.GasUsed != 21000 || tr.PythPrice == nil || tr.PythPrice.String() != "150.12345" ||
		tr.Symbol != "tAAPL" || tr.BaseSymbol != "AAPL" || tr.LogIndex != 1 || !tr.BlockTimestamp.Equal(at(0)) || tr.Sequence != 2 {
		t.Errorf("trade 1 = %+v", tr)
	}
	eqDec(t, "trade 1 amount", tr.Amount, "0.6")
	if tr.GasCostETH == nil || tr.ETHUSDPrice == nil || tr.GasCostUSD == nil {
		t.Fatalf("trade 1 gas cost = %v ETH at %v = %v USD", tr.GasCostETH, tr.ETHUSDPrice, tr.GasCostUSD)
	}
	eqDec(t, "trade 1 gas cost ETH", *tr.GasCostETH, "0.0000315")
	eqDec(t, "trade 1 ETH/USD", *tr.ETHUSDPrice, "3000.12345")
	eqDec(t, "trade 1 gas cost USD", *tr.GasCostUSD, "0.094503888675")
	if js, _ := json.Marshal(tr); !strings.Contains(string(js), `"gas_cost_eth":"0.0000315","eth_usd_price":"3000.12345","gas_cost_usd":"0.094503888675"`) {
		t.Errorf("trade 1 JSON: %s", js)
	}
	if u := trs[0]; u.GasCostETH != nil || u.ETHUSDPrice != nil || u.GasCostUSD != nil {
		t.Errorf("trade 2 (not enriched) has a gas cost: %+v", u)
	}
	if trs, err := db.Trades(ctx, Filter{From: at(10)}); err != nil || len(trs) != 2 || trs[0].BaseSymbol != "NVDA" {
		t.Errorf("trades from at(10) = %+v, %v", trs, err)
	}
	if trs, err := db.Trades(ctx, Filter{Limit: 1}); err != nil || len(trs) != 1 || trs[0].BaseSymbol != "NVDA" {
		t.Errorf("newest trade = %+v, %v", trs, err)
	}

	os, err := db.Orders(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(os) != 2 || os[0].ExecutionID != s.exec2 || os[1].ExecutionID != s.exec1 {
		t.Fatalf("Orders = %+v", os)
	}
	o := os[1]
	if o.Status != "Filled" || o.Price == nil || o.Price.String() != "150.5" || o.SubmittedAt == nil ||
		!o.SubmittedAt.Equal(at(17)) || o.FailedAt != nil || o.BrokerOrderID != "brk-1" {
		t.Errorf("AAPL order = %+v", o)
	}
	if os, err := db.Orders(ctx, Filter{Symbols: []string{"NVDA"}, To: at(31)}); err != nil || len(os) != 0 {
		t.Errorf("NVDA orders placed before at(31) = %+v, %v", os, err)
	}
	filled, err := db.Orders(ctx, Filter{Statuses: []string{"Filled"}})
	if err != nil || len(filled) == 0 {
		t.Fatalf("Filled orders = %+v, %v", filled, err)
	}
	for _, o := range filled {
		if o.Status != "Filled" {
			t.Errorf("status filter Filled returned %+v", o)
		}
	}
	if none, err := db.Orders(ctx, Filter{Statuses: []string{"NoSuchStatus"}}); err != nil || len(none) != 0 {
		t.Errorf("orders of an unknown status = %+v, %v", none, err)
	}

	// The history's buckets add up to the all-time figures, and its running
	// sum ends at the realized PnL.
	hist, err := db.PnLHistory(ctx, Filter{}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range all {
		sum, fills, last := decimal.Zero, 0, PnLPoint{}
		for _, p := range hist {
			if p.Symbol == w.Symbol {
				if !last.Bucket.IsZero() && !p.Bucket.After(last.Bucket) {
					t.Errorf("history %s: bucket %s after %s", w.Symbol, p.Bucket, last.Bucket)
				}
				if p.Bucket.Unix()%10 != 0 {
					t.Errorf("history %s: bucket %s not aligned to 10 s", w.Symbol, p.Bucket)
				}
				sum, fills, last = sum.Add(p.RealizedPnL), fills+p.Fills, p
			}
		}
		eqDec(t, "history realized "+w.Symbol, sum, w.RealizedPnL.String())
		eqDec(t, "history cumulative "+w.Symbol, last.CumulativePnL, w.RealizedPnL.String())
		eqDec(t, "history net "+w.Symbol, last.NetPosition, w.NetPosition.String())
		if fills != w.Fills {
			t.Errorf("history %s: %d fills, want %d", w.Symbol, fills, w.Fills)
		}
	}
	if _, err := db.PnLHistory(ctx, Filter{}, 1500*time.Millisecond); err == nil {
		t.Error("PnLHistory accepted a bucket of 1.5 s")
	}
}

// checkQueriesDoc runs every SQL block of QUERIES.md, so the documented
// queries keep working, and checks the constants are documented verbatim.
func checkQueriesDoc(t *testing.T, db *DB) {
	md, blocks := queriesDoc(t)
	for _, q := range []string{QueryPnL, QueryPnLRange, QueryPositions, QueryTrades, QueryOrders, QueryPnLHistory} {
		if !strings.Contains(md, q) {
			t.Errorf("QUERIES.md lacks:\n%s", q)
		}
	}
	if len(blocks) < 8 {
		t.Fatalf("QUERIES.md has %d sql blocks", len(blocks))
	}
	for _, q := range blocks {
		rows, err := db.Conn().Query(testCtx(t), q, append(Filter{Symbols: []string{"AAPL"}, From: t0, To: at(3600)}.params(true), clickhouse.Named("bucket", uint32(60)))...)
		if err != nil {
			t.Errorf("QUERIES.md query fails: %v\n%s", err, q)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		// projection_gaps lists open gaps: none in a complete stream (see
		// checkOpenGap for one with a row).
		if err := rows.Err(); err != nil || (n == 0 && !strings.Contains(q, GapsView)) {
			t.Errorf("QUERIES.md query: %d rows, %v\n%s", n, err, q)
		}
		rows.Close()
	}
}

// queriesDoc returns QUERIES.md and its SQL blocks.
func queriesDoc(t testing.TB) (string, []string) {
	t.Helper()
	md, err := os.ReadFile("QUERIES.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(md), "```sql\n")[1:] {
		blocks = append(blocks, strings.TrimSpace(part[:strings.Index(part, "```")]))
	}
	return string(md), blocks
}
