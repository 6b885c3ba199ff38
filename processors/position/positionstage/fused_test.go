package positionstage

import (
	"bytes"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/stagetest"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/offchainorder/ordermanager"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/onchaintrade/trademanager"
	"github.com/hedgeline/hedgeline/processors/pnl/pnlstage"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/sources/loadgen"
	"github.com/hedgeline/hedgeline/topics"
)

// hop is a stage run by hand over a map of per-key states.
type hop[S any] struct {
	h      runner.Handler[S]
	states map[string]S
}

func newHop[S any](h runner.Handler[S]) *hop[S] { return &hop[S]{h: h, states: map[string]S{}} }

func (p *hop[S]) handle(t *testing.T, in runner.Input) []runner.Output {
	t.Helper()
	st, out, err := p.h(p.states[in.Key], in)
	if err != nil {
		t.Fatalf("%s@%d %s: %v", in.Topic, in.Offset, in.Key, err)
	}
	p.states[in.Key] = st
	return out
}

type down struct {
	topic  string
	handle func(runner.Input) []runner.Output
}

// split runs up, then each downstream in turn on up's outputs on its input
// topic as bytes alone (as if read from Kafka), at the fused input's
// position: the order nested Fuse calls emit in.
func split(in runner.Input, up func(runner.Input) []runner.Output, downs ...down) []runner.Output {
	out := up(in)
	all := append([]runner.Output(nil), out...)
	for _, dn := range downs {
		for _, o := range out {
			if o.Topic == dn.topic {
				d := in
				d.Value, d.Event = o.Value, nil
				all = append(all, dn.handle(d)...)
			}
		}
	}
	return all
}

// The fused stages hand each event over typed (runner.Output.Event) instead
// of as bytes: their outputs must be byte for byte those of the same
// handlers fed the encoded events, or replay and live could differ. The
// test drives the whole chain (fills through the trade stage, their
// commands through this stage, its hedges through the order stage), so it
// lives with the stage in the middle.
func TestFusedStagesEqualTheHopsTheyReplace(t *testing.T) {
	gen := loadgen.New(3, testseed.Seed(t, "fills"))
	th, _ := market.SharesThreshold(stagetest.D("1"))
	cfg := trademanager.Config{Threshold: th, Execution: market.DefaultExecution(market.DryRun)}
	trade, err := trademanager.Stage(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := Stage()
	if err != nil {
		t.Fatal(err)
	}
	order, err := ordermanager.Stage(nil)
	if err != nil {
		t.Fatal(err)
	}
	tradeAgg, _ := runner.AggregateStage(onchaintrade.Definition)
	posAgg, _ := runner.AggregateStage(position.Definition)
	orderAgg, _ := runner.AggregateStage(offchainorder.Definition)
	fused := struct {
		trade *hop[trademanager.State]
		pos   *hop[State]
		order *hop[ordermanager.State]
	}{newHop(trade.Handle), newHop(pos.Handle), newHop(order.Handle)}
	sTrade, sTM := newHop(tradeAgg.Handle), newHop(trademanager.Manager(cfg).Handle)
	sPos, sPlacer, sPnL := newHop(posAgg.Handle), newHop(ordermanager.Placer().Handle), newHop(pnlstage.Stage().Handle)
	sOrder, sTracker := newHop(orderAgg.Handle), newHop(ordermanager.Tracker().Handle)

	compare := func(in runner.Input, got, want []runner.Output) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s@%d: %d outputs fused, %d hop by hop", in.Topic, in.Offset, len(got), len(want))
		}
		for i := range got {
			if got[i].Topic != want[i].Topic || got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
				t.Fatalf("%s@%d output %d:\n fused %s %s %s\n hops  %s %s %s", in.Topic, in.Offset, i,
					got[i].Topic, got[i].Key, got[i].Value, want[i].Topic, want[i].Key, want[i].Value)
			}
		}
	}
	offsets := map[string]int64{}
	queue := map[string][]runner.Output{}
	next := func(o runner.Output) runner.Input {
		in := runner.Input{Topic: o.Topic, Key: o.Key, Value: o.Value, Offset: offsets[o.Topic], Timestamp: time.Unix(1, 0)}
		offsets[o.Topic]++
		return in
	}
	var hedges int
	for i := 0; i < 300; i++ {
		key, value, err := file.WitnessRecord(gen.Next(), time.Unix(1_700_000_000+int64(i), 0).UTC())
		if err != nil {
			t.Fatal(err)
		}
		in := next(runner.Output{Topic: topics.OnChainTradeCommands, Key: key, Value: value})
		got := fused.trade.handle(t, in)
		compare(in, got, split(in, func(in runner.Input) []runner.Output { return sTrade.handle(t, in) },
			down{topics.OnChainTradeEvents, func(in runner.Input) []runner.Output { return sTM.handle(t, in) }}))
		for _, o := range got {
			queue[o.Topic] = append(queue[o.Topic], o)
		}
		for _, o := range queue[topics.PositionCommands] {
			in := next(o)
			got := fused.pos.handle(t, in)
			compare(in, got, split(in, func(in runner.Input) []runner.Output { return sPos.handle(t, in) },
				down{topics.PositionEvents, func(in runner.Input) []runner.Output { return sPlacer.handle(t, in) }},
				down{topics.PositionEvents, func(in runner.Input) []runner.Output { return sPnL.handle(t, in) }}))
			for _, o := range got {
				queue[o.Topic] = append(queue[o.Topic], o)
			}
		}
		queue[topics.PositionCommands] = nil
		for _, o := range queue[topics.OffchainOrderCommands] {
			in := next(o)
			hedges++
			compare(in, fused.order.handle(t, in), split(in, func(in runner.Input) []runner.Output { return sOrder.handle(t, in) },
				down{topics.OffchainOrderEvents, func(in runner.Input) []runner.Output { return sTracker.handle(t, in) }}))
		}
		queue[topics.OffchainOrderCommands] = nil
	}
	if hedges == 0 || offsets[topics.PositionCommands] != 300 {
		t.Fatalf("scenario too small to compare: %d hedges, %d position commands", hedges, offsets[topics.PositionCommands])
	}
}
