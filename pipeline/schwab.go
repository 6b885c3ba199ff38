package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/hedgeline/hedgeline/processors/runner"
)

// schwabFlags configure `run --broker schwab`.
type schwabFlags struct{}

func (f *schwabFlags) register(fs *flag.FlagSet) {}

func (f *schwabFlags) validate() error { return nil }

func openSchwab(ctx context.Context, cfg runConfig, rc runner.Config, log *slog.Logger) (openedBroker, error) {
	return openedBroker{}, fmt.Errorf("--broker schwab: %w", errNotWired)
}
