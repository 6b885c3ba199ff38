package main

import (
	"flag"
	"fmt"
	"log/slog"
)

// alpacaFlags configure `run --broker alpaca`.
type alpacaFlags struct{}

func (f *alpacaFlags) register(fs *flag.FlagSet) {}

func (f *alpacaFlags) validate() error { return nil }

func openAlpaca(f alpacaFlags, log *slog.Logger) (openedBroker, error) {
	return openedBroker{}, fmt.Errorf("--broker alpaca: %w", errNotWired)
}
