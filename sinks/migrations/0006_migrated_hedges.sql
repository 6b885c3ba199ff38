-- Legacy hedges in flight at a migration (docs/migration.md) have a
-- hedge_view row with trigger_kind 'migrated': the pipeline did not place
-- them, and their order's times come from the legacy row (submitted before
-- the migration "placed" them), so hedge latency leaves them out.
CREATE OR REPLACE VIEW hedge_latency AS
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
FROM (SELECT * FROM hedge_view FINAL WHERE trigger_kind != 'migrated') AS h
LEFT JOIN (SELECT aggregate_id, submitted_at FROM offchain_order_view FINAL) AS o
    ON o.aggregate_id = h.execution_id;
