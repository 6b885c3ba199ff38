package sinks

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

// A reorg withdraws two AAPL fills; the second transaction is mined again
// in the canonical chain. The views show the first as reverted and the
// second as its new fill, and the withdrawals are booked as reverts.
func TestRevertedFillsProjection(t *testing.T) {
	w := newWorld(t)
	fork := "0x" + "ab" + txHash(0)[4:]
	id1 := market.TradeID{TxHash: txHash(1), LogIndex: 1}
	id2 := market.TradeID{TxHash: txHash(2), LogIndex: 0}
	evs := w.fill(1, 1, "tAAPL", market.Buy, "3", "100", at(0), at(2), true)
	hedge, ok := placedIn(evs)
	if !ok {
		t.Fatal("no hedge")
	}
	w.position("AAPL", position.CompleteOffChainOrder{ExecutionID: hedge.ExecutionID, SharesFilled: dec("3"), Direction: market.Sell,
		BrokerOrderID: "brk-1", Price: dec("105"), BrokerTimestamp: at(10)}, at(11))

	revert := func(id market.TradeID, block uint64, dir market.Direction, amount, price string, seq uint64, sec int) {
		w.trade(id, "AAPL", onchaintrade.Revert{TradeID: id, BlockNumber: block, Reason: onchaintrade.RevertReorg,
			ForkBlock: 1, ForkHash: fork}, at(sec))
		w.position("AAPL", position.RevertOnChainFill{Symbol: "tAAPL", TradeID: id, BlockNumber: block, FillSequence: seq,
			Amount: dec(amount), Direction: dir, PriceUSDC: dec(price), Reason: "reorg"}, at(sec+1))
	}
	revert(id1, 1, market.Buy, "3", "100", 1, 20) // net -3: hedge Buy 3 placed
	w.fill(2, 0, "tAAPL", market.Sell, "1", "101", at(22), at(24), false)
	revert(id2, 2, market.Sell, "1", "101", 1, 30)
	// Mined again in block 3: the trade's third event.
	w.trade(id2, "AAPL", onchaintrade.Witness{TradeID: id2, Symbol: "tAAPL", Amount: dec("1"), Direction: market.Sell,
		PriceUSDC: dec("101"), BlockNumber: 3, BlockTimestamp: at(32)}, at(33))
	w.position("AAPL", position.AcknowledgeOnChainFill{Symbol: "tAAPL", TradeID: id2, BlockNumber: 3, FillSequence: 3,
		Amount: dec("1"), Direction: market.Sell, PriceUSDC: dec("101"), BlockTimestamp: at(32)}, at(34))

	db := testDB(t)
	addr := startKafka(t)
	cl := producer(t, addr)
	for _, topic := range []string{topics.OnChainTradeEvents, topics.PositionEvents, topics.PnLEvents} {
		produce(t, cl, clone(w.all(topic))...)
	}
	runAll(t, db, addr, Options{})

	checkRows(t, "onchain_trade_view", tableRows(t, db, "onchain_trade_view", "aggregate_id", "state"), []row{
		{"aggregate_id": id1.String(), "sequence": "2", "block_number": "1", "direction": "Buy", "amount": "3",
			"status": "live", "reverted": "1", "revert_reason": "reorg", "fork_block": "1", "reverted_at": chTime(20), "fill_sequence": "1"},
		{"aggregate_id": id2.String(), "sequence": "3", "block_number": "3", "block_timestamp": chTime(32), "direction": "Sell",
			"amount": "1", "status": "live", "reverted": "0", "revert_reason": "", "fork_block": "0", "reverted_at": "NULL", "fill_sequence": "3"},
	})
	checkRows(t, "position_view", tableRows(t, db, "position_view", "aggregate_id", "state"), []row{
		{"aggregate_id": "AAPL", "net": "-4", "accumulated_long": "0", "accumulated_short": "1", "hedged_shares": "-3",
			"pending_direction": "Buy", "pending_shares": "3", "status": "live"},
	})
	// Buy 3 @100, hedge Sell 3 @105 (+15); revert: Sell 3 @100 (opens
	// short); Sell 1 @101; revert: Buy 1 @101 closes 1 of the 100 lot (-1);
	// Sell 1 @101 again.
	checkRows(t, "metrics_pnl", tableRows(t, db, "metrics_pnl", "position_sequence"), []row{
		{"venue": "onchain", "direction": "Buy", "quantity": "3", "realized_pnl": "0", "revert": "0", "net_position_after": "3"},
		{"venue": "offchain", "direction": "Sell", "quantity": "3", "realized_pnl": "15", "revert": "0", "net_position_after": "0"},
		{"venue": "onchain", "direction": "Sell", "quantity": "3", "price": "100", "realized_pnl": "0", "revert": "1", "net_position_after": "-3"},
		{"venue": "onchain", "direction": "Sell", "quantity": "1", "realized_pnl": "0", "revert": "0", "net_position_after": "-4"},
		{"venue": "onchain", "direction": "Buy", "quantity": "1", "price": "101", "realized_pnl": "-1", "revert": "1", "net_position_after": "-3"},
		{"venue": "onchain", "direction": "Sell", "quantity": "1", "realized_pnl": "0", "revert": "0", "net_position_after": "-4"},
	})
	checkRows(t, "pnl_summary", tableRows(t, db, "pnl_summary", "symbol", "state"), []row{
		{"symbol": "AAPL", "realized_pnl": "14", "net_position": "-4", "onchain_volume": "1", "offchain_volume": "3", "fills": "2"},
	})

	ctx := testCtx(t)
	trades, err := db.Trades(ctx, Filter{Limit: 10})
	if err != nil || len(trades) != 2 {
		t.Fatalf("trades %+v %v", trades, err)
	}
	for _, tr := range trades {
		if want := tr.ID == id1.String(); tr.Reverted != want || (tr.RevertReason == "reorg") != want {
			t.Errorf("trade %s reverted %v (%q)", tr.ID, tr.Reverted, tr.RevertReason)
		}
	}
	pnlRange, err := db.PnL(ctx, Filter{From: t0, To: at(3600)})
	if err != nil || len(pnlRange) != 1 || !pnlRange[0].OnchainVolume.Equal(dec("1")) || pnlRange[0].Fills != 2 {
		t.Fatalf("pnl over a range %+v %v", pnlRange, err)
	}
}
