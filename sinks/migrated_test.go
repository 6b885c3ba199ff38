package sinks

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

// A migrated position (issue 13): its legacy trade and orders in the
// trade and order views marked migrated, its net as migrated, its legacy
// fills in the PnL views, and the legacy hedge that was in flight in
// hedge_view from the migration to its fill, which books PnL but leaves
// net alone (the legacy net had counted it).
//
//	TSLA: legacy on-chain Sell 5 @200; legacy hedge Buy 3 in flight (net
//	      -5 + 3 = -2 as the legacy bot kept it), filled at 190 after the
//	      cut-over: realized (200-190)*3 = 30, net stays -2.
func TestMigratedPositionViews(t *testing.T) {
	w := newWorld(t)
	const exec = "6f1c1c6e-4b8e-5f2a-9d3e-0000000000a1"
	id := market.TradeID{TxHash: txHash(9), LogIndex: 2}
	w.trade(id, "TSLA", onchaintrade.Migrate{TradeID: id, Symbol: "tTSLA", Amount: dec("5"), Direction: market.Sell,
		PriceUSDC: dec("200"), BlockTimestamp: at(0)}, at(100))
	th, err := market.SharesThreshold(dec("5")) // |net| 2 stays below it: no new hedge
	if err != nil {
		t.Fatal(err)
	}
	ex := market.DefaultExecution(market.DryRun)
	w.position("TSLA", position.Migrate{Symbol: "TSLA", NetPosition: dec("-2"), AccumulatedLong: dec("0"), AccumulatedShort: dec("5"),
		Threshold: th, Execution: ex, Pending: &position.MigratedPending{ExecutionID: exec, Shares: dec("3"), Direction: market.Buy}}, at(100))
	w.position("TSLA", position.RecordMigratedFill{Symbol: "TSLA", Venue: position.VenueOnChain, SourceID: id.String(),
		Direction: market.Sell, Amount: dec("5"), PriceUSDC: dec("200"), At: at(0)}, at(101))
	brokerID := "LEG-1"
	w.order(exec, offchainorder.Migrate{Symbol: "TSLA", Shares: dec("3"), Direction: market.Buy, Broker: market.DryRun,
		Status: offchainorder.StatusSubmitted, BrokerOrderID: &brokerID, LegacyID: 7}, at(102))
	w.order(exec, offchainorder.CompleteFill{Price: dec("190")}, at(110))
	if evs := w.position("TSLA", position.CompleteOffChainOrder{ExecutionID: exec, SharesFilled: dec("3"), Direction: market.Buy,
		BrokerOrderID: brokerID, Price: dec("190"), BrokerTimestamp: at(110)}, at(111)); len(evs) != 1 {
		t.Fatalf("the reserved hedge's fill placed a new hedge: %v", evs)
	}

	db := testDB(t)
	for _, p := range Projections() {
		projectOnce(t, db, p, w.all(p.Topic()))
	}
	checkRows(t, "onchain_trade_view", tableRows(t, db, "onchain_trade_view", "aggregate_id"), []row{
		{"aggregate_id": id.String(), "base_symbol": "TSLA", "block_number": "0", "migrated": "1", "status": "live"},
	})
	checkRows(t, "offchain_order_view", tableRows(t, db, "offchain_order_view", "aggregate_id"), []row{
		{"aggregate_id": exec, "status": "Filled", "broker_order_id": "LEG-1", "price": "190", "migrated": "1", "lifecycle": "live"},
	})
	checkRows(t, "position_view", tableRows(t, db, "position_view", "aggregate_id"), []row{
		{"aggregate_id": "TSLA", "sequence": "3", "net": "-2", "accumulated_long": "0", "accumulated_short": "5",
			"hedged_shares": "0", "pending_execution_id": "", "status": "live", "failure": ""},
	})
	checkRows(t, "hedge_view", tableRows(t, db, "hedge_view", "execution_id"), []row{
		{"execution_id": exec, "symbol": "TSLA", "sequence": "3", "status": "filled", "direction": "Buy", "shares": "3",
			"trigger_kind": TriggerMigrated, "trigger_net_position": "-2", "trigger_block_timestamp": "NULL",
			"placed_at": chTime(100), "filled_at": chTime(110), "broker_order_id": "LEG-1", "fill_price": "190", "shares_filled": "3"},
	})
	// The pipeline did not place it: no latency.
	checkRows(t, "hedge_latency", tableRows(t, db, "hedge_latency", "execution_id"), nil)
	checkRows(t, "metrics_pnl", tableRows(t, db, "metrics_pnl", "position_sequence"), []row{
		{"symbol": "TSLA", "position_sequence": "2", "venue": "onchain", "direction": "Sell", "quantity": "5", "price": "200",
			"realized_pnl": "0", "opened": "1", "net_position_after": "-5", "occurred_at": chTime(0)},
		{"symbol": "TSLA", "position_sequence": "3", "venue": "offchain", "direction": "Buy", "quantity": "3", "price": "190",
			"realized_pnl": "30", "cumulative_pnl": "30", "net_position_after": "-2", "occurred_at": chTime(110)},
	})
	checkRows(t, "pnl_summary", tableRows(t, db, "pnl_summary", "symbol"), []row{
		{"symbol": "TSLA", "realized_pnl": "30", "net_position": "-2", "onchain_volume": "5", "offchain_volume": "3", "fills": "2"},
	})
	if recs := w.all(topics.PnLEvents); len(recs) != 2 {
		t.Fatalf("%d pnl records, want 2", len(recs))
	}
}
