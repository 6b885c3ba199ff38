// Package sinks projects the event topics into ClickHouse: the read models
// behind the CLI queries, the REST API and Grafana.
//
// # Model
//
// A Projection turns the records of one topic into table rows. The four
// projections (Projections) are StateProjections: they fold the events of
// each key (aggregate id, or symbol for pnl) with the aggregate's own Evolve
// into a state, and write one row per key per batch with that state's
// version (the event sequence) and its JSON ("state" column). Tables are
// ReplacingMergeTree(version) keyed by aggregate id, so a row written twice
// collapses; readers use FINAL. No column holds an insert time: a replay
// writes the same rows.
//
// # Delivery
//
// The Projector consumes with a franz-go consumer group, offsets committed
// by hand and only after every insert of a poll is acknowledged
// (at-least-once). Each aggregate's events are applied strictly in
// sequence order (processors/sequence): a redelivered event is recognised
// by its sequence being at or below the folded version and skipped, and an
// event beyond version+1 (an earlier one is missing) is parked in
// parked_events until the gap fills (see projection_gaps); a retried insert carries an
// insert_deduplication_token (<table>/<topic>/<partition>/<first>-<last>)
// and is dropped by ClickHouse if it already landed. A projection writes
// its side tables (hedge_view, metrics_pnl) before its state table, so a
// crash between them re-folds and re-emits the side rows rather than
// skipping them. While ClickHouse is unreachable the projector retries the
// batch it holds with exponential backoff and does not poll further.
// Records that cannot be applied (undecodable, wrong aggregate type, an
// event the fold refuses) go to projection.rejections with the reason; the
// view still mirrors the aggregate (a refused event fails its lifecycle, as
// it failed the aggregate).
//
// # Concurrency
//
// A Projector runs one poll loop (Run); Projection values are not shared
// between projectors. Partitions of a poll are processed one after the
// other; a rebalance waits until the poll's batch is committed
// (BlockRebalanceOnPoll) and resets the cached states.
//
// # Cluster mode
//
// With Config.Cluster (one shard, N replicas; docs/clickhouse-cluster.md)
// every DDL statement runs ON CLUSTER with Replicated* engines
// (ClusterStatement), the replay's swap syncs the replicas first, and a
// projector syncs its replica (Writer.SyncReplicas) before reading back
// state another instance may have written through another replica.
//
// # Files
//
//	db.go          Config, Open (creates the Atomic database, checks the cluster), DB
//	migrate.go     embedded versioned DDL (migrations/), schema_migrations
//	cluster.go     ClusterStatement: a migration statement rewritten for a cluster
//	projector.go   Projection, Batch, Projector: consume, insert, commit, retry
//	writer.go      Writer (Insert, ReadStates, ReadParked, SyncReplicas), *DB's implementation, Permanent
//	state.go       StateProjection: per-key fold, cache, state read-back
//	parked.go      parked_events: read-back, Gap, moves on SwapShadow
//	trades.go      onchain-trade.events -> onchain_trade_view
//	positions.go   position.events -> position_view, hedge_view
//	orders.go      offchain-order.events -> offchain_order_view
//	pnl.go         pnl.events -> metrics_pnl, pnl_summary
//	projections.go Projections, ViewNames
//	shadow.go      CreateShadow, SwapShadow (replay into shadow tables)
//	queries.go     typed reads (PnL, Positions, Trades, Orders) and their SQL
//	QUERIES.md     the SQL to paste into clickhouse-client or Grafana
package sinks
