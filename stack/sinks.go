package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/metrics"
	"github.com/hedgeline/hedgeline/sinks"
)

// OpenViews connects to ClickHouse and applies the view migrations.
func OpenViews(ctx context.Context, c sinks.Config, log *slog.Logger) (*sinks.DB, error) {
	db, err := sinks.Open(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", c.Addr, err)
	}
	rep, err := sinks.Migrate(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("clickhouse migrations: %w", err)
	}
	if len(rep.Applied) > 0 {
		log.Info("clickhouse migrations applied", "applied", rep.Applied)
	}
	return db, nil
}

// startEmbeddedClickHouse runs ClickHouse as a supervised child process
// (restarted if it dies), data under <state-dir>/clickhouse.
func startEmbeddedClickHouse(ctx context.Context, cfg Config, log *slog.Logger) (*clickhouse.Process, error) {
	return clickhouse.Spawn(ctx, clickhouse.ProcessConfig{
		Config: clickhouse.Config{DataDir: filepath.Join(cfg.StateDir, "clickhouse"), TCPPort: cfg.Embedded.ClickHousePort, LibPath: cfg.Embedded.ClickHouseLib},
		Logger: log,
	})
}

// projectorRuns makes one run function per view projection.
// With m, each batch's size and each insert's latency are observed.
func projectorRuns(db *sinks.DB, k kafkasec.Cluster, m *metrics.Metrics, log *slog.Logger) ([]func(context.Context) error, error) {
	var runs []func(context.Context) error
	var w sinks.Writer = db
	if m != nil {
		w = timedWriter{Writer: db, m: m}
	}
	for _, p := range sinks.Projections() {
		opts := sinks.Options{Logger: log.With("projection", p.Name())}
		if m != nil {
			opts.OnBatch = func(b sinks.BatchInfo) { m.ObserveBatch(b.Projection, b.Records) }
		}
		pr, err := sinks.NewProjector(w, k, p, opts)
		if err != nil {
			return nil, err
		}
		runs = append(runs, pr.Run)
	}
	return runs, nil
}

// stopClickHouse stops the embedded engine after its clients are gone, so
// none of them sees its own queries cancelled.
func stopClickHouse(srv *clickhouse.Process, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("embedded clickhouse stop", "err", err)
	}
}

// sinkGroups are the consumer groups of the view projectors.
func sinkGroups() []string {
	var gs []string
	for _, p := range sinks.Projections() {
		gs = append(gs, sinks.DefaultGroup(p.Name()))
	}
	return gs
}

// timedWriter observes the latency of every insert.
type timedWriter struct {
	sinks.Writer
	m *metrics.Metrics
}

func (w timedWriter) Insert(ctx context.Context, table string, cols []string, rows [][]any, token string) error {
	start := time.Now()
	err := w.Writer.Insert(ctx, table, cols, rows, token)
	w.m.ObserveInsert(table, time.Since(start).Seconds(), err)
	return err
}
