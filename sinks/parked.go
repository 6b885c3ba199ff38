package sinks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/hedgeline/hedgeline/processors/sequence"
)

// ParkedTable holds the events parked beyond a gap, for every state table
// (migration 0004). It is not a view: replays keep their rows apart by the
// state_table column, and SwapShadow moves them with the tables.
var ParkedTable = Table{Name: "parked_events", Columns: []string{
	"state_table", "topic", "aggregate_id", "sequence", "applied_version", "consumed",
	"partition", "offset", "record_key", "event", "event_time", "parked_at",
}}

// GapsView lists the open gaps (a SQL view over parked_events).
const GapsView = "projection_gaps"

// ParkedEvent is an open row of parked_events.
type ParkedEvent struct {
	AggregateID    string
	Sequence       uint64
	AppliedVersion uint64 // of the aggregate when the row was written
	Topic          string
	Partition      int32
	Offset         int64
	Key, Value     []byte
	EventTime      time.Time // the record's timestamp
	ParkedAt       time.Time
}

// ParkedReader reads parked events back. A StateReader without it (a test
// double) starts every projection with nothing parked.
type ParkedReader interface {
	// ReadParked returns the open (not consumed) parked events of a
	// physical state table that came from the given partitions of its
	// topic, ordered by aggregate id and sequence.
	ReadParked(ctx context.Context, stateTable string, partitions []int32) ([]ParkedEvent, error)
}

// Gap is an aggregate whose events wait for missing ones.
type Gap struct {
	Topic, AggregateID string
	// Version is the sequence applied so far.
	Version uint64
	// Missing are the sequences not seen yet, below the highest parked.
	Missing []sequence.Range
	// Parked is the number of events waiting.
	Parked int
	// Since is when the oldest of them was parked.
	Since time.Time
}

// GapReporter is a projection that can list its open gaps.
type GapReporter interface {
	Gaps() []Gap
}

// ReadParked implements ParkedReader.
func (db *DB) ReadParked(ctx context.Context, stateTable string, partitions []int32) ([]ParkedEvent, error) {
	const q = "SELECT aggregate_id, sequence, applied_version, topic, `partition`, `offset`, record_key, event, event_time, parked_at" +
		" FROM parked_events FINAL WHERE state_table = {t:String} AND consumed = 0 AND has({p:Array(Int32)}, `partition`)" +
		" ORDER BY aggregate_id, sequence"
	rows, err := db.conn.Query(ctx, q, clickhouse.Named("t", stateTable), clickhouse.Named("p", partitions))
	if err != nil {
		return nil, fmt.Errorf("read parked events of %s: %w", stateTable, err)
	}
	defer rows.Close()
	var out []ParkedEvent
	for rows.Next() {
		var (
			pe         ParkedEvent
			key, value string
		)
		if err := rows.Scan(&pe.AggregateID, &pe.Sequence, &pe.AppliedVersion, &pe.Topic, &pe.Partition, &pe.Offset,
			&key, &value, &pe.EventTime, &pe.ParkedAt); err != nil {
			return nil, fmt.Errorf("read parked events of %s: %w", stateTable, err)
		}
		pe.Key, pe.Value = []byte(key), []byte(value)
		out = append(out, pe)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read parked events of %s: %w", stateTable, err)
	}
	return out, nil
}

// parkedRow is a parked_events row in ParkedTable.Columns order.
func parkedRow(stateTable string, pe ParkedEvent, consumed bool) []any {
	return []any{
		stateTable, pe.Topic, pe.AggregateID, pe.Sequence, pe.AppliedVersion, boolU8(consumed),
		pe.Partition, pe.Offset, string(pe.Key), string(pe.Value), ts(pe.EventTime), ts(pe.ParkedAt),
	}
}

// moveParked makes the parked rows of the state table from (a replay's
// shadow) those of to, dropping to's own: after SwapShadow to holds from's
// data. A table that is not a state table has no rows; the statements are
// no-ops then.
func moveParked(ctx context.Context, db *DB, from, to string) error {
	cols := make([]string, len(ParkedTable.Columns))
	for i, c := range ParkedTable.Columns {
		cols[i] = quoteIdent(c)
	}
	n, err := countParked(ctx, db, from, to)
	if err != nil || n == 0 {
		return err
	}
	list := strings.Join(cols, ", ")
	sel := strings.Replace(list, quoteIdent("state_table"), "{to:String}", 1)
	settings := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"mutations_sync": 2}))
	for _, stmt := range []struct {
		ctx context.Context
		q   string
	}{
		{settings, "ALTER TABLE parked_events DELETE WHERE state_table = {to:String}"},
		{ctx, "INSERT INTO parked_events (" + list + ") SELECT " + sel + " FROM parked_events FINAL WHERE state_table = {from:String}"},
		{settings, "ALTER TABLE parked_events DELETE WHERE state_table = {from:String}"},
	} {
		if err := db.conn.Exec(stmt.ctx, stmt.q, clickhouse.Named("from", from), clickhouse.Named("to", to)); err != nil {
			return fmt.Errorf("sinks: move parked events of %s to %s: %w", from, to, err)
		}
	}
	return nil
}

func countParked(ctx context.Context, db *DB, tables ...string) (uint64, error) {
	var n uint64
	err := db.conn.QueryRow(ctx, "SELECT count() FROM parked_events WHERE has({t:Array(String)}, state_table)",
		clickhouse.Named("t", tables)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sinks: count parked events of %v: %w", tables, err)
	}
	return n, nil
}

// dropParked deletes the parked rows of a state table (a leftover shadow).
func dropParked(ctx context.Context, db *DB, stateTable string) error {
	if n, err := countParked(ctx, db, stateTable); err != nil || n == 0 {
		return err
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"mutations_sync": 2}))
	if err := db.conn.Exec(ctx, "ALTER TABLE parked_events DELETE WHERE state_table = {t:String}", clickhouse.Named("t", stateTable)); err != nil {
		return fmt.Errorf("sinks: drop parked events of %s: %w", stateTable, err)
	}
	return nil
}
