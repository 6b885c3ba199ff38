package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hedgeline/hedgeline/brokers/alpaca"
)

// alpacaHTTPTimeout bounds one Trading API request; a timed-out place is
// retried under the same client order id, so it never doubles an order.
const alpacaHTTPTimeout = 10 * time.Second

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

// baseURL is --alpaca-url, or the mode's Trading API.
func (f alpacaFlags) baseURL() string {
	if f.url != "" {
		return f.url
	}
	m, _ := alpaca.ParseMode(f.mode) // validated
	return m.BaseURL()
}

// openAlpaca builds the client and checks the keys with one clock read:
// refused keys stop the start (nothing could be hedged); an unreachable
// Alpaca does not (orders are retried until it answers).
func openAlpaca(ctx context.Context, f alpacaFlags, log *slog.Logger) (openedBroker, error) {
	if err := f.validate(); err != nil {
		return openedBroker{}, fmt.Errorf("--broker alpaca: %w", err)
	}
	httpClient := &http.Client{Timeout: alpacaHTTPTimeout}
	b, err := alpaca.New(alpaca.Config{
		BaseURL: f.baseURL(), KeyID: f.keyID, SecretKey: f.secretKey,
		HTTPClient: httpClient, Logger: log,
	})
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker alpaca: %w", err)
	}
	// Neither key is logged: the key id identifies the account.
	base := f.baseURL()
	if u, err := url.Parse(base); err == nil {
		base = u.Redacted()
	}
	log.Info("alpaca broker", "mode", f.mode, "base_url", base, "custom_url", f.url != "")
	if f.mode == string(alpaca.Live) && f.url == "" {
		log.Warn("alpaca live trading: hedges are real orders")
	}
	cctx, cancel := context.WithTimeout(ctx, alpacaHTTPTimeout)
	defer cancel()
	switch _, err := b.Clock(cctx); {
	case errors.Is(err, alpaca.ErrUnauthorized):
		httpClient.CloseIdleConnections()
		return openedBroker{}, fmt.Errorf("--broker alpaca: %w", err)
	case err != nil:
		log.Warn("alpaca did not answer the clock at start; orders are retried until it does", "err", err)
	}
	return openedBroker{Broker: b, close: httpClient.CloseIdleConnections}, nil
}
