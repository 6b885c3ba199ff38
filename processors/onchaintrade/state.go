package onchaintrade

import (
	"time"

	"github.com/hedgeline/hedgeline/processors/market"
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
}

// Enrichment is the gas and oracle data added after the fill.
type Enrichment struct {
	GasUsed uint64 `json:"gas_used"`
	// EffectiveGasPrice is in wei; nil for migrated trades, whose legacy
	// rows never carried it into the event.
	EffectiveGasPrice *uint64           `json:"effective_gas_price,omitempty"`
	PythPrice         *market.PythPrice `json:"pyth_price,omitempty"`
	EnrichedAt        time.Time         `json:"enriched_at"`
}

// Enriched reports whether gas (and possibly Pyth) data was added.
func (s State) Enriched() bool { return s.Enrichment != nil }
