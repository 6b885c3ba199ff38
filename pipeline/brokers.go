package main

import (
	"flag"

	"github.com/hedgeline/hedgeline/market"
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
