package onchaintrade

import (
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// State is a filled trade. The lifecycle's Uninitialized status is the
// upstream "Unfilled" state.
type State struct {
	TradeID market.TradeID `json:"trade_id"`
	// Symbol is the tokenized symbol as on chain ("tAAPL").
	Symbol string `json:"symbol"`
	// BaseSymbol is the ticker the position and the hedge key on ("AAPL").
	BaseSymbol market.Symbol `json:"base_symbol"`
	// Amount is the number of shares that changed hands.
	Amount decimal.Decimal `json:"amount"`
	// Direction is the bot's side of the fill on chain.
	Direction      market.Direction `json:"direction"`
	PriceUSDC      decimal.Decimal  `json:"price_usdc"`
	BlockNumber    uint64           `json:"block_number"`
	BlockTimestamp time.Time        `json:"block_timestamp"`
	// FilledAt is when the fill was witnessed (block_timestamp for migrated
	// trades).
	FilledAt time.Time `json:"filled_at"`
	// Enrichment is nil until the trade is enriched.
	Enrichment *Enrichment `json:"enrichment,omitempty"`
	// FillSequence is the sequence of the event that recorded the current
	// fill (1, or later for a fill witnessed again after a revert); 0 in
	// states folded before it existed, which means 1.
	FillSequence uint64 `json:"fill_sequence,omitempty"`
	// Reversal is set while the fill is reverted; a new Witness clears it.
	Reversal *Reversal `json:"reversal,omitempty"`
}

// Reversal is why and when a fill was withdrawn.
type Reversal struct {
	Reason     RevertReason `json:"reason"`
	ForkBlock  uint64       `json:"fork_block,omitempty"`
	ForkHash   string       `json:"fork_hash,omitempty"`
	RevertedAt time.Time    `json:"reverted_at"`
}

// Reverted reports whether the trade's fill is withdrawn.
func (s State) Reverted() bool { return s.Reversal != nil }

// fillSequence is FillSequence with the default of older states.
func (s State) fillSequence() uint64 {
	if s.FillSequence == 0 {
		return 1
	}
	return s.FillSequence
}

// Enrichment is the gas and oracle data added after the fill.
type Enrichment struct {
	GasUsed uint64 `json:"gas_used"`
	// EffectiveGasPrice is in wei; nil for migrated trades whose legacy
	// row had none.
	EffectiveGasPrice *uint64           `json:"effective_gas_price,omitempty"`
	PythPrice         *market.PythPrice `json:"pyth_price,omitempty"`
	// ETHUSDPrice is Pyth's ETH/USD at the fill's block, for the gas cost
	// in USD; nil when the chain source could not read it, and for
	// migrated trades (the legacy table had none).
	ETHUSDPrice *market.PythPrice `json:"eth_usd_price,omitempty"`
	EnrichedAt  time.Time         `json:"enriched_at"`
}

// Enriched reports whether gas (and possibly Pyth) data was added.
func (s State) Enriched() bool { return s.Enrichment != nil }
