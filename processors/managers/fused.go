package managers

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// The stages as they run: each manager fused into the aggregate whose
// events it reads (runner.Fuse), so a fill crosses two goka groups (trade,
// position) instead of five, and an order's event one instead of two. The
// managers keep their own state and their own handlers (TradeManager,
// OrderPlacer, PnL, OrderTracker); only the hop between is gone. Every
// aggregate still emits its events to its topic.

// TradeState is the state of the trade stage per trade: the OnChainTrade
// aggregate and how far the trade manager has read its events.
type TradeState = runner.Fused[runner.AggState[onchaintrade.State], Derived]

// PositionState is the state of the position stage per base symbol: the
// Position aggregate, the hedge it has pending as the order placer saw it,
// and the PnL book.
type PositionState = runner.Fused[runner.Fused[runner.AggState[position.State], PendingHedge], PnLState]

// OrderState is the state of the order stage per execution id: the
// OffchainOrder aggregate and the tracker's view of it.
type OrderState = runner.Fused[runner.AggState[offchainorder.State], TrackedOrder]

// TradeStage is the OnChainTrade aggregate with the trade manager.
func TradeStage(cfg TradeConfig) (runner.Stage[TradeState], error) {
	agg, err := runner.AggregateStage(onchaintrade.Definition)
	if err != nil {
		return runner.Stage[TradeState]{}, err
	}
	return runner.Fuse(agg, TradeManager(cfg))
}

// PositionStage is the Position aggregate with the order placer and PnL.
func PositionStage() (runner.Stage[PositionState], error) {
	agg, err := runner.AggregateStage(position.Definition)
	if err != nil {
		return runner.Stage[PositionState]{}, err
	}
	placing, err := runner.Fuse(agg, OrderPlacer())
	if err != nil {
		return runner.Stage[PositionState]{}, err
	}
	return runner.Fuse(placing, PnL())
}

// OrderStage is the OffchainOrder aggregate with the order tracker, wired
// to p when the process polls the broker (p may be nil).
func OrderStage(p *Poller) (runner.Stage[OrderState], error) {
	agg, err := runner.AggregateStage(offchainorder.Definition)
	if err != nil {
		return runner.Stage[OrderState]{}, err
	}
	tracker := OrderTracker()
	if p != nil {
		tracker = p.Tracking(tracker)
	}
	return runner.Fuse(agg, tracker)
}

// decodeOrder reads the tracker's part of an order stage's table record.
func decodeOrder(raw []byte) (TrackedOrder, error) {
	st, err := runner.DecodeState[struct {
		Down TrackedOrder `json:"down"`
	}](raw)
	return st.Down, err
}

// PendingOf reads the hedge a position stage's table record has pending
// (the order placer's part; "" for none), for the poller's view.
func PendingOf(raw []byte) (string, error) {
	st, err := runner.DecodeState[struct {
		Up struct {
			Down PendingHedge `json:"down"`
		} `json:"up"`
	}](raw)
	if err != nil {
		return "", fmt.Errorf("position record: %w", err)
	}
	return st.Up.Down.ExecutionID, nil
}
