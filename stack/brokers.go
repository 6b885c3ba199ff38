package stack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// openedBroker is a broker ready for the order manager, with what must run
// beside it (a token refresh loop, ...) and how to release it.
type openedBroker struct {
	brokers.Broker
	background []func(context.Context) error
	close      func()
}

// openBroker builds the broker cfg.Execution names.
func openBroker(ctx context.Context, cfg Config, rc runner.Config, log *slog.Logger) (openedBroker, error) {
	switch cfg.Execution.Broker {
	case market.Alpaca:
		return openAlpaca(ctx, cfg.Alpaca, cfg.Metrics, log)
	case market.Schwab:
		return openSchwab(ctx, cfg, rc, log)
	case market.DryRun:
		return openDryRun(cfg, log)
	}
	return openedBroker{}, fmt.Errorf("--broker: %s cannot execute hedges", cfg.Execution.Broker)
}

func openDryRun(cfg Config, log *slog.Logger) (openedBroker, error) {
	ledger := cfg.DryRun.Ledger
	if ledger == "" {
		ledger = filepath.Join(cfg.StateDir, "dry-run-ledger.jsonl")
	}
	if err := os.MkdirAll(filepath.Dir(ledger), 0o755); err != nil {
		return openedBroker{}, fmt.Errorf("dry-run ledger dir: %w", err)
	}
	b, err := dryrun.Open(dryrun.Config{
		Ledger: ledger, Price: cfg.DryRun.Price, FillDelay: cfg.DryRun.FillDelay, Clock: cfg.DryRun.Clock,
		FailureRate: cfg.DryRun.FailureRate, Fractional: cfg.Execution.Fractional, Logger: log,
	})
	if err != nil {
		return openedBroker{}, fmt.Errorf("dry-run broker: %w", err)
	}
	return openedBroker{Broker: b, close: func() { _ = b.Close() }}, nil
}
