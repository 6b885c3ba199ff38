package trademanager

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// Filled (1), Reverted (2), Filled again (3): an ack, a revert naming the
// first incarnation, and an ack of the second with its own command id.
func TestTradeManagerRevertsFillsAndAcknowledgesThemAgain(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("ab", 32), 7)
	th, _ := market.SharesThreshold(d("2"))
	handle := Manager(Config{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}).Handle
	filled := onchaintrade.Filled{TradeID: id, Symbol: "NVDAs1", BaseSymbol: "NVDA", Amount: d("0.374"),
		Direction: market.Sell, PriceUSDC: d("171.58"), BlockNumber: 9, BlockTimestamp: t0, FilledAt: t0}
	reverted := onchaintrade.Reverted{TradeID: id, Symbol: "NVDAs1", BaseSymbol: "NVDA", Amount: d("0.374"),
		Direction: market.Sell, PriceUSDC: d("171.58"), BlockNumber: 9, BlockTimestamp: t0, FillSequence: 1,
		Reason: onchaintrade.RevertReorg, ForkBlock: 8, ForkHash: "0x" + strings.Repeat("11", 32), RevertedAt: t0}
	again := filled
	again.BlockNumber = 10

	var st Derived
	var outs []runner.Output
	for seq, e := range []aggregate.Event{filled, reverted, again} {
		var out []runner.Output
		var err error
		st, out, err = handle(st, eventIn(t, topics.OnChainTrade, id.String(), uint64(seq+1), e))
		if err != nil || len(out) != 1 || out[0].Key != "NVDA" || out[0].Topic != topics.PositionCommands {
			t.Fatalf("event %d: out %v err %v", seq+1, out, err)
		}
		outs = append(outs, out[0])
	}
	env1, _ := decodeCommand(t, outs[0])
	env2, c2 := decodeCommand(t, outs[1])
	env3, c3 := decodeCommand(t, outs[2])
	if env1.CommandID != "ack:"+id.String() || env2.CommandID != "revert:"+id.String()+"#2" || env3.CommandID != "ack:"+id.String()+"#3" {
		t.Fatalf("command ids %s %s %s", env1.CommandID, env2.CommandID, env3.CommandID)
	}
	rev := c2.(position.RevertOnChainFill)
	want := position.RevertOnChainFill{Symbol: "NVDAs1", TradeID: id, BlockNumber: 9, FillSequence: 1,
		Amount: d("0.374"), Direction: market.Sell, PriceUSDC: d("171.58"), Reason: "reorg"}
	if g, w := mustJSON(t, rev), mustJSON(t, want); g != w {
		t.Fatalf("revert\n got %s\nwant %s", g, w)
	}
	if ack := c3.(position.AcknowledgeOnChainFill); ack.FillSequence != 3 || ack.BlockNumber != 10 {
		t.Fatalf("second ack %+v", ack)
	}
	if env2.Source == nil || env2.CausationID != topics.OnChainTrade+"/"+id.String()+"#2" {
		t.Fatalf("revert envelope %+v", env2)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
