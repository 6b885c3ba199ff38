package sinks

import (
	"math/big"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// TradesTable is the view of onchain-trade.events: one row per fill.
var TradesTable = Table{Name: "onchain_trade_view", Columns: []string{
	"aggregate_id", "sequence", "tx_hash", "log_index", "block_number", "block_timestamp", "filled_at",
	"symbol", "base_symbol", "direction", "amount", "price_usdc",
	"gas_used", "effective_gas_price", "pyth_price", "pyth_conf", "pyth_publish_time", "enriched_at",
	"migrated", "status", "failure", "state",
	"reverted", "revert_reason", "fork_block", "reverted_at", "fill_sequence",
	"gas_cost_eth", "eth_usd_price", "gas_cost_usd",
}}

// TradeState is what the trades projection folds per fill and stores in
// the state column: the aggregate's lifecycle and whether it was migrated
// from the legacy table (the lifecycle alone does not tell).
type TradeState struct {
	Lifecycle aggregate.Lifecycle[onchaintrade.State] `json:"lifecycle"`
	Migrated  bool                                    `json:"migrated,omitempty"`
}

// NewTradesProjection projects onchain-trade.events into onchain_trade_view.
func NewTradesProjection() *StateProjection[TradeState, AggregateEvent] {
	p, err := NewStateProjection(StateConfig[TradeState, AggregateEvent]{
		Name: "trades", Topic: topics.OnChainTradeEvents, AggregateType: topics.OnChainTrade,
		StateTable: TradesTable, KeyColumn: "aggregate_id", VersionColumn: "sequence",
		Contiguous: true,
		Decode:     decodeEvents(topics.OnChainTrade, onchaintrade.Events.Decode),
		Apply:      applyTrade,
		Row:        tradeRow,
	})
	if err != nil {
		panic(err) // static configuration
	}
	return p
}

func applyTrade(s TradeState, _ bool, it Item[AggregateEvent], _ Emit) (TradeState, error) {
	l, err := evolve(s.Lifecycle, it, onchaintrade.Evolve)
	s.Lifecycle = l
	if _, ok := it.Event.Event.(onchaintrade.Migrated); ok && err == nil {
		s.Migrated = true
	}
	return s, err
}

func tradeRow(id string, seq uint64, s TradeState, js string) []any {
	st := s.Lifecycle.State
	tid := st.TradeID
	if tid.TxHash == "" {
		tid, _ = market.ParseTradeID(id) // a trade that failed at genesis
	}
	var (
		gas, gasPrice               *uint64
		pythPrice, pythConf         *decimal.Decimal
		pythPublished, enrichedTime *time.Time
	)
	costETH, ethUSD, costUSD := gasCost(st.Enrichment)
	if e := st.Enrichment; e != nil {
		g := e.GasUsed
		gas, gasPrice, enrichedTime = &g, e.EffectiveGasPrice, timePtr(e.EnrichedAt)
		if pp := e.PythPrice; pp != nil {
			if v, err := pp.Price(); err == nil {
				pythPrice = amountPtr(v)
			}
			if c, err := decimal.NewFromString(pp.Conf); err == nil {
				pythConf = amountPtr(c.Shift(pp.Expo))
			}
			pythPublished = timePtr(pp.PublishTime)
		}
	}
	var (
		reason       string
		forkBlock    uint64
		revertedTime *time.Time
	)
	if r := st.Reversal; r != nil {
		reason, forkBlock, revertedTime = string(r.Reason), r.ForkBlock, timePtr(r.RevertedAt)
	}
	return []any{
		id, seq, tid.TxHash, tid.LogIndex, st.BlockNumber, ts(st.BlockTimestamp), ts(st.FilledAt),
		st.Symbol, string(st.BaseSymbol), string(st.Direction), st.Amount, st.PriceUSDC,
		gas, gasPrice, pythPrice, pythConf, pythPublished, enrichedTime,
		boolU8(s.Migrated), lifecycleStatus(s.Lifecycle.Status), s.Lifecycle.Failure, js,
		boolU8(st.Reverted()), reason, forkBlock, revertedTime, max(st.FillSequence, 1),
		costETH, ethUSD, costUSD,
	}
}

// gasUSDPlaces is where gas_cost_usd is rounded (half away from zero): the
// columns' scale. Gas of a fill is cents or less, so cents would say 0.
const gasUSDPlaces = 18

// gasCost is the gas cost of a fill's transaction in ETH (gas used × the
// effective gas price in wei / 1e18, exact), Pyth's ETH/USD at its block,
// and the cost in USD (their product rounded to gasUSDPlaces). Each is nil
// (NULL) when its inputs are missing or Decimal(38, 18) cannot hold it.
func gasCost(e *onchaintrade.Enrichment) (eth, ethUSD, usd *decimal.Decimal) {
	if e == nil {
		return nil, nil, nil
	}
	if e.EffectiveGasPrice != nil {
		wei := new(big.Int).Mul(new(big.Int).SetUint64(e.GasUsed), new(big.Int).SetUint64(*e.EffectiveGasPrice))
		eth = amountPtr(decimal.NewFromBigInt(wei, -18))
	}
	if p := e.ETHUSDPrice; p != nil {
		if v, err := p.Price(); err == nil {
			ethUSD = amountPtr(v)
		}
	}
	if eth != nil && ethUSD != nil {
		usd = amountPtr(eth.Mul(*ethUSD).Round(gasUSDPlaces))
	}
	return eth, ethUSD, usd
}

// lifecycleStatus is "live" or "failed" ("" before genesis, which a stored
// row never has).
func lifecycleStatus(s aggregate.Status) string { return string(s) }

// amountPtr returns v if Decimal(38,18) holds it exactly, else nil (NULL):
// analytics values derived from oracle data must not fail an insert.
func amountPtr(v decimal.Decimal) *decimal.Decimal {
	if market.CheckAmount(v) != nil {
		return nil
	}
	return &v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ts is a non-nullable time column's value: the zero time (a state that
// failed before genesis) becomes the Unix epoch, which DateTime64 holds.
func ts(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
