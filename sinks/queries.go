package sinks

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
)

// The read queries of the CLI and REST API. Each is plain ClickHouse SQL
// with server-side parameters ({name:Type}), so it can be pasted into
// clickhouse-client (--param_name=value) or Grafana unchanged; QUERIES.md
// has them with examples. Parameters every query takes:
//
//	symbols Array(String)       base symbols; [] means all
//	from    DateTime64(6,'UTC') inclusive lower bound of the query's time column
//	to      DateTime64(6,'UTC') exclusive upper bound
//	limit   UInt64              Trades and Orders only
//	statuses Array(String)      Orders only: order statuses; [] means all
//	bucket  UInt32              PnLHistory only: bucket size in seconds
//
// Every query reads with FINAL, so rows not yet merged never count twice.
const (
	// QueryPnL reads the pnl_report view: the per-symbol summary the pnl
	// projection folds, with unrealized PnL marked now; it covers all time
	// (from/to are not used).
	QueryPnL = `SELECT ` + pnlColumns + `
FROM pnl_report
WHERE empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol)
ORDER BY symbol`

	// QueryPnLRange computes the same figures for fills in [from, to):
	// realized PnL booked in the range and its attribution, the net
	// position and cost basis after the range's last fill, volumes and
	// number of fills (a reverted fill's withdrawal takes its volume and
	// count back out), and unrealized PnL marked as of `to`.
	QueryPnLRange = `SELECT ` + pnlColumns + `
FROM (
    SELECT
        r.*,
        if(m.symbol = '', NULL, m.mark_price) AS mark_price,
        if(m.symbol = '', 'none', m.mark_source) AS mark_source,
        if(m.symbol = '', NULL, m.mark_time) AS mark_time,
        if(r.net_position = 0, toNullable(toDecimal128(0, 18)),
           if(m.symbol = '' OR isNull(r.cost_basis), NULL,
              toDecimal128(toDecimal256(r.net_position, 18) * toDecimal256(m.mark_price, 18)
                           - toDecimal256(assumeNotNull(r.cost_basis), 18), 18))) AS unrealized_pnl,
        realized_pnl + coalesce(unrealized_pnl, toDecimal128(0, 18)) AS total_pnl
    FROM (
        SELECT
            symbol,
            sum(realized_pnl) AS realized_pnl,
            sum(counter_trade_pnl) AS counter_trade_pnl,
            sum(onchain_netting_pnl) AS onchain_netting_pnl,
            sum(directional_exposure_pnl) AS directional_exposure_pnl,
            argMax(net_position_after, position_sequence) AS net_position,
            argMax(cost_basis, position_sequence) AS cost_basis,
            sumIf(if(revert = 1, -quantity, quantity), venue = 'onchain') AS onchain_volume,
            sumIf(quantity, venue = 'offchain') AS offchain_volume,
            toUInt64(greatest(0, countIf(revert = 0) - countIf(revert = 1))) AS fills
        FROM metrics_pnl FINAL
        WHERE (empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol))
          AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
        GROUP BY symbol
    ) AS r
    LEFT JOIN pnl_marks(to = {to:DateTime64(6, 'UTC')}) AS m ON m.symbol = r.symbol
)
ORDER BY symbol`

	// QueryPositions lists positions, filtered on last_updated.
	QueryPositions = `SELECT aggregate_id, sequence, symbol, net, accumulated_long, accumulated_short, hedged_shares,
    pending_execution_id, pending_shares, pending_direction, pending_placed_at,
    if(isNull(pending_placed_at), NULL,
       (toUnixTimestamp64Milli(now64(3)) - toUnixTimestamp64Milli(assumeNotNull(pending_placed_at))) / 1000) AS pending_age_seconds,
    threshold_kind, threshold_value, broker, fractional, last_price_usdc, last_updated, status, failure
FROM position_view FINAL
WHERE (empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol))
  AND last_updated >= {from:DateTime64(6, 'UTC')} AND last_updated < {to:DateTime64(6, 'UTC')}
ORDER BY symbol`

	// QueryTrades lists on-chain fills by base symbol, newest block first,
	// filtered on block_timestamp, with the gas cost of each fill's
	// transaction.
	QueryTrades = `SELECT aggregate_id, sequence, tx_hash, log_index, block_number, block_timestamp, filled_at,
    symbol, base_symbol, direction, amount, price_usdc, gas_used, effective_gas_price,
    pyth_price, pyth_conf, enriched_at, migrated, status, failure, reverted, revert_reason,
    gas_cost_eth, eth_usd_price, gas_cost_usd
FROM onchain_trade_view FINAL
WHERE (empty({symbols:Array(String)}) OR has({symbols:Array(String)}, base_symbol))
  AND block_timestamp >= {from:DateTime64(6, 'UTC')} AND block_timestamp < {to:DateTime64(6, 'UTC')}
ORDER BY block_timestamp DESC, block_number DESC, log_index DESC, tx_hash
LIMIT {limit:UInt64}`

	// QueryOrders lists broker orders, newest placement first, filtered on
	// placed_at, with their hedge's latency (from the block of the on-chain
	// fill that triggered it to the broker fill; none for a migrated hedge) and
	// slippage against the reference price (positive: worse for the desk).
	QueryOrders = `SELECT o.aggregate_id, o.sequence, o.symbol, o.status, o.broker, o.broker_order_id, o.direction,
    o.shares, o.shares_filled, o.price, o.avg_price, o.reference_price,
    o.placed_at, o.submitted_at, o.filled_at, o.failed_at, o.error, o.migrated, o.lifecycle, o.failure,
    if(h.trigger_kind = 'migrated' OR isNull(o.filled_at) OR isNull(h.trigger_block_timestamp), NULL,
       toUnixTimestamp64Milli(assumeNotNull(o.filled_at)) - toUnixTimestamp64Milli(assumeNotNull(h.trigger_block_timestamp))) AS hedge_latency_ms,
    h.slippage_per_share, h.slippage_usd
FROM (
    SELECT * FROM offchain_order_view FINAL
    WHERE (empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol))
      AND placed_at >= {from:DateTime64(6, 'UTC')} AND placed_at < {to:DateTime64(6, 'UTC')}
      AND (empty({statuses:Array(String)}) OR has({statuses:Array(String)}, status))
    ORDER BY placed_at DESC, aggregate_id
    LIMIT {limit:UInt64}
) AS o
LEFT JOIN (
    SELECT execution_id, trigger_kind, trigger_block_timestamp, slippage_per_share, slippage_usd
    FROM hedge_view FINAL
    WHERE empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol)
) AS h ON h.execution_id = o.aggregate_id
ORDER BY o.placed_at DESC, o.aggregate_id`

	// QueryPnLHistory is a time series per symbol for charts: fills in
	// [from, to) grouped into buckets of {bucket:UInt32} seconds (aligned to
	// the Unix epoch), with the realized PnL booked in each bucket, its
	// running sum from the range's start, the net position after the
	// bucket's last fill and the number of fills.
	QueryPnLHistory = `SELECT symbol, bucket, realized_pnl,
    sum(realized_pnl) OVER (PARTITION BY symbol ORDER BY bucket ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative_pnl,
    net_position, fills
FROM (
    SELECT
        symbol,
        toStartOfInterval(occurred_at, toIntervalSecond({bucket:UInt32})) AS bucket,
        sum(realized_pnl) AS realized_pnl,
        argMax(net_position_after, position_sequence) AS net_position,
        toUInt64(greatest(0, countIf(revert = 0) - countIf(revert = 1))) AS fills
    FROM metrics_pnl FINAL
    WHERE (empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol))
      AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
    GROUP BY symbol, bucket
)
ORDER BY symbol, bucket`
)

// pnlColumns are the columns of both PnL queries, in PnLSummary's scan order.
const pnlColumns = `symbol, realized_pnl, net_position, onchain_volume, offchain_volume, fills,
    unrealized_pnl, total_pnl, mark_price, mark_source, mark_time, cost_basis,
    counter_trade_pnl, onchain_netting_pnl, directional_exposure_pnl`

// DefaultLimit caps Trades and Orders when Filter.Limit is 0.
const DefaultLimit = 1000

// Time bounds standing in for an open range: DateTime64's range.
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2299, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Filter narrows a query. The zero value means everything (Limit:
// DefaultLimit).
type Filter struct {
	Symbols  []string  // base symbols; empty means all
	From, To time.Time // [From, To); a zero bound is open
	Limit    int       // Trades and Orders; 0 means DefaultLimit
	Statuses []string  // Orders only: these statuses (e.g. Filled); empty means all
}

// ParseTime reads a time bound as the CLI and API take it: RFC 3339 (with
// or without a zone; none means UTC) or YYYY-MM-DD. Empty is the zero time
// (an open bound).
func ParseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 or YYYY-MM-DD", v)
}

// HasRange reports whether a time bound is set.
func (f Filter) HasRange() bool { return !f.From.IsZero() || !f.To.IsZero() }

func (f Filter) params(withLimit bool) []any {
	from, to := minTime, maxTime
	if !f.From.IsZero() {
		from = f.From.UTC()
	}
	if !f.To.IsZero() {
		to = f.To.UTC()
	}
	syms := f.Symbols
	if syms == nil {
		syms = []string{}
	}
	statuses := f.Statuses
	if statuses == nil {
		statuses = []string{}
	}
	out := []any{
		clickhouse.Named("symbols", syms),
		clickhouse.Named("statuses", statuses),
		clickhouse.DateNamed("from", from, clickhouse.MicroSeconds),
		clickhouse.DateNamed("to", to, clickhouse.MicroSeconds),
	}
	if withLimit {
		limit := f.Limit
		if limit <= 0 {
			limit = DefaultLimit
		}
		out = append(out, clickhouse.Named("limit", uint64(limit)))
	}
	return out
}

// PnLSummary is the PnL and activity of one symbol.
type PnLSummary struct {
	Symbol         string          `json:"symbol"`
	RealizedPnL    decimal.Decimal `json:"realized_pnl"`
	NetPosition    decimal.Decimal `json:"net_position"`
	OnchainVolume  decimal.Decimal `json:"onchain_volume"`
	OffchainVolume decimal.Decimal `json:"offchain_volume"`
	Fills          int             `json:"fills"`
	// UnrealizedPnL is the open lots marked at MarkPrice: "0" when flat,
	// null when there is no mark (no on-chain fill) or no cost basis (a
	// view projected before it). TotalPnL is realized plus unrealized.
	UnrealizedPnL *decimal.Decimal `json:"unrealized_pnl"`
	TotalPnL      decimal.Decimal  `json:"total_pnl"`
	MarkPrice     *decimal.Decimal `json:"mark_price"`
	// MarkSource is "pyth" (the last on-chain fill's Pyth price),
	// "last_fill" (its fill price) or "none".
	MarkSource string           `json:"mark_source"`
	MarkTime   *time.Time       `json:"mark_time"`
	CostBasis  *decimal.Decimal `json:"cost_basis"`
	// Realized PnL by attribution bucket (docs/pnl.md).
	CounterTradePnL        decimal.Decimal `json:"counter_trade_pnl"`
	OnchainNettingPnL      decimal.Decimal `json:"onchain_netting_pnl"`
	DirectionalExposurePnL decimal.Decimal `json:"directional_exposure_pnl"`
}

// PnL returns one summary per symbol: all time from pnl_summary, or, when
// f has a time range, computed from metrics_pnl over fills in the range.
func (db *DB) PnL(ctx context.Context, f Filter) ([]PnLSummary, error) {
	q, args := QueryPnL, f.params(false)
	if f.HasRange() {
		q = QueryPnLRange
	}
	return query(ctx, db.conn, "pnl", q, args, func(r driver.Rows) (PnLSummary, error) {
		var s PnLSummary
		var fills uint64
		err := r.Scan(&s.Symbol, &s.RealizedPnL, &s.NetPosition, &s.OnchainVolume, &s.OffchainVolume, &fills,
			&s.UnrealizedPnL, &s.TotalPnL, &s.MarkPrice, &s.MarkSource, &s.MarkTime, &s.CostBasis,
			&s.CounterTradePnL, &s.OnchainNettingPnL, &s.DirectionalExposurePnL)
		s.Fills = int(fills)
		if s.MarkTime != nil {
			*s.MarkTime = s.MarkTime.UTC()
		}
		return s, err
	})
}

// Position is a row of position_view.
type Position struct {
	Symbol             string           `json:"symbol"`
	Sequence           uint64           `json:"sequence"`
	Net                decimal.Decimal  `json:"net"`
	AccumulatedLong    decimal.Decimal  `json:"accumulated_long"`
	AccumulatedShort   decimal.Decimal  `json:"accumulated_short"`
	HedgedShares       decimal.Decimal  `json:"hedged_shares"`
	PendingExecutionID string           `json:"pending_execution_id,omitempty"`
	PendingShares      *decimal.Decimal `json:"pending_shares,omitempty"`
	PendingDirection   string           `json:"pending_direction,omitempty"`
	// PendingPlacedAt is when the pending hedge was placed; its age is
	// taken at query time, in seconds.
	PendingPlacedAt   *time.Time       `json:"pending_placed_at,omitempty"`
	PendingAgeSeconds *float64         `json:"pending_age_seconds,omitempty"`
	ThresholdKind     string           `json:"threshold_kind"`
	ThresholdValue    decimal.Decimal  `json:"threshold_value"`
	Broker            string           `json:"broker"`
	Fractional        bool             `json:"fractional"`
	LastPriceUSDC     *decimal.Decimal `json:"last_price_usdc,omitempty"`
	LastUpdated       time.Time        `json:"last_updated"`
	Status            string           `json:"status"`
	Failure           string           `json:"failure,omitempty"`
}

// Positions returns positions by symbol, filtered on last_updated.
func (db *DB) Positions(ctx context.Context, f Filter) ([]Position, error) {
	return query(ctx, db.conn, "positions", QueryPositions, f.params(false), func(r driver.Rows) (Position, error) {
		var p Position
		var id string
		var frac uint8
		err := r.Scan(&id, &p.Sequence, &p.Symbol, &p.Net, &p.AccumulatedLong, &p.AccumulatedShort, &p.HedgedShares,
			&p.PendingExecutionID, &p.PendingShares, &p.PendingDirection, &p.PendingPlacedAt, &p.PendingAgeSeconds,
			&p.ThresholdKind, &p.ThresholdValue,
			&p.Broker, &frac, &p.LastPriceUSDC, &p.LastUpdated, &p.Status, &p.Failure)
		p.Fractional = frac != 0
		return p, err
	})
}

// Trade is a row of onchain_trade_view.
type Trade struct {
	ID                string           `json:"id"` // tx_hash:log_index
	Sequence          uint64           `json:"sequence"`
	TxHash            string           `json:"tx_hash"`
	LogIndex          uint64           `json:"log_index"`
	BlockNumber       uint64           `json:"block_number"`
	BlockTimestamp    time.Time        `json:"block_timestamp"`
	FilledAt          time.Time        `json:"filled_at"`
	Symbol            string           `json:"symbol"` // tokenized, as on chain
	BaseSymbol        string           `json:"base_symbol"`
	Direction         string           `json:"direction"`
	Amount            decimal.Decimal  `json:"amount"`
	PriceUSDC         decimal.Decimal  `json:"price_usdc"`
	GasUsed           *uint64          `json:"gas_used,omitempty"`
	EffectiveGasPrice *uint64          `json:"effective_gas_price,omitempty"`
	PythPrice         *decimal.Decimal `json:"pyth_price,omitempty"`
	PythConf          *decimal.Decimal `json:"pyth_conf,omitempty"`
	EnrichedAt        *time.Time       `json:"enriched_at,omitempty"`
	Migrated          bool             `json:"migrated"`
	Status            string           `json:"status"`
	Failure           string           `json:"failure,omitempty"`
	// Reverted: the fill's block left the canonical chain (RevertReason
	// "reorg") or an operator withdrew it ("manual"); it counts nowhere.
	Reverted     bool   `json:"reverted"`
	RevertReason string `json:"revert_reason,omitempty"`
	// GasCostETH is the gas of the fill's transaction in ETH (gas_used ×
	// effective_gas_price / 1e18, exact); fills sharing a transaction each
	// show all of it. Absent without an effective gas price.
	GasCostETH *decimal.Decimal `json:"gas_cost_eth,omitempty"`
	// ETHUSDPrice is Pyth's ETH/USD at the fill's block, when it was read.
	ETHUSDPrice *decimal.Decimal `json:"eth_usd_price,omitempty"`
	// GasCostUSD is GasCostETH × ETHUSDPrice rounded half away from zero to
	// 18 decimals; absent without both.
	GasCostUSD *decimal.Decimal `json:"gas_cost_usd,omitempty"`
}

// Trades returns on-chain fills, newest first, filtered by base symbol and
// block_timestamp.
func (db *DB) Trades(ctx context.Context, f Filter) ([]Trade, error) {
	return query(ctx, db.conn, "trades", QueryTrades, f.params(true), func(r driver.Rows) (Trade, error) {
		var tr Trade
		var migrated, reverted uint8
		err := r.Scan(&tr.ID, &tr.Sequence, &tr.TxHash, &tr.LogIndex, &tr.BlockNumber, &tr.BlockTimestamp, &tr.FilledAt,
			&tr.Symbol, &tr.BaseSymbol, &tr.Direction, &tr.Amount, &tr.PriceUSDC, &tr.GasUsed, &tr.EffectiveGasPrice,
			&tr.PythPrice, &tr.PythConf, &tr.EnrichedAt, &migrated, &tr.Status, &tr.Failure, &reverted, &tr.RevertReason,
			&tr.GasCostETH, &tr.ETHUSDPrice, &tr.GasCostUSD)
		tr.Migrated, tr.Reverted = migrated != 0, reverted != 0
		return tr, err
	})
}

// Order is a row of offchain_order_view.
type Order struct {
	ExecutionID    string           `json:"execution_id"`
	Sequence       uint64           `json:"sequence"`
	Symbol         string           `json:"symbol"`
	Status         string           `json:"status"`
	Broker         string           `json:"broker"`
	BrokerOrderID  string           `json:"broker_order_id,omitempty"`
	Direction      string           `json:"direction"`
	Shares         decimal.Decimal  `json:"shares"`
	SharesFilled   decimal.Decimal  `json:"shares_filled"`
	Price          *decimal.Decimal `json:"price,omitempty"`
	AvgPrice       *decimal.Decimal `json:"avg_price,omitempty"`
	ReferencePrice *decimal.Decimal `json:"reference_price,omitempty"`
	PlacedAt       time.Time        `json:"placed_at"`
	SubmittedAt    *time.Time       `json:"submitted_at,omitempty"`
	FilledAt       *time.Time       `json:"filled_at,omitempty"`
	FailedAt       *time.Time       `json:"failed_at,omitempty"`
	Error          string           `json:"error,omitempty"`
	Migrated       bool             `json:"migrated"`
	Lifecycle      string           `json:"lifecycle"`
	Failure        string           `json:"failure,omitempty"`
	// HedgeLatencyMS: from the block time of the on-chain fill that
	// triggered the hedge to the broker's fill, in milliseconds: what the
	// desk was exposed for. Absent until filled and for migrated hedges.
	HedgeLatencyMS *int64 `json:"hedge_latency_ms,omitempty"`
	// Slippage of the fill against the hedge's reference price, positive
	// when worse for the desk (paid more, received less): per share, in
	// USD over the filled shares, and in basis points of the reference.
	SlippagePerShare *decimal.Decimal `json:"slippage_per_share,omitempty"`
	SlippageUSD      *decimal.Decimal `json:"slippage_usd,omitempty"`
	SlippageBps      *decimal.Decimal `json:"slippage_bps,omitempty"`
}

// bpsPlaces is how many decimal places slippage_bps keeps.
const bpsPlaces = 2

// Orders returns broker orders, newest placement first, filtered by symbol
// and placed_at.
func (db *DB) Orders(ctx context.Context, f Filter) ([]Order, error) {
	return query(ctx, db.conn, "orders", QueryOrders, f.params(true), func(r driver.Rows) (Order, error) {
		var o Order
		var migrated uint8
		err := r.Scan(&o.ExecutionID, &o.Sequence, &o.Symbol, &o.Status, &o.Broker, &o.BrokerOrderID, &o.Direction,
			&o.Shares, &o.SharesFilled, &o.Price, &o.AvgPrice, &o.ReferencePrice,
			&o.PlacedAt, &o.SubmittedAt, &o.FilledAt, &o.FailedAt, &o.Error, &migrated, &o.Lifecycle, &o.Failure,
			&o.HedgeLatencyMS, &o.SlippagePerShare, &o.SlippageUSD)
		o.Migrated = migrated != 0
		if o.SlippagePerShare != nil && o.ReferencePrice != nil && o.ReferencePrice.IsPositive() {
			bps := o.SlippagePerShare.Mul(decimal.NewFromInt(10000)).DivRound(*o.ReferencePrice, bpsPlaces)
			o.SlippageBps = &bps
		}
		return o, err
	})
}

// PnLPoint is one bucket of one symbol's PnL history.
type PnLPoint struct {
	Symbol        string          `json:"symbol"`
	Bucket        time.Time       `json:"bucket"` // start of the bucket
	RealizedPnL   decimal.Decimal `json:"realized_pnl"`
	CumulativePnL decimal.Decimal `json:"cumulative_pnl"` // since the range's start
	NetPosition   decimal.Decimal `json:"net_position"`
	Fills         int             `json:"fills"`
}

// PnLHistory returns the per-symbol series of QueryPnLHistory, by symbol
// then bucket. bucket must be a whole number of seconds, at least one.
func (db *DB) PnLHistory(ctx context.Context, f Filter, bucket time.Duration) ([]PnLPoint, error) {
	secs := bucket / time.Second
	if secs < 1 || bucket%time.Second != 0 || secs > 1<<32-1 {
		return nil, fmt.Errorf("sinks: pnl history: bucket %s is not a whole number of seconds in [1s, 2^32s)", bucket)
	}
	args := append(f.params(false), clickhouse.Named("bucket", uint32(secs)))
	return query(ctx, db.conn, "pnl history", QueryPnLHistory, args, func(r driver.Rows) (PnLPoint, error) {
		var p PnLPoint
		var fills uint64
		err := r.Scan(&p.Symbol, &p.Bucket, &p.RealizedPnL, &p.CumulativePnL, &p.NetPosition, &fills)
		p.Fills = int(fills)
		p.Bucket = p.Bucket.UTC()
		return p, err
	})
}

func query[T any](ctx context.Context, conn driver.Conn, what, q string, args []any, scan func(driver.Rows) (T, error)) ([]T, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sinks: %s query: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sinks: %s query: scan: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sinks: %s query: %w", what, err)
	}
	return out, nil
}
