package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hedgeline/hedgeline/brokers/alpaca"
	"github.com/hedgeline/hedgeline/internal/metrics"
)

// alpacaHTTPTimeout bounds one Trading API request; a timed-out place is
// retried under the same client order id, so it never doubles an order.
const alpacaHTTPTimeout = 10 * time.Second

// openAlpaca builds the client and checks the keys with one clock read:
// refused keys stop the start (nothing could be hedged); an unreachable
// Alpaca does not (orders are retried until it answers).
func openAlpaca(ctx context.Context, f Alpaca, m *metrics.Metrics, log *slog.Logger) (openedBroker, error) {
	httpClient := &http.Client{Timeout: alpacaHTTPTimeout, Transport: m.BrokerTransport("alpaca", nil)}
	b, err := alpaca.New(alpaca.Config{
		BaseURL: f.BaseURL(), KeyID: f.KeyID, SecretKey: f.SecretKey,
		HTTPClient: httpClient, Logger: log,
	})
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker alpaca: %w", err)
	}
	// Neither key is logged: the key id identifies the account.
	base := f.BaseURL()
	if u, err := url.Parse(base); err == nil {
		base = u.Redacted()
	}
	log.Info("alpaca broker", "mode", string(f.Mode), "base_url", base, "custom_url", f.URL != "")
	if f.Mode == alpaca.Live && f.URL == "" {
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
