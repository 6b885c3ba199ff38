package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"

	"github.com/hedgeline/hedgeline/brokers/alpaca"
	"github.com/hedgeline/hedgeline/stack"
)

// alpacaFlags configure `run --broker alpaca`.
type alpacaFlags struct {
	mode      string
	keyID     string
	secretKey string
	url       string
}

func (f *alpacaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "alpaca-mode", string(alpaca.Paper), "alpaca: paper or live trading")
	fs.StringVar(&f.keyID, "alpaca-key-id", "", "alpaca: API key id (required with --broker alpaca)")
	// No default, so --help never prints a secret taken from the env.
	fs.StringVar(&f.secretKey, "alpaca-secret-key", "", "alpaca: API secret key (required with --broker alpaca; prefer the env var)")
	fs.StringVar(&f.url, "alpaca-url", "", "alpaca: Trading API base URL instead of the mode's (a stand-in); the stream is its host's /stream")
}

// validate reports every problem, naming flags and env vars, never values
// of the keys.
func (f *alpacaFlags) validate() error {
	var errs []error
	if _, err := alpaca.ParseMode(f.mode); err != nil {
		errs = append(errs, fmt.Errorf("--alpaca-mode: %w", err))
	}
	if f.keyID == "" {
		errs = append(errs, errors.New("--alpaca-key-id (or HEDGELINE_ALPACA_KEY_ID) is required with --broker alpaca"))
	}
	if f.secretKey == "" {
		errs = append(errs, errors.New("--alpaca-secret-key (or HEDGELINE_ALPACA_SECRET_KEY) is required with --broker alpaca"))
	}
	if f.url != "" {
		if err := checkAlpacaURL(f.url); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkAlpacaURL wants http(s)://host[:port][/path]; a URL carrying
// credentials is shown redacted.
func checkAlpacaURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("--alpaca-url: not a URL (want http(s)://host[:port])")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--alpaca-url %q: want http(s)://host[:port], no query", u.Redacted())
	}
	return nil
}

// stack is the validated flags as the stack's Alpaca settings.
func (f alpacaFlags) stack() stack.Alpaca {
	m, _ := alpaca.ParseMode(f.mode) // validated
	return stack.Alpaca{Mode: m, KeyID: f.keyID, SecretKey: f.secretKey, URL: f.url}
}
