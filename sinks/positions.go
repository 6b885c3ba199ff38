package sinks

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

// PositionsTable is the view of position.events: one row per base symbol.
var PositionsTable = Table{Name: "position_view", Columns: []string{
	"aggregate_id", "sequence", "symbol", "net", "accumulated_long", "accumulated_short", "hedged_shares",
	"pending_execution_id", "pending_shares", "pending_direction", "pending_placed_at",
	"threshold_kind", "threshold_value", "broker", "fractional", "last_price_usdc", "last_updated",
	"status", "failure", "state",
}}

// HedgesTable has one row per hedge (execution id), from its placement to
// its fill or failure, written by the positions projection.
var HedgesTable = Table{Name: "hedge_view", Columns: []string{
	"execution_id", "aggregate_id", "sequence", "symbol", "status", "direction", "shares", "broker",
	"trigger_kind", "trigger_net_position", "reference_price", "trigger_block_timestamp", "trigger_seen_at",
	"placed_at", "filled_at", "broker_order_id", "fill_price", "shares_filled", "failed_at", "error",
	"slippage_per_share", "slippage_usd",
}}

// Hedge statuses in hedge_view.
const (
	HedgePlaced = "placed"
	HedgeFilled = "filled"
	HedgeFailed = "failed"
)

// TriggerMigrated is the trigger_kind of a legacy hedge that was in flight
// when its position was migrated.
const TriggerMigrated = "migrated"

// PositionState is what the positions projection folds per symbol: the
// aggregate's lifecycle, plus what hedge_view needs and the lifecycle does
// not keep (when the last on-chain fill happened, and why the pending hedge
// was placed).
type PositionState struct {
	Lifecycle aggregate.Lifecycle[position.State] `json:"lifecycle"`
	// LastFillBlockTimestamp and LastFillSeenAt are those of the last
	// on-chain fill applied.
	LastFillBlockTimestamp *time.Time `json:"last_fill_block_timestamp,omitempty"`
	LastFillSeenAt         *time.Time `json:"last_fill_seen_at,omitempty"`
	// Hedge is the pending hedge as placed; nil when none is pending.
	Hedge *Hedge `json:"hedge,omitempty"`
}

// Hedge is one hedge_view row's placement facts.
type Hedge struct {
	ExecutionID           string           `json:"execution_id"`
	Direction             market.Direction `json:"direction"`
	Shares                decimal.Decimal  `json:"shares"`
	Broker                market.Broker    `json:"broker"`
	TriggerKind           string           `json:"trigger_kind"`
	TriggerNetPosition    decimal.Decimal  `json:"trigger_net_position"`
	ReferencePrice        *decimal.Decimal `json:"reference_price,omitempty"`
	TriggerBlockTimestamp *time.Time       `json:"trigger_block_timestamp,omitempty"`
	TriggerSeenAt         *time.Time       `json:"trigger_seen_at,omitempty"`
	PlacedAt              time.Time        `json:"placed_at"`
}

// NewPositionsProjection projects position.events into position_view and
// hedge_view.
func NewPositionsProjection() *StateProjection[PositionState, AggregateEvent] {
	p, err := NewStateProjection(StateConfig[PositionState, AggregateEvent]{
		Name: "positions", Topic: topics.PositionEvents, AggregateType: topics.Position,
		StateTable: PositionsTable, KeyColumn: "aggregate_id", VersionColumn: "sequence",
		Contiguous: true,
		SideTables: []Table{HedgesTable},
		Decode:     decodeEvents(topics.Position, position.Events.Decode),
		Apply:      applyPosition,
		Row:        positionRow,
	})
	if err != nil {
		panic(err) // static configuration
	}
	return p
}

func applyPosition(s PositionState, _ bool, it Item[AggregateEvent], emit Emit) (PositionState, error) {
	before := s.Lifecycle
	l, err := evolve(before, it, position.Evolve)
	s.Lifecycle = l
	if err != nil {
		return s, err
	}
	symbol := string(l.State.Symbol)
	switch e := it.Event.Event.(type) {
	case position.Migrated:
		// A legacy order in flight at the migration is the position's
		// reserved pending hedge: it gets its hedge_view row here, and its
		// outcome completes it like any hedge's.
		if p := e.Pending; p != nil {
			h := &Hedge{ExecutionID: p.ExecutionID, Direction: p.Direction, Shares: p.Shares, Broker: e.Execution.Broker,
				TriggerKind: TriggerMigrated, TriggerNetPosition: e.NetPosition, PlacedAt: e.MigratedAt}
			s.Hedge = h
			emit(HedgesTable.Name, h.ExecutionID, hedgeRow(h, symbol, it, HedgePlaced, outcome{}))
		}
	case position.OnChainOrderFilled:
		s.LastFillBlockTimestamp, s.LastFillSeenAt = timePtr(e.BlockTimestamp), timePtr(e.SeenAt)
	case position.OffChainOrderPlaced:
		h := &Hedge{
			ExecutionID: e.ExecutionID, Direction: e.Direction, Shares: e.Shares, Broker: e.Broker,
			TriggerKind: string(e.TriggerReason.Kind), TriggerNetPosition: e.TriggerReason.NetPosition,
			ReferencePrice:        e.ReferencePrice,
			TriggerBlockTimestamp: s.LastFillBlockTimestamp, TriggerSeenAt: s.LastFillSeenAt,
			PlacedAt: e.PlacedAt,
		}
		s.Hedge = h
		emit(HedgesTable.Name, h.ExecutionID, hedgeRow(h, symbol, it, HedgePlaced, outcome{}))
	case position.OffChainOrderFilled:
		h := placedHedge(s.Hedge, before.State.Pending, before.State.Execution.Broker)
		s.Hedge = nil
		o := outcome{filledAt: timePtr(e.BrokerTimestamp), brokerOrderID: e.BrokerOrderID, price: &e.Price, sharesFilled: &e.SharesFilled}
		emit(HedgesTable.Name, h.ExecutionID, hedgeRow(h, symbol, it, HedgeFilled, o))
	case position.OffChainOrderFailed:
		h := placedHedge(s.Hedge, before.State.Pending, before.State.Execution.Broker)
		s.Hedge = nil
		o := outcome{failedAt: timePtr(e.FailedAt), err: e.Error}
		emit(HedgesTable.Name, h.ExecutionID, hedgeRow(h, symbol, it, HedgeFailed, o))
	}
	return s, nil
}

// placedHedge is the pending hedge's placement; without one recorded (a
// state folded before the projection kept it) the lifecycle's pending
// execution gives what it can.
func placedHedge(h *Hedge, p *position.Pending, broker market.Broker) *Hedge {
	if h != nil {
		return h
	}
	if p == nil { // unreachable: the fold checked a hedge was pending
		return &Hedge{}
	}
	return &Hedge{ExecutionID: p.ExecutionID, Direction: p.Direction, Shares: p.Shares, Broker: broker, PlacedAt: p.PlacedAt}
}

type outcome struct {
	filledAt, failedAt  *time.Time
	brokerOrderID, err  string
	price, sharesFilled *decimal.Decimal
}

func hedgeRow(h *Hedge, symbol string, it Item[AggregateEvent], status string, o outcome) []any {
	var perShare, usd *decimal.Decimal
	if o.price != nil && h.ReferencePrice != nil {
		d := o.price.Sub(*h.ReferencePrice) // Buy: paid above the reference
		if h.Direction == market.Sell {
			d = d.Neg() // Sell: received below the reference
		}
		if perShare = amountPtr(d); perShare != nil && o.sharesFilled != nil {
			// Exact in Go; rounded to the column's 18 places (the exact
			// product can have 36), NULL if it does not fit.
			usd = amountPtr(d.Mul(*o.sharesFilled).Round(market.MaxScale))
		}
	}
	return []any{
		h.ExecutionID, it.Key, it.Version, symbol, status, string(h.Direction), h.Shares, string(h.Broker),
		h.TriggerKind, h.TriggerNetPosition, h.ReferencePrice, h.TriggerBlockTimestamp, h.TriggerSeenAt,
		ts(h.PlacedAt), o.filledAt, o.brokerOrderID, o.price, o.sharesFilled, o.failedAt, o.err,
		perShare, usd,
	}
}

func positionRow(id string, seq uint64, s PositionState, js string) []any {
	st := s.Lifecycle.State
	symbol := string(st.Symbol)
	if symbol == "" {
		symbol = id
	}
	var (
		pendingID, pendingDir string
		pendingShares         *decimal.Decimal
		pendingAt             *time.Time
	)
	if p := st.Pending; p != nil {
		pendingID, pendingDir, pendingAt = p.ExecutionID, string(p.Direction), timePtr(p.PlacedAt)
		shares := p.Shares
		pendingShares = &shares
	}
	kind, value := "", decimal.Zero
	switch t := st.Threshold; {
	case t.Shares != nil:
		kind, value = "shares", *t.Shares
	case t.Dollars != nil:
		kind, value = "dollars", *t.Dollars
	}
	return []any{
		id, seq, symbol, st.Net, st.AccumulatedLong, st.AccumulatedShort, st.HedgedShares,
		pendingID, pendingShares, pendingDir, pendingAt,
		kind, value, string(st.Execution.Broker), boolU8(st.Execution.Fractional), st.LastPriceUSDC, ts(st.LastUpdated),
		lifecycleStatus(s.Lifecycle.Status), s.Lifecycle.Failure, js,
	}
}
