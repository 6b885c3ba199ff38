-- Analytics as plain views (no storage): they read the tables above with
-- FINAL, so duplicates never count twice.

-- Per hedge: how long from the on-chain fill that triggered it (its block
-- time, and when the pipeline saw it) to the placement, and from the
-- placement to the broker's acknowledgement and fill. NULL where a step
-- has not happened.
CREATE VIEW IF NOT EXISTS hedge_latency AS
SELECT
    h.execution_id AS execution_id,
    h.symbol AS symbol,
    h.status AS status,
    h.direction AS direction,
    h.shares AS shares,
    h.trigger_block_timestamp AS trigger_block_timestamp,
    h.trigger_seen_at AS trigger_seen_at,
    h.placed_at AS placed_at,
    o.submitted_at AS submitted_at,
    h.filled_at AS filled_at,
    toUnixTimestamp64Milli(h.placed_at) - toUnixTimestamp64Milli(h.trigger_block_timestamp) AS block_to_placed_ms,
    toUnixTimestamp64Milli(h.placed_at) - toUnixTimestamp64Milli(h.trigger_seen_at) AS seen_to_placed_ms,
    toUnixTimestamp64Milli(o.submitted_at) - toUnixTimestamp64Milli(h.placed_at) AS placed_to_submitted_ms,
    toUnixTimestamp64Milli(h.filled_at) - toUnixTimestamp64Milli(h.placed_at) AS placed_to_filled_ms
FROM (SELECT * FROM hedge_view FINAL) AS h
LEFT JOIN (SELECT aggregate_id, submitted_at FROM offchain_order_view FINAL) AS o
    ON o.aggregate_id = h.execution_id;

-- Per symbol and hour (of the fill's occurred_at): volume by venue,
-- realized PnL and number of fills. Notional multiplies two Decimal(38,18)
-- values cast to scale 9 first: the product of the raw columns would have
-- scale 36 and overflow Decimal128 for any price above ~100.
CREATE VIEW IF NOT EXISTS symbol_hourly AS
SELECT
    symbol,
    toStartOfHour(occurred_at) AS hour,
    sumIf(quantity, venue = 'onchain') AS onchain_volume,
    sumIf(quantity, venue = 'offchain') AS offchain_volume,
    sumIf(toDecimal128(quantity, 9) * toDecimal128(price, 9), venue = 'onchain') AS onchain_notional,
    sumIf(toDecimal128(quantity, 9) * toDecimal128(price, 9), venue = 'offchain') AS offchain_notional,
    sum(realized_pnl) AS realized_pnl,
    count() AS fills
FROM metrics_pnl FINAL
GROUP BY symbol, hour;
