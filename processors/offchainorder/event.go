package offchainorder

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Placed creates a Pending order.
type Placed struct {
	Symbol    market.Symbol    `json:"symbol"`
	Shares    decimal.Decimal  `json:"shares"`
	Direction market.Direction `json:"direction"`
	Broker    market.Broker    `json:"broker"`
	// ReferencePrice is the optional last on-chain price (see Place).
	ReferencePrice *decimal.Decimal `json:"reference_price,omitempty"`
	PlacedAt       time.Time        `json:"placed_at"`
}

// Submitted moves Pending to Submitted.
type Submitted struct {
	BrokerOrderID string    `json:"broker_order_id"`
	SubmittedAt   time.Time `json:"submitted_at"`
}

// PartiallyFilled records a cumulative partial fill.
type PartiallyFilled struct {
	SharesFilled      decimal.Decimal `json:"shares_filled"`
	AvgPrice          decimal.Decimal `json:"avg_price"`
	PartiallyFilledAt time.Time       `json:"partially_filled_at"`
}

// Filled completes the order: all its shares at Price.
type Filled struct {
	Price    decimal.Decimal `json:"price"`
	FilledAt time.Time       `json:"filled_at"`
}

// Failed ends a non-terminal order.
type Failed struct {
	Error    string    `json:"error"`
	FailedAt time.Time `json:"failed_at"`
}

// Migrated creates an order from a legacy row in the status it had.
type Migrated struct {
	Symbol        market.Symbol    `json:"symbol"`
	Shares        decimal.Decimal  `json:"shares"`
	Direction     market.Direction `json:"direction"`
	Broker        market.Broker    `json:"broker"`
	Status        Status           `json:"status"`
	Error         string           `json:"error,omitempty"`
	BrokerOrderID *string          `json:"broker_order_id,omitempty"`
	Price         *decimal.Decimal `json:"price,omitempty"`
	ExecutedAt    *time.Time       `json:"executed_at,omitempty"`
	LegacyID      uint64           `json:"legacy_id,omitempty"`
	MigratedAt    time.Time        `json:"migrated_at"`
}

func (Placed) EventType() string          { return "OffchainOrderEvent::Placed" }
func (Submitted) EventType() string       { return "OffchainOrderEvent::Submitted" }
func (PartiallyFilled) EventType() string { return "OffchainOrderEvent::PartiallyFilled" }
func (Filled) EventType() string          { return "OffchainOrderEvent::Filled" }
func (Failed) EventType() string          { return "OffchainOrderEvent::Failed" }
func (Migrated) EventType() string        { return "OffchainOrderEvent::Migrated" }

// Events decodes event payloads by type name.
var Events = aggregate.Decoder[aggregate.Event]{
	"OffchainOrderEvent::Placed":          aggregate.As[Placed, aggregate.Event],
	"OffchainOrderEvent::Submitted":       aggregate.As[Submitted, aggregate.Event],
	"OffchainOrderEvent::PartiallyFilled": aggregate.As[PartiallyFilled, aggregate.Event],
	"OffchainOrderEvent::Filled":          aggregate.As[Filled, aggregate.Event],
	"OffchainOrderEvent::Failed":          aggregate.As[Failed, aggregate.Event],
	"OffchainOrderEvent::Migrated":        aggregate.As[Migrated, aggregate.Event],
}
