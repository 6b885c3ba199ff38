package sinks

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// ts formats a scenario time as ClickHouse prints DateTime64(6).
func chTime(sec int) string { return at(sec).Format("2006-01-02 15:04:05.000000") }

// checkScenario asserts every projection table and analytics view holds
// exactly what the scenario's events imply, field by field. The expected
// values are worked out by hand from the story in newScenario.
func checkScenario(t *testing.T, db *DB, s *scenario) {
	t.Helper()
	id1, id2, id3 := txHash(1)+":1", txHash(2)+":3", txHash(3)+":0"
	checkRows(t, "onchain_trade_view", tableRows(t, db, "onchain_trade_view", "aggregate_id", "state"), []row{
		{"aggregate_id": id1, "sequence": "2", "tx_hash": txHash(1), "log_index": "1", "block_number": "1",
			"block_timestamp": chTime(0), "filled_at": chTime(2), "symbol": "tAAPL", "base_symbol": "AAPL",
			"direction": "Sell", "amount": "0.6", "price_usdc": "150", "gas_used": "21000",
			"effective_gas_price": "1500000000", "pyth_price": "150.12345", "pyth_conf": "0.021",
			"pyth_publish_time": chTime(1), "enriched_at": chTime(60), "migrated": "0", "status": "live", "failure": "",
			// 21000 × 1.5e9 wei = 3.15e13 wei; × 3000.12345 USD/ETH.
			"gas_cost_eth": "0.0000315", "eth_usd_price": "3000.12345", "gas_cost_usd": "0.094503888675"},
		{"aggregate_id": id2, "sequence": "1", "tx_hash": txHash(2), "log_index": "3", "block_number": "2",
			"block_timestamp": chTime(12), "filled_at": chTime(14), "symbol": "tAAPL", "base_symbol": "AAPL",
			"direction": "Sell", "amount": "0.7", "price_usdc": "151", "gas_used": "NULL",
			"effective_gas_price": "NULL", "pyth_price": "NULL", "pyth_conf": "NULL",
			"pyth_publish_time": "NULL", "enriched_at": "NULL", "migrated": "0", "status": "live", "failure": "",
			"gas_cost_eth": "NULL", "eth_usd_price": "NULL", "gas_cost_usd": "NULL"},
		{"aggregate_id": id3, "sequence": "1", "tx_hash": txHash(3), "log_index": "0", "block_number": "3",
			"block_timestamp": chTime(28), "filled_at": chTime(29), "symbol": "NVDAs1", "base_symbol": "NVDA",
			"direction": "Buy", "amount": "2", "price_usdc": "100", "gas_used": "NULL", "enriched_at": "NULL",
			"migrated": "0", "status": "live"},
	})

	checkRows(t, "position_view", tableRowsWhere(t, db, "position_view", "aggregate_id IN ('AAPL', 'NVDA')", "aggregate_id", "state"), []row{
		{"aggregate_id": "AAPL", "sequence": "5", "symbol": "AAPL", "net": "-0.3", "accumulated_long": "0",
			"accumulated_short": "1.3", "hedged_shares": "1", "pending_execution_id": "", "pending_shares": "NULL",
			"pending_direction": "", "pending_placed_at": "NULL", "threshold_kind": "shares", "threshold_value": "1",
			"broker": "dry_run", "fractional": "0", "last_price_usdc": "151", "last_updated": chTime(20),
			"status": "live", "failure": ""},
		{"aggregate_id": "NVDA", "sequence": "5", "symbol": "NVDA", "net": "2", "accumulated_long": "2",
			"accumulated_short": "0", "hedged_shares": "0", "pending_execution_id": s.exec3, "pending_shares": "2",
			"pending_direction": "Sell", "pending_placed_at": chTime(36), "threshold_kind": "shares", "threshold_value": "1",
			"broker": "dry_run", "fractional": "0", "last_price_usdc": "100", "last_updated": chTime(36),
			"status": "live", "failure": ""},
	})

	hedges := map[string]row{
		s.exec1: {"execution_id": s.exec1, "aggregate_id": "AAPL", "sequence": "5", "symbol": "AAPL", "status": "filled",
			"direction": "Buy", "shares": "1", "broker": "dry_run", "trigger_kind": "shares", "trigger_net_position": "-1.3",
			"reference_price": "151", "trigger_block_timestamp": chTime(12), "trigger_seen_at": chTime(15),
			"placed_at": chTime(15), "filled_at": chTime(20), "broker_order_id": "brk-1", "fill_price": "150.5",
			"shares_filled": "1", "failed_at": "NULL", "error": "", "slippage_per_share": "-0.5", "slippage_usd": "-0.5"},
		s.exec2: {"execution_id": s.exec2, "aggregate_id": "NVDA", "sequence": "4", "symbol": "NVDA", "status": "failed",
			"direction": "Sell", "shares": "2", "broker": "dry_run", "trigger_kind": "shares", "trigger_net_position": "2",
			"reference_price": "100", "trigger_block_timestamp": chTime(28), "trigger_seen_at": chTime(30),
			"placed_at": chTime(30), "filled_at": "NULL", "broker_order_id": "", "fill_price": "NULL",
			"shares_filled": "NULL", "failed_at": chTime(36), "error": "rejected by broker",
			"slippage_per_share": "NULL", "slippage_usd": "NULL"},
		s.exec3: {"execution_id": s.exec3, "aggregate_id": "NVDA", "sequence": "5", "symbol": "NVDA", "status": "placed",
			"direction": "Sell", "shares": "2", "trigger_kind": "shares", "trigger_net_position": "2", "reference_price": "100",
			"trigger_block_timestamp": chTime(28), "trigger_seen_at": chTime(30), "placed_at": chTime(36),
			"filled_at": "NULL", "failed_at": "NULL", "error": "", "slippage_per_share": "NULL"},
	}
	checkRows(t, "hedge_view", tableRows(t, db, "hedge_view", "execution_id"), sortedBy(hedges))

	orders := map[string]row{
		s.exec1: {"aggregate_id": s.exec1, "sequence": "3", "symbol": "AAPL", "status": "Filled", "broker": "dry_run",
			"broker_order_id": "brk-1", "shares": "1", "shares_filled": "1", "direction": "Buy", "price": "150.5",
			"avg_price": "NULL", "reference_price": "151", "placed_at": chTime(16), "submitted_at": chTime(17),
			"partially_filled_at": "NULL", "filled_at": chTime(20), "failed_at": "NULL", "error": "", "migrated": "0",
			"lifecycle": "live", "failure": ""},
		s.exec2: {"aggregate_id": s.exec2, "sequence": "2", "symbol": "NVDA", "status": "Failed", "broker": "dry_run",
			"broker_order_id": "", "shares": "2", "shares_filled": "0", "direction": "Sell", "price": "NULL",
			"reference_price": "100", "placed_at": chTime(31), "submitted_at": "NULL", "filled_at": "NULL",
			"failed_at": chTime(35), "error": "rejected by broker", "lifecycle": "live"},
	}
	checkRows(t, "offchain_order_view", tableRows(t, db, "offchain_order_view", "aggregate_id", "state"), sortedBy(orders))

	checkRows(t, "metrics_pnl", tableRows(t, db, "metrics_pnl", "symbol, position_sequence"), []row{
		{"symbol": "AAPL", "position_sequence": "2", "venue": "onchain", "direction": "Sell", "quantity": "0.6", "price": "150",
			"realized_pnl": "0", "opened": "1", "cumulative_pnl": "0", "net_position_after": "-0.6", "occurred_at": chTime(0)},
		{"symbol": "AAPL", "position_sequence": "3", "venue": "onchain", "direction": "Sell", "quantity": "0.7", "price": "151",
			"realized_pnl": "0", "opened": "1", "cumulative_pnl": "0", "net_position_after": "-1.3", "occurred_at": chTime(12)},
		// Buy 1 @150.5 closes 0.6 short @150 (-0.3) and 0.4 of the @151 lot (+0.2).
		{"symbol": "AAPL", "position_sequence": "5", "venue": "offchain", "direction": "Buy", "quantity": "1", "price": "150.5",
			"realized_pnl": "-0.1", "opened": "0", "cumulative_pnl": "-0.1", "net_position_after": "-0.3", "occurred_at": chTime(20)},
		{"symbol": "NVDA", "position_sequence": "2", "venue": "onchain", "direction": "Buy", "quantity": "2", "price": "100",
			"realized_pnl": "0", "opened": "1", "cumulative_pnl": "0", "net_position_after": "2", "occurred_at": chTime(28)},
	})
	checkRows(t, "pnl_summary", tableRows(t, db, "pnl_summary", "symbol", "state"), []row{
		{"symbol": "AAPL", "last_sequence": "5", "realized_pnl": "-0.1", "net_position": "-0.3", "onchain_volume": "1.3",
			"offchain_volume": "1", "fills": "3", "last_occurred_at": chTime(20)},
		{"symbol": "NVDA", "last_sequence": "2", "realized_pnl": "0", "net_position": "2", "onchain_volume": "2",
			"offchain_volume": "0", "fills": "1", "last_occurred_at": chTime(28)},
	})

	latency := map[string]row{
		s.exec1: {"execution_id": s.exec1, "symbol": "AAPL", "status": "filled", "submitted_at": chTime(17),
			"block_to_placed_ms": "3000", "seen_to_placed_ms": "0", "placed_to_submitted_ms": "2000", "placed_to_filled_ms": "5000"},
		s.exec2: {"execution_id": s.exec2, "symbol": "NVDA", "status": "failed", "submitted_at": "NULL",
			"block_to_placed_ms": "2000", "seen_to_placed_ms": "0", "placed_to_submitted_ms": "NULL", "placed_to_filled_ms": "NULL"},
		s.exec3: {"execution_id": s.exec3, "symbol": "NVDA", "status": "placed", "submitted_at": "NULL",
			"block_to_placed_ms": "8000", "seen_to_placed_ms": "6000", "placed_to_submitted_ms": "NULL", "placed_to_filled_ms": "NULL"},
	}
	checkRows(t, "hedge_latency", tableRows(t, db, "hedge_latency", "execution_id"), sortedBy(latency))

	checkRows(t, "symbol_hourly", tableRows(t, db, "symbol_hourly", "symbol, hour"), []row{
		// notional: 0.6*150 + 0.7*151 = 195.7
		{"symbol": "AAPL", "hour": "2025-10-01 14:00:00", "onchain_volume": "1.3", "offchain_volume": "1",
			"onchain_notional": "195.7", "offchain_notional": "150.5", "realized_pnl": "-0.1", "fills": "3"},
		{"symbol": "NVDA", "hour": "2025-10-01 14:00:00", "onchain_volume": "2", "offchain_volume": "0",
			"onchain_notional": "200", "offchain_notional": "0", "realized_pnl": "0", "fills": "1"},
	})

	// The state column is the folded lifecycle the projector resumes from.
	var js string
	if err := db.Conn().QueryRow(testCtx(t), "SELECT state FROM position_view FINAL WHERE aggregate_id = 'NVDA'").Scan(&js); err != nil {
		t.Fatal(err)
	}
	var st PositionState
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("state %s: %v", js, err)
	}
	if st.Lifecycle.Version != 5 || st.Lifecycle.State.Pending == nil || st.Lifecycle.State.Pending.ExecutionID != s.exec3 ||
		st.Hedge == nil || st.Hedge.ExecutionID != s.exec3 || !st.LastFillSeenAt.Equal(at(30)) {
		t.Errorf("NVDA state = %s", js)
	}
}

func sortedBy(m map[string]row) []row {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]row, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// runAll runs every projection against db until it has committed every
// record on its topic.
func runAll(t *testing.T, db *DB, addr string, opts Options) []*runner {
	t.Helper()
	var rs []*runner
	for _, p := range Projections() {
		o := opts
		if o.Group != "" {
			o.Group += "-" + p.Name()
		}
		rs = append(rs, startProjector(t, db, addr, p, o))
	}
	for _, r := range rs {
		r.waitCommitted(t, addr, time.Minute)
	}
	return rs
}

// TestScenario projects the scenario's events through all four
// projections and checks every table and view field by field, then the
// typed queries.
// produceScenario starts a broker and produces every event of the
// scenario to it, each topic in order.
func produceScenario(t *testing.T) (*scenario, string) {
	t.Helper()
	addr := startKafka(t)
	s := newScenario(t)
	cl := producer(t, addr)
	for _, topic := range scenarioTopics {
		produce(t, cl, clone(s.all(topic))...)
	}
	return s, addr
}

func TestScenario(t *testing.T) {
	db := testDB(t)
	s, addr := produceScenario(t)
	runAll(t, db, addr, Options{})
	checkScenario(t, db, s)
	t.Run("queries", func(t *testing.T) { checkQueries(t, db, s) })
	t.Run("queries_doc", func(t *testing.T) { checkQueriesDoc(t, db) })
}
