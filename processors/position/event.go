package position

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Initialized opens a position (genesis).
type Initialized struct {
	Symbol        market.Symbol    `json:"symbol"`
	Threshold     market.Threshold `json:"threshold"`
	Execution     market.Execution `json:"execution"`
	InitializedAt time.Time        `json:"initialized_at"`
}

// Migrated opens a position from a legacy accumulator row (genesis).
type Migrated struct {
	Symbol           market.Symbol    `json:"symbol"`
	NetPosition      decimal.Decimal  `json:"net_position"`
	AccumulatedLong  decimal.Decimal  `json:"accumulated_long"`
	AccumulatedShort decimal.Decimal  `json:"accumulated_short"`
	Threshold        market.Threshold `json:"threshold"`
	Execution        market.Execution `json:"execution"`
	// Pending: see Migrate; it becomes the reserved pending hedge.
	Pending    *MigratedPending `json:"pending,omitempty"`
	MigratedAt time.Time        `json:"migrated_at"`
}

// MigratedFillRecorded is one legacy fill of a migrated position, for the
// PnL history (booked like an on-chain fill or a hedge fill by venue). Net,
// gross volume and hedged shares do not move: the migrated net counts it.
type MigratedFillRecorded struct {
	Symbol     market.Symbol    `json:"symbol"`
	Venue      string           `json:"venue"`
	SourceID   string           `json:"source_id"`
	Direction  market.Direction `json:"direction"`
	Amount     decimal.Decimal  `json:"amount"`
	PriceUSDC  decimal.Decimal  `json:"price_usdc"`
	At         time.Time        `json:"at"`
	RecordedAt time.Time        `json:"recorded_at"`
}

// OnChainOrderFilled is one orderbook fill on the bot's side: Buy adds to
// net, Sell subtracts.
type OnChainOrderFilled struct {
	TradeID        market.TradeID   `json:"trade_id"`
	BlockNumber    uint64           `json:"block_number"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	SeenAt         time.Time        `json:"seen_at"`
	// FillSequence: see AcknowledgeOnChainFill (omitted for 1).
	FillSequence uint64 `json:"fill_sequence,omitempty"`
}

// OnChainFillReverted withdraws an applied on-chain fill: its signed amount
// leaves net and the gross volume. It repeats the fill (the PnL stage books
// its opposite at PriceUSDC).
type OnChainFillReverted struct {
	TradeID      market.TradeID   `json:"trade_id"`
	BlockNumber  uint64           `json:"block_number"`
	FillSequence uint64           `json:"fill_sequence,omitempty"`
	Amount       decimal.Decimal  `json:"amount"`
	Direction    market.Direction `json:"direction"`
	PriceUSDC    decimal.Decimal  `json:"price_usdc"`
	Reason       string           `json:"reason"`
	RevertedAt   time.Time        `json:"reverted_at"`
}

// OffChainOrderPlaced asks the order manager to hedge at the broker. The
// execution id doubles as the broker's client order id.
type OffChainOrderPlaced struct {
	ExecutionID   string           `json:"execution_id"`
	Symbol        market.Symbol    `json:"symbol"`
	Shares        decimal.Decimal  `json:"shares"`
	Direction     market.Direction `json:"direction"`
	Broker        market.Broker    `json:"broker"`
	TriggerReason TriggerReason    `json:"trigger_reason"`
	// ReferencePrice is the last on-chain price, null before any fill.
	ReferencePrice *decimal.Decimal `json:"reference_price"`
	PlacedAt       time.Time        `json:"placed_at"`
}

// OffChainOrderFilled reports the broker fill of the pending hedge.
type OffChainOrderFilled struct {
	ExecutionID   string           `json:"execution_id"`
	SharesFilled  decimal.Decimal  `json:"shares_filled"`
	Direction     market.Direction `json:"direction"`
	BrokerOrderID string           `json:"broker_order_id"`
	// Price is USD per share (upstream's price_cents lost precision).
	Price           decimal.Decimal `json:"price"`
	BrokerTimestamp time.Time       `json:"broker_timestamp"`
}

// OffChainOrderFailed reports that the pending hedge did not execute; the
// exposure stays in net.
type OffChainOrderFailed struct {
	ExecutionID string    `json:"execution_id"`
	Error       string    `json:"error"`
	FailedAt    time.Time `json:"failed_at"`
}

// ThresholdUpdated keeps the old threshold as an audit trail.
type ThresholdUpdated struct {
	OldThreshold market.Threshold `json:"old_threshold"`
	NewThreshold market.Threshold `json:"new_threshold"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

func (Initialized) EventType() string         { return "PositionEvent::Initialized" }
func (Migrated) EventType() string            { return "PositionEvent::Migrated" }
func (OnChainOrderFilled) EventType() string  { return "PositionEvent::OnChainOrderFilled" }
func (OnChainFillReverted) EventType() string { return "PositionEvent::OnChainFillReverted" }
func (OffChainOrderPlaced) EventType() string { return "PositionEvent::OffChainOrderPlaced" }
func (OffChainOrderFilled) EventType() string { return "PositionEvent::OffChainOrderFilled" }
func (OffChainOrderFailed) EventType() string { return "PositionEvent::OffChainOrderFailed" }
func (ThresholdUpdated) EventType() string    { return "PositionEvent::ThresholdUpdated" }
func (MigratedFillRecorded) EventType() string {
	return "PositionEvent::MigratedFillRecorded"
}

// Events decodes event payloads by type name.
var Events = aggregate.Decoder[aggregate.Event]{
	"PositionEvent::Initialized":          aggregate.As[Initialized, aggregate.Event],
	"PositionEvent::Migrated":             aggregate.As[Migrated, aggregate.Event],
	"PositionEvent::OnChainOrderFilled":   aggregate.As[OnChainOrderFilled, aggregate.Event],
	"PositionEvent::OnChainFillReverted":  aggregate.As[OnChainFillReverted, aggregate.Event],
	"PositionEvent::OffChainOrderPlaced":  aggregate.As[OffChainOrderPlaced, aggregate.Event],
	"PositionEvent::OffChainOrderFilled":  aggregate.As[OffChainOrderFilled, aggregate.Event],
	"PositionEvent::OffChainOrderFailed":  aggregate.As[OffChainOrderFailed, aggregate.Event],
	"PositionEvent::ThresholdUpdated":     aggregate.As[ThresholdUpdated, aggregate.Event],
	"PositionEvent::MigratedFillRecorded": aggregate.As[MigratedFillRecorded, aggregate.Event],
}
