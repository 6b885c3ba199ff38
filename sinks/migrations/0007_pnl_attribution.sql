-- PnL attribution and unrealized PnL (docs/pnl.md). Each pnl record splits
-- its realized amount into CounterTrade, OnchainNetting and
-- DirectionalExposure and carries the open lots' signed cost basis;
-- pnl_summary keeps the running totals. Rows projected before this
-- migration read their whole realized amount as DirectionalExposure and
-- have no cost basis (no unrealized PnL) until a replay rebuilds them.
ALTER TABLE metrics_pnl ADD COLUMN IF NOT EXISTS counter_trade_pnl Decimal(38, 18) DEFAULT 0;
ALTER TABLE metrics_pnl ADD COLUMN IF NOT EXISTS onchain_netting_pnl Decimal(38, 18) DEFAULT 0;
ALTER TABLE metrics_pnl ADD COLUMN IF NOT EXISTS directional_exposure_pnl Decimal(38, 18) DEFAULT realized_pnl;
ALTER TABLE metrics_pnl ADD COLUMN IF NOT EXISTS cost_basis Nullable(Decimal(38, 18));
ALTER TABLE pnl_summary ADD COLUMN IF NOT EXISTS counter_trade_pnl Decimal(38, 18) DEFAULT 0;
ALTER TABLE pnl_summary ADD COLUMN IF NOT EXISTS onchain_netting_pnl Decimal(38, 18) DEFAULT 0;
ALTER TABLE pnl_summary ADD COLUMN IF NOT EXISTS directional_exposure_pnl Decimal(38, 18) DEFAULT realized_pnl;
ALTER TABLE pnl_summary ADD COLUMN IF NOT EXISTS cost_basis Nullable(Decimal(38, 18));

-- The mark of each base symbol as of a time: its last on-chain fill before
-- `to` that still counts (not reverted, not failed), at that trade's Pyth
-- price when it was enriched with one, else at its fill price.
-- Parameterized: SELECT * FROM pnl_marks(to = '2026-12-01 00:00:00').
CREATE OR REPLACE VIEW pnl_marks AS
SELECT
    base_symbol AS symbol,
    argMax(coalesce(pyth_price, price_usdc), (block_timestamp, block_number, log_index)) AS mark_price,
    argMax(if(isNull(pyth_price), 'last_fill', 'pyth'), (block_timestamp, block_number, log_index)) AS mark_source,
    max(block_timestamp) AS mark_time
FROM onchain_trade_view FINAL
WHERE reverted = 0 AND failure = '' AND block_timestamp < {to:DateTime64(6, 'UTC')}
GROUP BY base_symbol;

-- The PnL report per symbol, now (what `hedgeline pnl` and GET /api/pnl
-- show): realized and its attribution, volumes, and unrealized PnL: the
-- open lots (net position and cost basis after the last booked fill)
-- marked with pnl_marks. The product is exact in Decimal256, cut to 18
-- decimal places. A flat position has 0 unrealized; one with no mark or no
-- cost basis has NULL, and its total is its realized PnL.
CREATE OR REPLACE VIEW pnl_report AS
SELECT
    symbol, realized_pnl, unrealized_pnl,
    realized_pnl + coalesce(unrealized_pnl, toDecimal128(0, 18)) AS total_pnl,
    counter_trade_pnl, onchain_netting_pnl, directional_exposure_pnl,
    net_position, cost_basis, mark_price, mark_source, mark_time,
    onchain_volume, offchain_volume, fills
FROM (
    SELECT
        s.symbol AS symbol, s.realized_pnl AS realized_pnl,
        s.counter_trade_pnl AS counter_trade_pnl, s.onchain_netting_pnl AS onchain_netting_pnl,
        s.directional_exposure_pnl AS directional_exposure_pnl,
        s.net_position AS net_position, s.cost_basis AS cost_basis,
        if(m.symbol = '', NULL, m.mark_price) AS mark_price,
        if(m.symbol = '', 'none', m.mark_source) AS mark_source,
        if(m.symbol = '', NULL, m.mark_time) AS mark_time,
        if(s.net_position = 0, toNullable(toDecimal128(0, 18)),
           if(m.symbol = '' OR isNull(s.cost_basis), NULL,
              toDecimal128(toDecimal256(s.net_position, 18) * toDecimal256(m.mark_price, 18)
                           - toDecimal256(assumeNotNull(s.cost_basis), 18), 18))) AS unrealized_pnl,
        s.onchain_volume AS onchain_volume, s.offchain_volume AS offchain_volume, s.fills AS fills
    FROM pnl_summary AS s FINAL
    LEFT JOIN pnl_marks(to = '2299-12-31 00:00:00') AS m ON m.symbol = s.symbol
);
