package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/sinks"
)

// chFlags are shared by every command that talks to ClickHouse.
type chFlags struct {
	addr, user, password, database string
	tls                            bool
}

func (c *chFlags) register(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&c.addr, "clickhouse", defaultAddr, "ClickHouse native-protocol address host:port")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password")
	fs.StringVar(&c.database, "clickhouse-database", sinks.DefaultDatabase, "database of the views (created if missing, Atomic engine)")
	fs.BoolVar(&c.tls, "clickhouse-tls", false, "connect with TLS (port 9440 on a real server)")
}

func (c chFlags) config() sinks.Config {
	return sinks.Config{Addr: c.addr, User: c.user, Password: c.password, Database: c.database, TLS: c.tls}
}

// openViews connects to ClickHouse and applies the view migrations.
func openViews(ctx context.Context, c chFlags, log *slog.Logger) (*sinks.DB, error) {
	db, err := sinks.Open(ctx, c.config())
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", c.addr, err)
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
func startEmbeddedClickHouse(ctx context.Context, cfg runConfig, log *slog.Logger) (*clickhouse.Process, error) {
	return clickhouse.Spawn(ctx, clickhouse.ProcessConfig{
		Config: clickhouse.Config{DataDir: filepath.Join(cfg.stateDir, "clickhouse"), TCPPort: cfg.embeddedCHPort, LibPath: cfg.clickhouseLib},
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
