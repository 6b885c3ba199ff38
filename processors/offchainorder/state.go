package offchainorder

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// Status is where a live order is in the state machine.
type Status string

const (
	StatusPending         Status = "Pending"
	StatusSubmitted       Status = "Submitted"
	StatusPartiallyFilled Status = "PartiallyFilled"
	StatusFilled          Status = "Filled"
	StatusFailed          Status = "Failed"
)

// Statuses lists every status, in state-machine order.
var Statuses = []Status{StatusPending, StatusSubmitted, StatusPartiallyFilled, StatusFilled, StatusFailed}

// Terminal reports whether no command can change the order any more.
func (s Status) Terminal() bool { return s == StatusFilled || s == StatusFailed }

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusSubmitted, StatusPartiallyFilled, StatusFilled, StatusFailed:
		return true
	}
	return false
}

// State is one broker order. Prices are exact decimals in USD per share
// (upstream rounded them to cents). Times of steps not reached are zero and
// omitted from JSON.
type State struct {
	Status    Status           `json:"status"`
	Symbol    market.Symbol    `json:"symbol"` // base ticker
	Shares    decimal.Decimal  `json:"shares"`
	Direction market.Direction `json:"direction"`
	Broker    market.Broker    `json:"broker"`
	// ReferencePrice is the last on-chain price when the order was placed
	// (nil if unknown, and for migrated orders).
	ReferencePrice *decimal.Decimal `json:"reference_price,omitempty"`
	// BrokerOrderID is set from Submitted on (and on a Failed order that
	// was submitted).
	BrokerOrderID string `json:"broker_order_id,omitempty"`
	// SharesFilled is the latest cumulative fill; Shares once Filled.
	SharesFilled decimal.Decimal `json:"shares_filled"`
	// AvgPrice is the broker's average fill price of the partial fills.
	AvgPrice decimal.Decimal `json:"avg_price,omitzero"`
	// Price is the final average fill price (Filled only).
	Price             decimal.Decimal `json:"price,omitzero"`
	PlacedAt          time.Time       `json:"placed_at"`
	SubmittedAt       time.Time       `json:"submitted_at,omitzero"`
	PartiallyFilledAt time.Time       `json:"partially_filled_at,omitzero"`
	FilledAt          time.Time       `json:"filled_at,omitzero"`
	FailedAt          time.Time       `json:"failed_at,omitzero"`
	Error             string          `json:"error,omitempty"`
}
