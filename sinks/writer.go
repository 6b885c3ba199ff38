package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Writer is everything a Projector needs of the store: read folded states
// and parked events back (what Projection.Project is handed), and insert
// rows idempotently. *DB is the ClickHouse implementation; tests wrap it
// to inject outages and crashes (conformance_test.go), and every
// projection must pass that battery against any Writer.
type Writer interface {
	StateReader
	ParkedReader
	// Insert writes rows (each in cols order) to table in one INSERT.
	// token names the rows (<table>/<topic>/<partition>/<first>-<last>):
	// an insert repeated with the same token after it landed (its
	// acknowledgement was lost) must add nothing. An error wrapped with
	// Permanent stops the projector; any other error is retried with the
	// same rows and token.
	Insert(ctx context.Context, table string, cols []string, rows [][]any, token string) error
	// SyncReplicas makes the store the reads go to catch up with every
	// insert into tables acknowledged anywhere else: on a cluster, rows
	// another hedgeline instance wrote through another replica (a no-op on
	// one server). A projector calls it before it reads back state it did
	// not write itself: at its start and after a partition assignment.
	SyncReplicas(ctx context.Context, tables []string) error
}

var _ Writer = (*DB)(nil)

// permanentError marks a failure that retrying cannot fix (a bug such as a
// row that does not fit its table): Run stops with it instead of retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one retrying cannot fix: a Projector stops with
// it instead of retrying (see Writer).
func Permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err (or an error it wraps) was marked
// Permanent.
func IsPermanent(err error) bool {
	var perm *permanentError
	return errors.As(err, &perm)
}

// Insert implements Writer with one INSERT carrying the token as
// insert_deduplication_token: a retry of an insert that ClickHouse applied
// (but whose acknowledgement was lost) is a no-op; the tables set
// non_replicated_deduplication_window for that. A row that does not fit
// the table is a Permanent error.
func (db *DB) Insert(ctx context.Context, table string, cols []string, rows [][]any, token string) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"insert_deduplicate":         1,
		"insert_deduplication_token": token,
	}))
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	b, err := db.conn.PrepareBatch(ctx, "INSERT INTO "+quoteIdent(table)+" ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return err
	}
	defer b.Close()
	for i, r := range rows {
		if err := b.Append(r...); err != nil {
			return Permanent(fmt.Errorf("row %d of %s does not fit the table: %w", i, table, err))
		}
	}
	return b.Send()
}

// SyncReplicas implements Writer: on a cluster, SYSTEM SYNC REPLICA ...
// LIGHTWEIGHT makes the replica of Addr fetch every part the others have
// (it does not wait for their merges). Reads go to the replica the
// projector writes to, so its own inserts need no syncing.
func (db *DB) SyncReplicas(ctx context.Context, tables []string) error {
	if db.cfg.Cluster == "" {
		return nil
	}
	for _, t := range tables {
		if err := db.conn.Exec(ctx, syncReplicaSQL(t)); err != nil {
			return fmt.Errorf("sync replica of %s: %w", t, err)
		}
	}
	return nil
}

// syncReplicaSQL makes the replica it runs on fetch every part of t that
// the others have; LIGHTWEIGHT skips waiting for their merges.
func syncReplicaSQL(t string) string { return "SYSTEM SYNC REPLICA " + quoteIdent(t) + " LIGHTWEIGHT" }

// readStatesChunk bounds the keys of one state query.
const readStatesChunk = 2000

// ReadStates implements StateReader.
func (db *DB) ReadStates(ctx context.Context, table, keyColumn, versionColumn string, keys []string) (map[string]StoredState, error) {
	out := make(map[string]StoredState, len(keys))
	q := "SELECT " + quoteIdent(keyColumn) + ", " + quoteIdent(versionColumn) + ", state FROM " + quoteIdent(table) +
		" FINAL WHERE " + quoteIdent(keyColumn) + " IN (SELECT arrayJoin({keys:Array(String)}))"
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), readStatesChunk)]
		keys = keys[len(chunk):]
		rows, err := db.conn.Query(ctx, q, clickhouse.Named("keys", chunk))
		if err != nil {
			return nil, fmt.Errorf("read states from %s: %w", table, err)
		}
		for rows.Next() {
			var (
				k     string
				v     uint64
				state string
			)
			if err := rows.Scan(&k, &v, &state); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read states from %s: %w", table, err)
			}
			out[k] = StoredState{Version: v, State: []byte(state)}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read states from %s: %w", table, err)
		}
	}
	return out, nil
}
