-- Realized PnL. metrics_pnl has one row per record on pnl.events (a fill
-- booked by the FIFO pnl stage), keyed by the position event that carried
-- the fill: symbol is the position's aggregate id, position_sequence its
-- sequence. pnl_summary is folded from the same records by the projector
-- (not a materialized view: before a merge, duplicates would double-count).

CREATE TABLE IF NOT EXISTS metrics_pnl (
    symbol             LowCardinality(String),
    position_sequence  UInt64,
    venue              LowCardinality(String),
    direction          LowCardinality(String),
    quantity           Decimal(38, 18),
    price              Decimal(38, 18),
    realized_pnl       Decimal(38, 18),
    opened             UInt8,
    cumulative_pnl     Decimal(38, 18),
    net_position_after Decimal(38, 18),
    occurred_at        DateTime64(6, 'UTC'),
    INDEX idx_occurred_at occurred_at TYPE minmax GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (symbol, position_sequence)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS pnl_summary (
    symbol           LowCardinality(String),
    last_sequence    UInt64,
    realized_pnl     Decimal(38, 18),
    net_position     Decimal(38, 18),
    onchain_volume   Decimal(38, 18),
    offchain_volume  Decimal(38, 18),
    fills            UInt64,
    last_occurred_at DateTime64(6, 'UTC'),
    state            String
) ENGINE = ReplacingMergeTree(last_sequence)
ORDER BY symbol
SETTINGS non_replicated_deduplication_window = 1000;
