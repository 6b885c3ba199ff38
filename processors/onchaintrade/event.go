package onchaintrade

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Filled is the genesis event of a witnessed fill.
type Filled struct {
	TradeID        market.TradeID   `json:"trade_id"`
	Symbol         string           `json:"symbol"`
	BaseSymbol     market.Symbol    `json:"base_symbol"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	FilledAt       time.Time        `json:"filled_at"`
}

// Enriched adds gas and optional Pyth data (the equity's price and
// ETH/USD, both at the fill's block) to a filled trade.
type Enriched struct {
	GasUsed           uint64            `json:"gas_used"`
	EffectiveGasPrice uint64            `json:"effective_gas_price"`
	PythPrice         *market.PythPrice `json:"pyth_price,omitempty"`
	ETHUSDPrice       *market.PythPrice `json:"eth_usd_price,omitempty"`
	EnrichedAt        time.Time         `json:"enriched_at"`
}

// Migrated is the genesis event of a trade imported from the legacy table.
type Migrated struct {
	TradeID        market.TradeID   `json:"trade_id"`
	Symbol         string           `json:"symbol"`
	BaseSymbol     market.Symbol    `json:"base_symbol"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	GasUsed        *uint64          `json:"gas_used,omitempty"`
	// EffectiveGasPrice is absent in events of older migrations.
	EffectiveGasPrice *uint64           `json:"effective_gas_price,omitempty"`
	PythPrice         *market.PythPrice `json:"pyth_price,omitempty"`
	MigratedAt        time.Time         `json:"migrated_at"`
}

// Reverted withdraws the trade's fill. It repeats the fill it withdraws, so
// the trade manager and the views need nothing else to undo it.
// FillSequence is the sequence of the Filled (or Migrated) event that
// recorded that fill: it tells a revert of one incarnation of a trade from
// a revert of the next (the same transaction witnessed again).
type Reverted struct {
	TradeID        market.TradeID   `json:"trade_id"`
	Symbol         string           `json:"symbol"`
	BaseSymbol     market.Symbol    `json:"base_symbol"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	FillSequence   uint64           `json:"fill_sequence"`
	Reason         RevertReason     `json:"reason"`
	ForkBlock      uint64           `json:"fork_block,omitempty"`
	ForkHash       string           `json:"fork_hash,omitempty"`
	RevertedAt     time.Time        `json:"reverted_at"`
}

func (Filled) EventType() string   { return "OnChainTradeEvent::Filled" }
func (Enriched) EventType() string { return "OnChainTradeEvent::Enriched" }
func (Migrated) EventType() string { return "OnChainTradeEvent::Migrated" }
func (Reverted) EventType() string { return "OnChainTradeEvent::Reverted" }

// Events decodes event payloads by type name.
var Events = aggregate.Decoder[aggregate.Event]{
	"OnChainTradeEvent::Filled":   aggregate.As[Filled, aggregate.Event],
	"OnChainTradeEvent::Enriched": aggregate.As[Enriched, aggregate.Event],
	"OnChainTradeEvent::Migrated": aggregate.As[Migrated, aggregate.Event],
	"OnChainTradeEvent::Reverted": aggregate.As[Reverted, aggregate.Event],
}
