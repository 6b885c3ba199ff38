-- Gas cost per fill (sinks/trades.go computes it; docs/design.md, "Gas
-- cost"). It is the gas of the fill's transaction: fills sharing one
-- transaction each show all of it (sum per tx_hash, QUERIES.md).
--   gas_cost_eth  = gas_used × effective_gas_price / 1e18, exact: both are
--                   at most 2^63-1, so the cost is below 8.6e19 ETH with at
--                   most 18 decimals and Decimal(38, 18) always holds it.
--                   NULL without an effective gas price (not enriched, or
--                   migrated from a legacy row that had none).
--   eth_usd_price = Pyth's ETH/USD at the fill's block (value × 10^expo),
--                   NULL when the chain source could not read it.
--   gas_cost_usd  = gas_cost_eth × eth_usd_price rounded half away from
--                   zero to 18 decimals; NULL when either is, or beyond
--                   Decimal(38, 18).
-- The projector writes all three. The DEFAULT gives rows written before
-- this migration their gas_cost_eth with the same exact arithmetic, so no
-- replay is needed (they had no ETH/USD reading): the Int128 product of
-- the wei (below 2^126), through its decimal string (ClickHouse converts
-- no Int128 to Decimal) into Decimal(76, 18), divided by 1e18.
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS gas_cost_eth Nullable(Decimal(38, 18))
    DEFAULT CAST(CAST(toString(toInt128(gas_used) * toInt128(effective_gas_price)) AS Nullable(Decimal(76, 18))) / 1000000000000000000 AS Nullable(Decimal(38, 18)));
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS eth_usd_price Nullable(Decimal(38, 18));
ALTER TABLE onchain_trade_view ADD COLUMN IF NOT EXISTS gas_cost_usd Nullable(Decimal(38, 18));
