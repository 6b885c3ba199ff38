// Package migrate brings a legacy bot's SQLite database (DOMAIN s.7.1)
// into the event log: it reads every schema version the bot ever had,
// maps each row to the Migrate command of its aggregate (or refuses it,
// naming table, row and reason), produces the commands under
// deterministic ids, and verifies the result against the aggregates.
//
// The counting rule (docs/migration.md): a migrated position's net is
// authoritative; migrated trades and filled orders are history, told to
// their position as RecordMigratedFill commands in legacy time order so
// the PnL FIFO book continues them. The runbook is
// docs/runbook-migration.md.
package migrate
