-- Reverted fills (a reorg withdrew the fill's block; docs/design.md,
-- "Reorgs: reverting a fill"). onchain_trade_view keeps the withdrawn fill
-- and says so: reverted = 1 with the reason, the fork point and when; a
-- trade witnessed again in the canonical chain shows its new fill with
-- reverted = 0 and fill_sequence above 1. metrics_pnl flags the record
-- that books a withdrawal (the reverted fill's opposite at its price).
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS reverted UInt8 DEFAULT 0;
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS revert_reason LowCardinality(String) DEFAULT '';
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS fork_block UInt64 DEFAULT 0;
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS reverted_at Nullable(DateTime64(6, 'UTC'));
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS fill_sequence UInt64 DEFAULT 1;
ALTER TABLE metrics_pnl ADD COLUMN IF NOT EXISTS revert UInt8 DEFAULT 0;
