package offchainorder

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Place creates the order (genesis).
type Place struct {
	Symbol    market.Symbol    `json:"symbol"`
	Shares    decimal.Decimal  `json:"shares"`
	Direction market.Direction `json:"direction"`
	Broker    market.Broker    `json:"broker"`
	// ReferencePrice is the last on-chain price (USD per share) the
	// position saw, for brokers that need a price (limits, dry-run fills);
	// optional, positive when set.
	ReferencePrice *decimal.Decimal `json:"reference_price,omitempty"`
}

// ConfirmSubmission records the broker's order id; only from Pending.
type ConfirmSubmission struct {
	BrokerOrderID string `json:"broker_order_id"`
}

// UpdatePartialFill records the broker's cumulative fill so far: positive,
// below the order's shares and never below the previous update.
type UpdatePartialFill struct {
	SharesFilled decimal.Decimal `json:"shares_filled"`
	AvgPrice     decimal.Decimal `json:"avg_price"`
}

// CompleteFill records the final fill at Price (USD per share). If the
// broker reports SharesFilled it must equal the order's shares: a terminal
// fill of fewer shares is a partial fill followed by MarkFailed, never a
// silent Filled (the position would lose the difference).
type CompleteFill struct {
	Price        decimal.Decimal  `json:"price"`
	SharesFilled *decimal.Decimal `json:"shares_filled,omitempty"`
}

// MarkFailed ends a non-terminal order with the broker's (or our) reason.
type MarkFailed struct {
	Error string `json:"error"`
}

// Migrate imports a legacy offchain_trades row (genesis). Status is
// Pending, Submitted, Filled or Failed; Error is required for Failed and
// forbidden otherwise; BrokerOrderID is required for Submitted and Filled,
// optional for Failed and forbidden for Pending; Price is required for
// Filled and forbidden otherwise. ExecutedAt defaults to the migration time.
type Migrate struct {
	Symbol        market.Symbol    `json:"symbol"`
	Shares        decimal.Decimal  `json:"shares"`
	Direction     market.Direction `json:"direction"`
	Broker        market.Broker    `json:"broker"`
	Status        Status           `json:"status"`
	Error         string           `json:"error,omitempty"`
	BrokerOrderID *string          `json:"broker_order_id,omitempty"`
	Price         *decimal.Decimal `json:"price,omitempty"`
	ExecutedAt    *time.Time       `json:"executed_at,omitempty"`
	// LegacyID is the offchain_trades row id, so a message about the
	// order (an in-flight one failed at the cut-over) can name the row.
	LegacyID uint64 `json:"legacy_id,omitempty"`
}

func (Place) CommandType() string             { return "Place" }
func (ConfirmSubmission) CommandType() string { return "ConfirmSubmission" }
func (UpdatePartialFill) CommandType() string { return "UpdatePartialFill" }
func (CompleteFill) CommandType() string      { return "CompleteFill" }
func (MarkFailed) CommandType() string        { return "MarkFailed" }
func (Migrate) CommandType() string           { return "Migrate" }

// Commands decodes command payloads by type name.
var Commands = aggregate.Decoder[aggregate.Command]{
	"Place":             aggregate.As[Place, aggregate.Command],
	"ConfirmSubmission": aggregate.As[ConfirmSubmission, aggregate.Command],
	"UpdatePartialFill": aggregate.As[UpdatePartialFill, aggregate.Command],
	"CompleteFill":      aggregate.As[CompleteFill, aggregate.Command],
	"MarkFailed":        aggregate.As[MarkFailed, aggregate.Command],
	"Migrate":           aggregate.As[Migrate, aggregate.Command],
}
