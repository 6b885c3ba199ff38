package position

import (
	"time"

	"github.com/hedgeline/hedgeline/processors/market"
	"github.com/shopspring/decimal"
)

// State is one position. Net is what still needs hedging; the accumulated
// fields are gross on-chain volume and are never reduced (the legacy model
// reduced them, which made its consistency check meaningless).
type State struct {
	Symbol           market.Symbol   `json:"symbol"`
	Net              decimal.Decimal `json:"net"`
	AccumulatedLong  decimal.Decimal `json:"accumulated_long"`
	AccumulatedShort decimal.Decimal `json:"accumulated_short"`
	// HedgedShares is the signed sum of filled hedges (Buy +, Sell -), so
	// Net = migrated net + on-chain signed volume + HedgedShares.
	HedgedShares decimal.Decimal `json:"hedged_shares"`
	Pending      *Pending        `json:"pending"`
	// omitzero: market.Threshold and market.Broker reject their own zero
	// JSON, and a lifecycle that failed before genesis has a zero state that
	// the runner must still be able to store and load.
	Threshold     market.Threshold `json:"threshold,omitzero"`
	Execution     market.Execution `json:"execution,omitzero"`
	LastPriceUSDC *decimal.Decimal `json:"last_price_usdc"`
	LastUpdated   time.Time        `json:"last_updated"`
	// LastFill is the chain-order watermark of applied on-chain fills.
	LastFill *FillMark `json:"last_fill"`
}

// Pending is the one hedge in flight; there is never more than one.
type Pending struct {
	ExecutionID string           `json:"execution_id"`
	Shares      decimal.Decimal  `json:"shares"`
	Direction   market.Direction `json:"direction"`
	PlacedAt    time.Time        `json:"placed_at"`
}

// FillMark is where an on-chain fill sits in chain order. Fills of one symbol
// arrive in chain order, so a fill at or below the last mark was already
// applied (a redelivery) or is out of order; either way applying it would
// count it twice or out of sequence.
type FillMark struct {
	BlockNumber uint64         `json:"block_number"`
	LogIndex    uint64         `json:"log_index"`
	TradeID     market.TradeID `json:"trade_id"`
}

// Before reports whether m comes strictly before o in chain order.
func (m FillMark) Before(o FillMark) bool {
	return m.BlockNumber < o.BlockNumber || m.BlockNumber == o.BlockNumber && m.LogIndex < o.LogIndex
}
