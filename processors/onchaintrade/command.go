package onchaintrade

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Witness records a fill seen on chain. It is the genesis command and the
// duplicate guard: a second Witness of the same trade is ErrAlreadyFilled.
type Witness struct {
	TradeID market.TradeID `json:"trade_id"`
	// Symbol is the tokenized symbol as on chain ("tAAPL", "AAPL0x", "NVDAs1").
	Symbol         string           `json:"symbol"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
}

// Enrich adds gas and (optionally) Pyth data to a filled trade, once.
type Enrich struct {
	// GasUsed is the transaction's gas; positive and at most MaxInt64.
	GasUsed uint64 `json:"gas_used"`
	// EffectiveGasPrice is the receipt's effective gas price in wei, a JSON
	// integer; positive and at most MaxInt64 (the legacy column's bound and
	// upstream's GasPriceOutOfRange).
	EffectiveGasPrice uint64 `json:"effective_gas_price"`
	// PythPrice is the equity's Pyth price at the fill's block.
	PythPrice *market.PythPrice `json:"pyth_price,omitempty"`
	// ETHUSDPrice is Pyth's ETH/USD price at the same block: what the gas
	// cost in USD. Absent when it could not be read, and in commands and
	// events from before it existed (they stay byte-identical).
	ETHUSDPrice *market.PythPrice `json:"eth_usd_price,omitempty"`
}

// Migrate imports a legacy onchain_trades row. block_number may be 0 (the
// legacy table had none); gas and Pyth data are optional.
type Migrate struct {
	TradeID        market.TradeID   `json:"trade_id"`
	Symbol         string           `json:"symbol"`
	Amount         decimal.Decimal  `json:"amount"`
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	GasUsed        *uint64          `json:"gas_used,omitempty"`
	// EffectiveGasPrice (wei) is the legacy column of the same name, kept
	// when the row had it; it needs GasUsed.
	EffectiveGasPrice *uint64           `json:"effective_gas_price,omitempty"`
	PythPrice         *market.PythPrice `json:"pyth_price,omitempty"`
}

// Revert withdraws a fill whose block is no longer canonical (a reorg), or
// one an operator withdraws by hand. The trade keeps its id and history and
// may be witnessed again: the same transaction mined in the canonical chain.
type Revert struct {
	TradeID market.TradeID `json:"trade_id"`
	// BlockNumber is the block the fill being reverted was witnessed in: a
	// revert of an earlier incarnation (the fill was witnessed again since)
	// is refused instead of withdrawing the canonical one.
	BlockNumber uint64       `json:"block_number"`
	Reason      RevertReason `json:"reason"`
	// ForkBlock is the first block whose ingested hash is no longer
	// canonical, ForkHash that orphaned hash; required for reason "reorg"
	// (ForkBlock <= BlockNumber), absent for "manual".
	ForkBlock uint64 `json:"fork_block,omitempty"`
	ForkHash  string `json:"fork_hash,omitempty"`
}

// RevertReason says why a fill was reverted.
type RevertReason string

const (
	// RevertReorg: the fill's block left the canonical chain.
	RevertReorg RevertReason = "reorg"
	// RevertManual: an operator withdrew the fill.
	RevertManual RevertReason = "manual"
)

func (Witness) CommandType() string { return "Witness" }
func (Enrich) CommandType() string  { return "Enrich" }
func (Migrate) CommandType() string { return "Migrate" }
func (Revert) CommandType() string  { return "Revert" }

// Commands decodes command payloads by type name.
var Commands = aggregate.Decoder[aggregate.Command]{
	"Witness": aggregate.As[Witness, aggregate.Command],
	"Enrich":  aggregate.As[Enrich, aggregate.Command],
	"Migrate": aggregate.As[Migrate, aggregate.Command],
	"Revert":  aggregate.As[Revert, aggregate.Command],
}
