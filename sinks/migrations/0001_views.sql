-- Views of the aggregates, one row per aggregate id (onchain_trade_view,
-- position_view, offchain_order_view) and one per hedge (hedge_view).
--
-- Every row carries the aggregate id and the sequence of the last event it
-- reflects; ReplacingMergeTree(sequence) keeps the newest row per key, so a
-- redelivered event or batch collapses (read with FINAL). No column holds an
-- insert time: a replay writes identical rows. `state` is the JSON of the
-- folded lifecycle the projector resumes from after a restart.
-- non_replicated_deduplication_window makes insert_deduplication_token work
-- on these non-replicated tables (Replicated* engines deduplicate anyway).

CREATE TABLE IF NOT EXISTS onchain_trade_view (
    aggregate_id        String,
    sequence            UInt64,
    tx_hash             String,
    log_index           UInt64,
    block_number        UInt64,
    block_timestamp     DateTime64(6, 'UTC'),
    filled_at           DateTime64(6, 'UTC'),
    symbol              LowCardinality(String),
    base_symbol         LowCardinality(String),
    direction           LowCardinality(String),
    amount              Decimal(38, 18),
    price_usdc          Decimal(38, 18),
    gas_used            Nullable(UInt64),
    effective_gas_price Nullable(UInt64),
    pyth_price          Nullable(Decimal(38, 18)),
    pyth_conf           Nullable(Decimal(38, 18)),
    pyth_publish_time   Nullable(DateTime64(6, 'UTC')),
    enriched_at         Nullable(DateTime64(6, 'UTC')),
    migrated            UInt8,
    status              LowCardinality(String),
    failure             String,
    state               String,
    INDEX idx_base_symbol base_symbol TYPE set(0) GRANULARITY 4,
    INDEX idx_block_timestamp block_timestamp TYPE minmax GRANULARITY 4
) ENGINE = ReplacingMergeTree(sequence)
ORDER BY aggregate_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS position_view (
    aggregate_id         String,
    sequence             UInt64,
    symbol               LowCardinality(String),
    net                  Decimal(38, 18),
    accumulated_long     Decimal(38, 18),
    accumulated_short    Decimal(38, 18),
    hedged_shares        Decimal(38, 18),
    pending_execution_id String,
    pending_shares       Nullable(Decimal(38, 18)),
    pending_direction    LowCardinality(String),
    pending_placed_at    Nullable(DateTime64(6, 'UTC')),
    threshold_kind       LowCardinality(String),
    threshold_value      Decimal(38, 18),
    broker               LowCardinality(String),
    fractional           UInt8,
    last_price_usdc      Nullable(Decimal(38, 18)),
    last_updated         DateTime64(6, 'UTC'),
    status               LowCardinality(String),
    failure              String,
    state                String
) ENGINE = ReplacingMergeTree(sequence)
ORDER BY aggregate_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS offchain_order_view (
    aggregate_id        String,
    sequence            UInt64,
    symbol              LowCardinality(String),
    status              LowCardinality(String),
    broker              LowCardinality(String),
    broker_order_id     String,
    shares              Decimal(38, 18),
    shares_filled       Decimal(38, 18),
    direction           LowCardinality(String),
    price               Nullable(Decimal(38, 18)),
    avg_price           Nullable(Decimal(38, 18)),
    reference_price     Nullable(Decimal(38, 18)),
    placed_at           DateTime64(6, 'UTC'),
    submitted_at        Nullable(DateTime64(6, 'UTC')),
    partially_filled_at Nullable(DateTime64(6, 'UTC')),
    filled_at           Nullable(DateTime64(6, 'UTC')),
    failed_at           Nullable(DateTime64(6, 'UTC')),
    error               String,
    migrated            UInt8,
    lifecycle           LowCardinality(String),
    failure             String,
    state               String,
    INDEX idx_symbol symbol TYPE set(0) GRANULARITY 4,
    INDEX idx_placed_at placed_at TYPE minmax GRANULARITY 4
) ENGINE = ReplacingMergeTree(sequence)
ORDER BY aggregate_id
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per hedge (execution id), written by the positions projection
-- from position.events: the placement, then its fill or failure. sequence
-- is the position event's sequence; aggregate_id is the position (symbol).
CREATE TABLE IF NOT EXISTS hedge_view (
    execution_id            String,
    aggregate_id            String,
    sequence                UInt64,
    symbol                  LowCardinality(String),
    status                  LowCardinality(String),
    direction               LowCardinality(String),
    shares                  Decimal(38, 18),
    broker                  LowCardinality(String),
    trigger_kind            LowCardinality(String),
    trigger_net_position    Decimal(38, 18),
    reference_price         Nullable(Decimal(38, 18)),
    trigger_block_timestamp Nullable(DateTime64(6, 'UTC')),
    trigger_seen_at         Nullable(DateTime64(6, 'UTC')),
    placed_at               DateTime64(6, 'UTC'),
    filled_at               Nullable(DateTime64(6, 'UTC')),
    broker_order_id         String,
    fill_price              Nullable(Decimal(38, 18)),
    shares_filled           Nullable(Decimal(38, 18)),
    failed_at               Nullable(DateTime64(6, 'UTC')),
    error                   String,
    slippage_per_share      Nullable(Decimal(38, 18)),
    slippage_usd            Nullable(Decimal(38, 18)),
    INDEX idx_symbol symbol TYPE set(0) GRANULARITY 4
) ENGINE = ReplacingMergeTree(sequence)
ORDER BY execution_id
SETTINGS non_replicated_deduplication_window = 1000;
