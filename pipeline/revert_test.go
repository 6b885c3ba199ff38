package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
)

// TestReorgRevertsFills is issue 10's reorg consequence end to end, with
// the Revert commands a chain source emits produced by hand: AAPL fills in
// blocks 100..102 and an NVDA fill are witnessed and hedged; then blocks
// 101.. leave the canonical chain: the fills of 101 and 102 are reverted,
// and the transaction of 102 is mined again in block 103 (at another price). The AAPL position
// ends with exactly the surviving fills hedged (the revert hedged back),
// NVDA is untouched, pnl.events equal an independent FIFO over the
// surviving fills, and the only rejection is the repeated Revert made on
// purpose.
func TestReorgRevertsFills(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))
	cl := kitNewProducer(t, addr)

	bt := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	fill := func(n, logIndex, block uint64, token string, dir market.Direction, amount, price string) file.Fill {
		t.Helper()
		tok, err := market.ParseTokenized(token)
		if err != nil {
			t.Fatal(err)
		}
		return file.Fill{TradeID: market.TradeID{TxHash: fmt.Sprintf("0x%064x", n), LogIndex: logIndex}, BlockNumber: block,
			BlockTimestamp: bt.Add(time.Duration(block-100) * 2 * time.Second), Symbol: tok, Direction: dir,
			Amount: decimal.RequireFromString(amount), PriceUSDC: decimal.RequireFromString(price)}
	}
	f1 := fill(1, 2, 100, "tAAPL", market.Buy, "3", "100")
	f2 := fill(2, 0, 101, "tAAPL", market.Sell, "1", "101")
	f3 := fill(3, 5, 102, "tAAPL", market.Buy, "2", "102")
	f4 := fill(4, 1, 100, "NVDAs1", market.Sell, "2", "50")
	fills := []file.Fill{f1, f2, f3, f4}
	kitProduceFills(t, cl, fills)
	kitWaitSettled(t, addr, fills, settleTimeout, p.check)

	// The reorg: a Revert per fill of the orphaned blocks, then the
	// canonical block 103 with f3's transaction again. The chain source's
	// re-witness needs a command id of its own: the trade drops a command
	// id it has seen (file.WitnessRecord's is per trade).
	fork := "0x" + strings.Repeat("fe", 32)
	revert := func(f file.Fill, commandID string) {
		t.Helper()
		id := f.TradeID.String()
		payload, err := json.Marshal(onchaintrade.Revert{TradeID: f.TradeID, BlockNumber: f.BlockNumber,
			Reason: onchaintrade.RevertReorg, ForkBlock: 101, ForkHash: fork})
		if err != nil {
			t.Fatal(err)
		}
		kitProduce(t, cl, kitCommandRecord(t, topics.OnChainTradeCommands, topics.SymbolKey(string(f.Symbol.Base), id), topics.CommandEnvelope{
			AggregateType: topics.OnChainTrade, AggregateID: id, CommandID: commandID,
			CommandType: (onchaintrade.Revert{}).CommandType(), CommandVersion: topics.CommandVersion,
			IssuedAt: time.Now().UTC(), CorrelationID: "revert:" + id, CausationID: "test-reorg", Payload: payload,
		}))
	}
	revert(f2, "revert:"+f2.TradeID.String()+"@101")
	revert(f3, "revert:"+f3.TradeID.String()+"@102")
	revert(f3, "revert:"+f3.TradeID.String()+"@102")       // the same command again: dropped silently
	revert(f3, "revert:"+f3.TradeID.String()+"@102-again") // another command: refused, already reverted
	f3again := f3
	// Mined again in another state: the same trade id at another price.
	f3again.BlockNumber, f3again.BlockTimestamp = 103, f3.BlockTimestamp.Add(2*time.Second)
	f3again.PriceUSDC = decimal.RequireFromString("103")
	rec := kitWitnessRecord(t, f3again)
	env, err := topics.DecodeCommand(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	env.CommandID += "@103"
	kitProduce(t, cl, kitCommandRecord(t, topics.OnChainTradeCommands, string(rec.Key), env))

	all := append(fills, f3again)
	snap := kitWaitSettled(t, addr, all, settleTimeout, p.check)
	var problems []string
	problems = append(problems, snap.problems...)

	// The trades: f2 ends reverted, f3 filled again in block 103.
	wantTrade := map[string][]string{
		f1.TradeID.String(): {"Filled"},
		f2.TradeID.String(): {"Filled", "Reverted"},
		f3.TradeID.String(): {"Filled", "Reverted", "Filled"},
		f4.TradeID.String(): {"Filled"},
	}
	for id, want := range wantTrade {
		h := snap.trades[id]
		var got []string
		if h != nil {
			for _, e := range h.events {
				got = append(got, strings.TrimPrefix(e.EventType, "OnChainTradeEvent::"))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			problems = append(problems, fmt.Sprintf("trade %s: events %v, want %v", id, got, want))
		}
	}

	// The positions: AAPL's net excludes the reverted fills (on-chain +3
	// +2 standing), all of it hedged; the first revert (net 0 -> +1)
	// hedged back at once with a Sell of 1.
	sums := map[string]kitPosSummary{}
	for _, sym := range []string{"AAPL", "NVDA"} {
		h := snap.positions[sym]
		if h == nil {
			t.Fatalf("no %s position events", sym)
		}
		s, ps := kitCheckPosition(h)
		problems = append(problems, ps...)
		sums[sym] = s
	}
	aapl, nvda := sums["AAPL"], sums["NVDA"]
	if !aapl.onchain.Equal(decimal.NewFromInt(5)) || !aapl.hedged.Equal(decimal.NewFromInt(-5)) || !aapl.net.IsZero() || aapl.pending != nil {
		problems = append(problems, fmt.Sprintf("AAPL: on-chain %s hedged %s net %s pending %v, want 5, -5, 0, none",
			aapl.onchain, aapl.hedged, aapl.net, aapl.pending))
	}
	if fmt.Sprint(aapl.reverted) != fmt.Sprint([]market.TradeID{f2.TradeID, f3.TradeID}) {
		problems = append(problems, fmt.Sprintf("AAPL reverted %v, want f2, f3", aapl.reverted))
	}
	if len(nvda.reverted) != 0 || !nvda.onchain.Equal(decimal.NewFromInt(-2)) || !nvda.net.IsZero() {
		problems = append(problems, fmt.Sprintf("NVDA changed: reverted %v on-chain %s net %s", nvda.reverted, nvda.onchain, nvda.net))
	}
	h := snap.positions["AAPL"]
	var hedgedBack, refilled bool
	for i, e := range h.events {
		ev, err := position.Events.Decode(e.EventType, e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		switch v := ev.(type) {
		case position.OnChainFillReverted:
			if v.TradeID == f2.TradeID && i+1 < len(h.events) {
				next, _ := position.Events.Decode(h.events[i+1].EventType, h.events[i+1].Payload)
				pl, ok := next.(position.OffChainOrderPlaced)
				hedgedBack = ok && pl.Direction == market.Sell && pl.Shares.Equal(decimal.NewFromInt(1)) && h.events[i+1].CommandID == e.CommandID
			}
		case position.OnChainOrderFilled:
			if v.TradeID == f3.TradeID && v.BlockNumber == 103 && v.FillSequence == 3 {
				refilled = true
			}
		}
	}
	if !hedgedBack {
		problems = append(problems, "AAPL: the revert of f2 (net 0 -> +1) did not place a Sell of 1 at once")
	}
	if !refilled {
		problems = append(problems, "AAPL: f3 not applied again from block 103 (fill sequence 3)")
	}

	// PnL: the records follow the position's events (a revert booked as
	// the opposite fill at its price), and, independently of that rule,
	// the flat book's cumulative PnL is the FIFO of the surviving fills
	// alone (the reverted ones and their reverts left out).
	for _, sym := range []string{"AAPL", "NVDA"} {
		want, err := kitReferencePnL(snap.positions[sym])
		if err != nil {
			t.Fatal(err)
		}
		problems = append(problems, kitComparePnL(sym, snap.pnl[sym], want, false)...)
	}
	reverts := 0
	for _, r := range snap.pnl["AAPL"] {
		if r.Revert {
			reverts++
		}
	}
	if reverts != 2 {
		problems = append(problems, fmt.Sprintf("AAPL: %d pnl records flagged revert, want 2", reverts))
	}
	type incarnation struct {
		id  market.TradeID
		seq uint64
	}
	gone := map[incarnation]bool{}
	for _, e := range h.events {
		if ev, _ := position.Events.Decode(e.EventType, e.Payload); ev != nil {
			if v, ok := ev.(position.OnChainFillReverted); ok {
				gone[incarnation{v.TradeID, max(v.FillSequence, 1)}] = true
			}
		}
	}
	surviving := kitNewRefBook()
	for _, e := range h.events {
		ev, _ := position.Events.Decode(e.EventType, e.Payload)
		switch v := ev.(type) {
		case position.OnChainOrderFilled:
			if !gone[incarnation{v.TradeID, max(v.FillSequence, 1)}] {
				surviving.fill(kitRat(v.Direction.Signed(v.Amount)), kitRat(v.PriceUSDC))
			}
		case position.OffChainOrderFilled:
			surviving.fill(kitRat(v.Direction.Signed(v.SharesFilled)), kitRat(v.Price))
		}
	}
	recs := snap.pnl["AAPL"]
	if len(recs) == 0 || len(surviving.lots) != 0 {
		problems = append(problems, fmt.Sprintf("AAPL: %d pnl records; reference book of the surviving fills not flat: %v", len(recs), surviving.lots))
	} else if last := recs[len(recs)-1]; kitRat(last.CumulativePnL).Cmp(surviving.cum) != 0 || !last.NetPositionAfter.IsZero() {
		problems = append(problems, fmt.Sprintf("AAPL: cumulative pnl %s (net %s), FIFO of the surviving fills %s",
			last.CumulativePnL, last.NetPositionAfter, surviving.cum.FloatString(6)))
	} else {
		t.Logf("AAPL: cumulative pnl %s over %d records = FIFO of the surviving fills", last.CumulativePnL, len(recs))
		for _, r := range recs {
			t.Logf("  %d %s %s %s @%s realized %s net %s revert %v", r.PositionSequence, r.Venue, r.Direction, r.Quantity, r.Price, r.RealizedPnL, r.NetPositionAfter, r.Revert)
		}
	}

	// The only rejection is the repeated Revert under a new command id.
	rej, n := kitRejectionSummary(t, addr)
	if n != 1 {
		problems = append(problems, fmt.Sprintf("%d rejections, want the one repeated revert: %v", n, rej))
	}
	for reason := range rej {
		if !strings.Contains(reason, "already reverted") || !strings.HasPrefix(reason, topics.OnChainTradeRejections) {
			problems = append(problems, "unexpected rejection: "+reason)
		}
	}
	kitReport(t, problems)
}
