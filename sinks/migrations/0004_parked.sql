-- Events parked beyond a gap in their aggregate's sequence (the projector
-- applies each aggregate's events strictly in order: version+1 is applied,
-- at or below the version is a duplicate, beyond version+1 waits here until
-- the missing events arrive). One row per (state table, aggregate id,
-- sequence); `state_table` is the physical state table the event folds into
-- (a replay's shadow has its own rows). A row is rewritten when the
-- aggregate's applied version moves, and written with consumed = 1 once the
-- event is applied; ReplacingMergeTree(applied_version) keeps the newest
-- (a consumed row has applied_version >= sequence, an open one below it).
-- `event` is the record's value as it was on the topic: a restarted
-- projector reads the open rows back instead of relying on the Kafka offset
-- staying behind them. Read with FINAL.
CREATE TABLE IF NOT EXISTS parked_events (
    state_table     LowCardinality(String),
    topic           LowCardinality(String),
    aggregate_id    String,
    sequence        UInt64,
    applied_version UInt64,
    consumed        UInt8,
    `partition`     Int32,
    `offset`        Int64,
    record_key      String,
    event           String,
    event_time      DateTime64(6, 'UTC'),
    parked_at       DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(applied_version)
ORDER BY (state_table, aggregate_id, sequence)
SETTINGS non_replicated_deduplication_window = 1000;

-- Open gaps, one row per aggregate with parked events: the first missing
-- range (missing_from..missing_to), every parked sequence, and how long
-- the oldest has waited. A gap that does not fill means an event is lost
-- from the topic: the view of that aggregate stays at applied_version.
CREATE VIEW IF NOT EXISTS projection_gaps AS
SELECT
    state_table,
    any(topic) AS topic,
    aggregate_id,
    max(applied_version) AS applied_version,
    applied_version + 1 AS missing_from,
    toUInt64(min(sequence) - 1) AS missing_to,
    count() AS parked,
    arraySort(groupArray(sequence)) AS parked_sequences,
    min(parked_at) AS open_since,
    dateDiff('second', open_since, now64(6, 'UTC')) AS open_seconds
FROM parked_events FINAL
WHERE consumed = 0
GROUP BY state_table, aggregate_id;
