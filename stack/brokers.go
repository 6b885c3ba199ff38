package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/runner"
)

// brokerFlags are the flags of the brokers `run --broker` can hedge at.
type brokerFlags struct {
	alpaca alpacaFlags
	schwab schwabFlags
}

func (f *brokerFlags) register(fs *flag.FlagSet) {
	f.alpaca.register(fs)
	f.schwab.register(fs)
}

// validate checks the flags of the chosen broker only.
func (f *brokerFlags) validate(b market.Broker) error {
	switch b {
	case market.Alpaca:
		return f.alpaca.validate()
	case market.Schwab:
		return f.schwab.validate()
	}
	return nil
}

// openedBroker is a broker ready for the order manager, with what must run
// beside it (a token refresh loop, ...) and how to release it.
type openedBroker struct {
	brokers.Broker
	background []func(context.Context) error
	close      func()
}

// openBroker builds the broker `run --broker` names.
func openBroker(ctx context.Context, cfg runConfig, set settings, rc runner.Config, log *slog.Logger) (openedBroker, error) {
	switch set.execution.Broker {
	case market.Alpaca:
		return openAlpaca(ctx, cfg.brokers.alpaca, log)
	case market.Schwab:
		return openSchwab(ctx, cfg, rc, log)
	case market.DryRun:
		return openDryRun(cfg, set, log)
	}
	return openedBroker{}, fmt.Errorf("--broker: %s cannot execute hedges", set.execution.Broker)
}

func openDryRun(cfg runConfig, set settings, log *slog.Logger) (openedBroker, error) {
	ledger := cfg.dryRunLedger
	if ledger == "" {
		ledger = filepath.Join(cfg.stateDir, "dry-run-ledger.jsonl")
	}
	if err := os.MkdirAll(filepath.Dir(ledger), 0o755); err != nil {
		return openedBroker{}, fmt.Errorf("dry-run ledger dir: %w", err)
	}
	b, err := dryrun.Open(dryrun.Config{
		Ledger: ledger, Price: set.price, FillDelay: cfg.dryRunFillDelay, Clock: set.clock,
		FailureRate: cfg.dryRunFailRate, Fractional: set.execution.Fractional, Logger: log,
	})
	if err != nil {
		return openedBroker{}, fmt.Errorf("dry-run broker: %w", err)
	}
	return openedBroker{Broker: b, close: func() { _ = b.Close() }}, nil
}
