package trademanager

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/internal/stagetest"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

func TestTradeManagerAcknowledgesFillsByBaseSymbol(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("ab", 32), 7)
	th, _ := market.SharesThreshold(d("2"))
	cfg := Config{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}
	filled := onchaintrade.Filled{TradeID: id, Symbol: "NVDAs1", BaseSymbol: "NVDA", Amount: d("0.374"),
		Direction: market.Sell, PriceUSDC: d("171.58"), BlockNumber: 9, BlockTimestamp: t0, FilledAt: t0}
	handle := Manager(cfg).Handle
	var st Derived
	st, out, err := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 1, filled))
	if err != nil || len(out) != 1 {
		t.Fatalf("out %v err %v", out, err)
	}
	if out[0].Topic != topics.PositionCommands || out[0].Key != "NVDA" {
		t.Fatalf("routed to %s key %s", out[0].Topic, out[0].Key)
	}
	env, c := decodeCommand(t, out[0])
	ack := c.(position.AcknowledgeOnChainFill)
	if env.CommandID != "ack:"+id.String() || env.AggregateID != "NVDA" || !env.IssuedAt.Equal(t0) {
		t.Fatalf("envelope %+v", env)
	}
	if !ack.Amount.Equal(d("0.374")) || ack.Direction != market.Sell || ack.Threshold == nil || !ack.Threshold.Shares.Equal(d("2")) {
		t.Fatalf("ack %+v", ack)
	}
	// Handled again from scratch (its record lost): the same bytes.
	if _, again, _ := handle(Derived{}, eventIn(t, topics.OnChainTrade, id.String(), 1, filled)); string(again[0].Value) != string(out[0].Value) {
		t.Fatal("trade manager is not deterministic")
	}
	// The same event re-published (at another offset): a duplicate.
	if _, again, err := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 1, filled)); len(again) != 0 || !errors.Is(err, runner.ErrDuplicate) {
		t.Fatalf("re-published Filled: %v %v, want a duplicate", again, err)
	}
	// Enrichment changes no exposure.
	if _, out, _ := handle(st, eventIn(t, topics.OnChainTrade, id.String(), 2, onchaintrade.Enriched{GasUsed: 1, EffectiveGasPrice: 1, EnrichedAt: t0})); len(out) != 0 {
		t.Fatalf("enrichment produced %v", out)
	}
}

// A migrated trade is in its migrated position's net already: acknowledging
// it would count it twice (and its block 0 would trip the watermark).
func TestTradeManagerSendsNothingForAMigratedTrade(t *testing.T) {
	id, _ := market.NewTradeID("0x"+strings.Repeat("cd", 32), 3)
	migrated := onchaintrade.Migrated{TradeID: id, Symbol: "tAAPL", BaseSymbol: "AAPL", Amount: d("10"),
		Direction: market.Buy, PriceUSDC: d("150"), BlockTimestamp: t0, MigratedAt: t0}
	th, _ := market.SharesThreshold(d("1"))
	st, out, err := Manager(Config{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}).Handle(Derived{},
		eventIn(t, topics.OnChainTrade, id.String(), 1, migrated))
	if err != nil || len(out) != 0 {
		t.Fatalf("migrated trade: out %v err %v, want nothing", out, err)
	}
	if st.LastSequence != 1 {
		t.Fatalf("cursor %d, want the event read", st.LastSequence)
	}
}

func TestTradeManagerRejectsPoisonWithReason(t *testing.T) {
	_, out, err := Manager(Config{}).Handle(Derived{}, stagetest.Poison)
	stagetest.RejectsPoison(t, "trade manager", out, err)
}

// After a crash the trade manager re-sends the acknowledgements of its
// uncommitted inputs. The position refuses them by its rules (already
// applied), but they broke no rule: they are duplicates, not rejections.
// A command that repeats an applied one without being a re-send (a new
// command id, no source) still is a rejection.
func TestResentCommandsAreDuplicatesNotRejections(t *testing.T) {
	stage, err := runner.AggregateStage(position.Definition)
	if err != nil {
		t.Fatal(err)
	}
	th, _ := market.SharesThreshold(d("1000"))
	cfg := Config{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}
	var acks []runner.Input
	for i := range 40 {
		id, _ := market.NewTradeID(fmt.Sprintf("0x%064x", i+1), 0)
		filled := onchaintrade.Filled{TradeID: id, Symbol: "tAAPL", BaseSymbol: "AAPL", Amount: d("0.5"),
			Direction: market.Buy, PriceUSDC: d("230"), BlockNumber: uint64(10 + i), BlockTimestamp: t0, FilledAt: t0}
		ev := eventIn(t, topics.OnChainTrade, id.String(), 1, filled)
		ev.Topic, ev.Partition, ev.Offset = topics.OnChainTradeEvents, 2, int64(100+i)
		_, out, err := Manager(cfg).Handle(Derived{}, ev)
		if err != nil || len(out) != 1 {
			t.Fatalf("ack %d: %v %v", i, out, err)
		}
		acks = append(acks, runner.Input{Topic: out[0].Topic, Key: out[0].Key, Value: out[0].Value, Timestamp: t0})
	}
	var st runner.AggState[position.State]
	apply := func(in runner.Input) ([]runner.Output, error) {
		var out []runner.Output
		var err error
		st, out, err = stage.Handle(st, in)
		return out, err
	}
	for _, a := range acks {
		if out, err := apply(a); err != nil || len(out) == 0 || out[0].Topic != topics.PositionEvents {
			t.Fatalf("first delivery: %v %v", out, err)
		}
	}
	for i, a := range acks { // the crash: all 40 again (more than the 32 remembered ids)
		out, err := apply(a)
		if !errors.Is(err, runner.ErrDuplicate) || len(out) != 0 {
			t.Fatalf("re-sent ack %d: out %v err %v; want a duplicate, nothing emitted", i, out, err)
		}
	}
	// The same fill by hand, as a new command: that breaks a rule.
	env, err := topics.DecodeCommand(acks[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	env.CommandID, env.Source = "manual:1", nil
	b, err := topics.EncodeCommand(env)
	if err != nil {
		t.Fatal(err)
	}
	manual := acks[0]
	manual.Value = b
	if out, err := apply(manual); err != nil || len(out) != 1 || out[0].Topic != topics.PositionRejections {
		t.Fatalf("manual repeat: out %v err %v; want a rejection", out, err)
	}
}
