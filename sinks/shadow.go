package sinks

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// A replay rebuilds views from offset 0 without readers ever seeing a
// half-built table: CreateShadow makes empty copies "<table><suffix>", a
// Projector with Options.TableSuffix = suffix (and a fresh Group) fills
// them, and SwapShadow exchanges each copy with its live table.

// CreateShadow (re)creates the empty shadow tables of tables: same columns,
// engine, sorting key and settings as the live ones. A leftover shadow from
// an interrupted replay is dropped first.
func CreateShadow(ctx context.Context, db *DB, suffix string, tables []string) error {
	if err := checkShadow(suffix, tables); err != nil {
		return err
	}
	for _, t := range tables {
		shadow := t + suffix
		if err := db.conn.Exec(ctx, dropTableSQL(db.cfg.Database, shadow, db.cfg.Cluster)); err != nil {
			return fmt.Errorf("sinks: drop old shadow %s: %w", shadow, err)
		}
		if err := db.conn.Exec(ctx, copyTableSQL(db.cfg.Database, shadow, t, db.cfg.Cluster)); err != nil {
			return fmt.Errorf("sinks: create shadow %s: %w", shadow, err)
		}
		if isStateTable(t) {
			if err := dropParked(ctx, db, shadow); err != nil {
				return err
			}
		}
	}
	return nil
}

// SwapShadow atomically exchanges each table with its shadow (EXCHANGE
// TABLES, which needs an Atomic database) and drops the shadows, which then
// hold the old data. On a cluster every replica first fetches the whole
// shadow (SYSTEM SYNC REPLICA), then each exchanges its own copies. A
// state table's parked events (parked_events) move
// with it: the shadow's replace the live table's. Each exchange is atomic on its own; stop the live
// projector of a table before swapping it, and restart it with the
// replay's group offsets (or let it re-project: rows collapse).
func SwapShadow(ctx context.Context, db *DB, suffix string, tables []string) error {
	if err := checkShadow(suffix, tables); err != nil {
		return err
	}
	for _, t := range tables {
		shadow := t + suffix
		if db.cfg.Cluster != "" {
			// Every replica fetches the whole rebuilt shadow before any
			// swaps it in: readers of any replica never see it half-built.
			if err := db.conn.Exec(ctx, syncReplicasSQL(db.cfg.Database, shadow, db.cfg.Cluster)); err != nil {
				return fmt.Errorf("sinks: sync the replicas of %s: %w", shadow, err)
			}
		}
		if err := db.conn.Exec(ctx, exchangeSQL(db.cfg.Database, t, shadow, db.cfg.Cluster)); err != nil {
			return fmt.Errorf("sinks: exchange %s and %s: %w", t, shadow, err)
		}
		if err := db.conn.Exec(ctx, dropTableSQL(db.cfg.Database, shadow, db.cfg.Cluster)); err != nil {
			return fmt.Errorf("sinks: drop replaced %s (now %s): %w", t, shadow, err)
		}
		if isStateTable(t) {
			// The events parked for the rebuilt state are now those of t.
			if err := moveParked(ctx, db, shadow, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkShadow(suffix string, tables []string) error {
	if suffix == "" || !identRE.MatchString("x"+suffix) {
		return fmt.Errorf("sinks: shadow suffix %q: want a non-empty suffix of letters, digits and '_'", suffix)
	}
	known := ViewNames()
	var errs []error
	for _, t := range tables {
		if !slices.Contains(known, t) {
			errs = append(errs, fmt.Errorf("%s is not a projection table (want one of %v)", t, known))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sinks: shadow: %w", err)
	}
	return nil
}

// isStateTable reports whether table is a projection's state table (the
// one its parked events belong to).
func isStateTable(table string) bool {
	for _, p := range Projections() {
		ts := p.Tables()
		if ts[len(ts)-1].Name == table {
			return true
		}
	}
	return false
}

// The DDL of the shadow swap; cluster "" means one server. On a cluster
// the names are qualified with the database: each server runs DDL
// received ON CLUSTER in its own default database.

func dropTableSQL(database, t, cluster string) string {
	return "DROP TABLE IF EXISTS " + onDatabase(database, t, cluster) + onClusterOf(cluster) + " SYNC"
}

func copyTableSQL(database, t, from, cluster string) string {
	return "CREATE TABLE " + onDatabase(database, t, cluster) + onClusterOf(cluster) + " AS " + onDatabase(database, from, cluster)
}

func exchangeSQL(database, a, b, cluster string) string {
	return "EXCHANGE TABLES " + onDatabase(database, a, cluster) + " AND " + onDatabase(database, b, cluster) + onClusterOf(cluster)
}

// syncReplicasSQL waits until every replica of cluster has every part of t.
func syncReplicasSQL(database, t, cluster string) string {
	return "SYSTEM SYNC REPLICA" + onClusterOf(cluster) + " " + onDatabase(database, t, cluster)
}

// onDatabase is the quoted name of t, qualified with database on a cluster.
func onDatabase(database, t, cluster string) string {
	if cluster == "" {
		return quoteIdent(t)
	}
	return quoteIdent(database) + "." + quoteIdent(t)
}
