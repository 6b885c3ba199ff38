package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hedgeline/hedgeline/internal/metrics"
	"github.com/hedgeline/hedgeline/stack"
)

// serveMetrics, with --metrics-listen, gives sc a fresh metrics registry
// and serves its /metrics and /healthz on the address until stop is
// called. Without the flag it does nothing.
func serveMetrics(addr string, sc *stack.Config, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	m := metrics.New()
	stop, err = listenMetrics(addr, m, log)
	if err == nil {
		sc.Metrics = m
	}
	return stop, err
}

// listenMetrics serves m's /metrics and /healthz on addr until stop.
func listenMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	stopHTTP := startHTTP(ln, m.Handler(), func(err error) { log.Warn("metrics server stopped", "err", err) })
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { _ = stopHTTP(5 * time.Second) }, nil
}
