// Package ordermanager is the order manager feature: the stages that take a
// hedge from the position to the broker and its outcome back, and the
// broker side (Poller). Its stages run fused into the aggregates whose
// events they read: the order placer into the position stage
// (processors/position/positionstage), the order tracker into the
// OffchainOrder aggregate (Stage). processors/offchainorder stays a pure
// aggregate (docs/aggregates.md); the Kafka and broker side is here.
package ordermanager

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// The order manager is three parts:
//   - Placer (position.events): each OffChainOrderPlaced becomes an
//     OffchainOrder Place command, keyed by execution id; its table keeps
//     the hedge each position has pending.
//   - Tracker (stateful, offchain-order.events): keeps every order's
//     broker-facing state in its table and, when an order ends, tells the
//     position (CompleteOffChainOrder / FailOffChainOrder).
//   - Poller: walks the tracker's table, places pending orders at the
//     broker (idempotently, client order id = execution id), polls submitted
//     ones, fails stale ones, and sends the outcome as OffchainOrder
//     commands. All broker I/O happens here, off the stream's hot path.
const (
	PlacerGroup  = "order-placer"
	TrackerGroup = "order-tracker"
)

// Placer turns hedges decided by positions into orders. It keeps, per
// symbol, the hedge the position has pending (what the order poller checks
// before placing anything at the broker) and publishes each change of it
// to the compacted topics.PendingHedges, which the poller reads through a
// view: a few bytes per hedge event, where a view of the position's own
// table would read every record the position group writes. A Place
// derived twice from a re-published event is dropped by the order
// aggregate, which remembers its recent command ids.
func Placer() runner.Stage[PendingHedge] {
	return runner.Stage[PendingHedge]{
		Group:   PlacerGroup,
		Reject:  runner.Rejecter(topics.OffchainOrder, PlacerGroup),
		Input:   topics.PositionEvents,
		Outputs: []string{topics.OffchainOrderCommands, topics.OffchainOrderRejections, topics.PendingHedges},
		Handle:  placeOrder,
	}
}

// PendingHedge is the order placer's state per symbol: the execution id the
// position has pending ("" for none) as of the position event Sequence.
type PendingHedge struct {
	ExecutionID string `json:"execution_id,omitempty"`
	Sequence    uint64 `json:"sequence"`
}

func placeOrder(st PendingHedge, in runner.Input) (PendingHedge, []runner.Output, error) {
	bad := func(err error) (PendingHedge, []runner.Output, error) {
		o, rerr := runner.StageRejection(topics.OffchainOrder, PlacerGroup, in, err)
		return st, []runner.Output{o}, rerr
	}
	env, err := runner.EventOf(in)
	if err != nil {
		return bad(fmt.Errorf("undecodable event: %w", err))
	}
	switch env.EventType {
	case (position.OffChainOrderPlaced{}).EventType(), (position.OffChainOrderFilled{}).EventType(), (position.OffChainOrderFailed{}).EventType():
	default:
		return st, nil, nil // fills: nothing to record
	}
	ev, err := runner.TypedEvent(env, position.Events)
	if err != nil {
		return bad(fmt.Errorf("event %s: %w", env.ID(), err))
	}
	// Events can come again, or late (re-published after a crash): the
	// pending hedge only moves forward in the position's sequence.
	newer := env.Sequence > st.Sequence
	switch e := ev.(type) {
	case position.OffChainOrderFilled:
		if newer && e.ExecutionID == st.ExecutionID {
			return pending(in, PendingHedge{Sequence: env.Sequence})
		}
		return st, nil, nil
	case position.OffChainOrderFailed:
		if newer && e.ExecutionID == st.ExecutionID {
			return pending(in, PendingHedge{Sequence: env.Sequence})
		}
		return st, nil, nil
	}
	p := ev.(position.OffChainOrderPlaced)
	var out []runner.Output
	if newer {
		if st, out, err = pending(in, PendingHedge{ExecutionID: p.ExecutionID, Sequence: env.Sequence}); err != nil {
			return st, nil, err
		}
	}
	var cmd aggregate.Command = offchainorder.Place{
		Symbol: p.Symbol, Shares: p.Shares, Direction: p.Direction, Broker: p.Broker,
		ReferencePrice: p.ReferencePrice,
	}
	o, err := runner.CommandOut(topics.OffchainOrder, p.ExecutionID, "place:"+p.ExecutionID, env, in, cmd)
	if err != nil {
		return st, nil, err
	}
	return st, append(out, o), nil
}

// pending makes h the symbol's pending hedge and publishes it.
func pending(in runner.Input, h PendingHedge) (PendingHedge, []runner.Output, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return h, nil, fmt.Errorf("encode pending hedge of %s: %w", in.Key, err)
	}
	return h, []runner.Output{{Topic: topics.PendingHedges, Key: in.Key, Value: b}}, nil
}

// DecodePendingHedge reads a topics.PendingHedges record.
func DecodePendingHedge(raw []byte) (PendingHedge, error) {
	var h PendingHedge
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("pending hedge record: %w", err)
	}
	return h, nil
}

// OrderStatus is where the order manager sees an order.
type OrderStatus string

const (
	OrderPending   OrderStatus = "pending"   // not yet accepted by the broker
	OrderSubmitted OrderStatus = "submitted" // accepted, waiting for the fill
	OrderDone      OrderStatus = "done"      // filled or failed; nothing to do
)

// TrackedOrder is the tracker's state per execution id.
type TrackedOrder struct {
	ExecutionID    string           `json:"execution_id"`
	Symbol         market.Symbol    `json:"symbol"`
	Shares         decimal.Decimal  `json:"shares"`
	Direction      market.Direction `json:"direction"`
	Broker         market.Broker    `json:"broker"`
	ReferencePrice *decimal.Decimal `json:"reference_price,omitempty"`
	Status         OrderStatus      `json:"status"`
	BrokerOrderID  string           `json:"broker_order_id,omitempty"`
	// PlacedAt is the time of the event that placed the order (the hedge's
	// position event, via Place), passed to the broker: a simulated broker
	// replaying history stamps its fills from it. Zero in records written
	// before it was kept.
	PlacedAt time.Time `json:"placed_at,omitzero"`
	// LastUpdate is the time of the order's last event; the poller fails an
	// order that has not moved for the stale timeout.
	LastUpdate   time.Time `json:"last_update"`
	LastSequence uint64    `json:"last_sequence"`
	// Migrated: a legacy order (OffchainOrder Migrated), LegacyID its
	// offchain_trades row. The poller never places one at the broker.
	Migrated bool   `json:"migrated,omitempty"`
	LegacyID uint64 `json:"legacy_id,omitempty"`
	// Parked holds the order's events that came beyond a gap in its
	// sequences, raw by sequence, until the gap is filled (inSequence).
	Parked map[uint64][]byte `json:"parked,omitempty"`
}

// Tracker follows orders to their end and reports the outcome to the
// position that placed them.
func Tracker() runner.Stage[TrackedOrder] {
	return runner.Stage[TrackedOrder]{
		Group:   TrackerGroup,
		Input:   topics.OffchainOrderEvents,
		Outputs: []string{topics.PositionCommands, topics.PositionRejections},
		Reject:  runner.Rejecter(topics.Position, TrackerGroup),
		Handle:  trackOrder,
	}
}

func (o *TrackedOrder) cursor() runner.Cursor {
	return runner.Cursor{Last: &o.LastSequence, Parked: &o.Parked}
}

var trackOrder = runner.FoldEvents(runner.Rejecter(topics.Position, TrackerGroup), (*TrackedOrder).cursor, trackEvent)

// trackEvent applies one order event, the next in sequence.
func trackEvent(o TrackedOrder, in runner.Input, env runner.Event) (TrackedOrder, []runner.Output, error) {
	ev, err := runner.TypedEvent(env, offchainorder.Events)
	if err != nil {
		// Recorded and skipped (FoldEvents moves past it), like the PnL stage.
		r, rerr := runner.StageRejection(topics.Position, TrackerGroup, in, fmt.Errorf("event %s: %w", env.ID(), err))
		return o, []runner.Output{r}, rerr
	}
	o.LastSequence = env.Sequence
	var out []runner.Output
	send := func(c aggregate.Command, prefix string) error {
		r, err := runner.CommandOut(topics.Position, string(o.Symbol), prefix+o.ExecutionID, env, in, c)
		out = append(out, r)
		return err
	}
	switch e := ev.(type) {
	case offchainorder.Placed:
		o = TrackedOrder{
			ExecutionID: env.AggregateID, Symbol: e.Symbol, Shares: e.Shares, Direction: e.Direction,
			Broker: e.Broker, ReferencePrice: e.ReferencePrice, Status: OrderPending,
			PlacedAt: e.PlacedAt, LastUpdate: e.PlacedAt, LastSequence: env.Sequence,
		}
	case offchainorder.Migrated:
		o = migratedOrder(env.AggregateID, e, env.Sequence)
	case offchainorder.Submitted:
		o.Status, o.BrokerOrderID, o.LastUpdate = OrderSubmitted, e.BrokerOrderID, e.SubmittedAt
	case offchainorder.PartiallyFilled:
		o.LastUpdate = e.PartiallyFilledAt
	case offchainorder.Filled:
		o.Status, o.LastUpdate = OrderDone, e.FilledAt
		err = send(position.CompleteOffChainOrder{
			ExecutionID: o.ExecutionID, SharesFilled: o.Shares, Direction: o.Direction,
			BrokerOrderID: o.BrokerOrderID, Price: e.Price, BrokerTimestamp: e.FilledAt,
		}, "complete:")
	case offchainorder.Failed:
		o.Status, o.LastUpdate = OrderDone, e.FailedAt
		err = send(position.FailOffChainOrder{ExecutionID: o.ExecutionID, Error: e.Error}, "fail:")
	}
	return o, out, err
}

// migratedOrder tracks a legacy order. A Filled or Failed one is done and
// reported to nobody: the migrated position's net already counts it, and
// its fill reaches PnL as history (position.RecordMigratedFill). A Pending
// or Submitted one is in flight: it stays open for the poller, which asks
// the broker about a submitted one by its broker order id and fails a
// pending one (it has none to ask by); its outcome then goes to the
// position, which holds it as its reserved pending hedge.
func migratedOrder(id string, e offchainorder.Migrated, seq uint64) TrackedOrder {
	o := TrackedOrder{
		ExecutionID: id, Symbol: e.Symbol, Shares: e.Shares, Direction: e.Direction, Broker: e.Broker,
		Status: OrderDone, PlacedAt: e.MigratedAt, LastUpdate: e.MigratedAt, LastSequence: seq,
		Migrated: true, LegacyID: e.LegacyID,
	}
	if e.ExecutedAt != nil {
		o.PlacedAt = *e.ExecutedAt
	}
	if e.BrokerOrderID != nil {
		o.BrokerOrderID = *e.BrokerOrderID
	}
	switch e.Status {
	case offchainorder.StatusPending:
		o.Status = OrderPending
	case offchainorder.StatusSubmitted:
		o.Status = OrderSubmitted
	}
	return o
}

// legacyRow names a migrated order's legacy row for messages.
func (o TrackedOrder) legacyRow() string {
	if o.LegacyID == 0 {
		return "legacy offchain_trades row (id not recorded), order " + o.ExecutionID
	}
	return fmt.Sprintf("legacy offchain_trades row %d (order %s)", o.LegacyID, o.ExecutionID)
}
