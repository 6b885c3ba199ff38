package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/api"
	"github.com/hedgeline/hedgeline/internal/metrics"
)

func init() {
	register("serve", "serve the JSON REST API over the ClickHouse views (and, with --brokers, the event topics) and the web page at / until SIGTERM", runServe).
		withArgs("",
			"endpoints: /api/health[?ready=true] /api/pnl /api/pnl/history /api/positions /api/trades /api/orders",
			"           /api/aggregates/{type}/{id}/events (needs --brokers) /api/openapi.json (the full description)",
			"page:      / (PnL, chart, positions, orders, health; refreshes every 5 s)")
}

func runServe(ctx context.Context, args []string, _ io.Writer) error {
	fs := newFlagSet("serve", os.Stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address to serve the API and the page on")
	var ch chFlags
	ch.register(fs, "127.0.0.1:9000")
	var k kafkaFlags
	fs.StringVar(&k.brokers, "brokers", "", "comma-separated Kafka bootstrap addresses: readiness checks Kafka and consumer lag, and /api/aggregates reads events (off when empty)")
	k.sec.Register(fs)
	metricsListen := fs.String("metrics-listen", "", "address to serve Prometheus /metrics (API requests by route and code, latency) and /healthz on (off when empty)")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("serve takes no arguments, got %q", fs.Args())
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	chc, err := ch.config()
	if err != nil {
		return err
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{ClickHouse: chc, Kafka: kc, Log: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: listen %s: %w", *listen, err)
	}
	handler := srv.Handler()
	if *metricsListen != "" {
		m := metrics.New()
		stopMetrics, err := listenMetrics(*metricsListen, m, log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopMetrics()
		handler = m.InstrumentAPI(handler)
		m.SetReady(true)
		defer m.SetReady(false)
	}
	log.Info("serve ready", "listen", ln.Addr().String(), "clickhouse", ch.addr, "brokers", k.brokers, "kafka_security", kc.Security.String())
	failed := make(chan error, 1)
	stop := startHTTP(ln, handler, func(err error) { failed <- err })
	select {
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if err := stop(10 * time.Second); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// serveAPI serves cfg's REST API on ln until stop (the demo's; serve runs
// its own loop for its signals and metrics).
func serveAPI(ln net.Listener, cfg api.Config) (stop func(), err error) {
	srv, err := api.New(cfg)
	if err != nil {
		return nil, err
	}
	stopHTTP := startHTTP(ln, srv.Handler(), func(err error) { cfg.Log.Warn("REST API stopped", "err", err) })
	return func() {
		_ = stopHTTP(5 * time.Second)
		srv.Close()
	}, nil
}

// startHTTP serves h on ln (the API, /metrics) until stop, which waits up
// to timeout for requests in flight. failed hears of Serve ending on its
// own (not by stop).
func startHTTP(ln net.Listener, h http.Handler, failed func(error)) (stop func(timeout time.Duration) error) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed(err)
		}
	}()
	return func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
