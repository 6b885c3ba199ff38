package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
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
func projectorRuns(db *sinks.DB, brokers []string, log *slog.Logger) ([]func(context.Context) error, error) {
	var runs []func(context.Context) error
	for _, p := range sinks.Projections() {
		pr, err := sinks.NewProjector(db, brokers, p, sinks.Options{Logger: log.With("projection", p.Name())})
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
