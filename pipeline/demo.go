package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/api"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/samples"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
)

func init() {
	register("demo", "one machine, one command: embedded Kafka + ClickHouse + pipeline, feeds a sample, prints PnL", runDemo)
}

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg runConfig
	fs := newFlagSet("demo", os.Stderr)
	cfg.register(fs)
	fills := fs.String("fills", "", "JSONL file of fills to feed (default: the sample built into the binary, samples/fills.jsonl)")
	serveListen := fs.String("serve-listen", "127.0.0.1:8080", "address of the REST API and web page (hedgeline serve) the demo starts once the views are in (off when empty)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Take the API's port before starting anything: a taken port fails at
	// once, like the broker's, instead of after the whole demo ran.
	var apiLn net.Listener
	if *serveListen != "" {
		ln, err := net.Listen("tcp", *serveListen)
		if err != nil {
			return fmt.Errorf("--serve-listen %s: %w (pick another: make run RUN_ARGS=\"--serve-listen 127.0.0.1:PORT\", or \"\" for none)", *serveListen, err)
		}
		apiLn = ln
		defer apiLn.Close()
	}
	// Read the fills before starting anything: a wrong path fails at once.
	fillsName, fillsData, err := demoFills(*fills)
	if err != nil {
		return err
	}
	cfg.embedded, cfg.fastGroups = true, true
	if cfg.stateDir == ".state" {
		cfg.stateDir = demoStateDir
	}
	log, err := newLoggerFormat(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	if _, err := cfg.stackConfig(); err != nil {
		return err
	}
	// The demo starts from a clean slate so its numbers are the sample's:
	// it deletes what hedgeline keeps in the state dir, never anything
	// else, and only while it holds the directory's lock.
	dir, err := openStateDir(cfg)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := checkEnginesStopped(cfg.stateDir); err != nil {
		return fmt.Errorf("state dir %s: not reset, nothing was deleted: %w", cfg.stateDir, err)
	}
	if err := dir.Reset(stack.StateEntries, filepath.Clean(cfg.stateDir) == demoStateDir); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runInStateDir(ctx, cfg, log, ready) }()
	// Whichever way the demo ends, the stack stops (the embedded
	// ClickHouse gracefully) before the state dir's lock is released.
	finished := false
	defer func() {
		cancel()
		if !finished {
			<-done
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		finished = true
		return err
	}
	cfg.kafka.brokers = cfg.embeddedListen
	recs, _, err := ingestFills(ctx, cfg.kafka, fillsName, bytes.NewReader(fillsData), ingestOptions{seenAt: file.SeenAuto}, log)
	n := len(recs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fed %d fills from %s; waiting for hedges to settle...\n", n, fillsName)
	kc, err := cfg.kafka.cluster()
	if err != nil {
		return err
	}
	if err := waitSettled(ctx, kc, n, 2*time.Minute, log); err != nil {
		return err
	}
	chAddr := fmt.Sprintf("127.0.0.1:%d", cfg.embeddedCHPort)
	embeddedCH := sinks.Config{Addr: chAddr, User: "default", Database: cfg.ch.database}
	if err := printViews(ctx, kc, embeddedCH, stdout); err != nil {
		return err
	}
	if apiLn != nil {
		stopAPI, err := serveAPI(apiLn, api.Config{ClickHouse: embeddedCH, Kafka: kc, Log: log})
		if err != nil {
			return err
		}
		defer stopAPI()
		fmt.Fprintf(stdout, "\nWeb page: http://%[1]s/  (PnL, chart, positions, orders, health; refreshes itself)\n"+
			"REST API: http://%[1]s/api/pnl  (every path: http://%[1]s/api/openapi.json)\n", apiLn.Addr())
	}
	fmt.Fprintf(stdout, `
Serving until Ctrl-C: Kafka on %[1]s, ClickHouse on %[2]s (database %[3]s).
  bin/hedgeline pnl --clickhouse %[2]s [--json] [--symbol AAPL] [--from 2025-11-04]
  bin/hedgeline positions|trades|orders --clickhouse %[2]s
  bin/hedgeline ingest file --brokers %[1]s FILE      (more fills)
  bin/hedgeline replay --brokers %[1]s --clickhouse %[2]s --views all
The SQL behind these is in sinks/QUERIES.md.
`, cfg.embeddedListen, chAddr, cfg.ch.database)
	err = <-done
	finished = true
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// demoFills is the demo's input: the file named by --fills, or the sample
// embedded in the binary, so the demo runs from any directory.
func demoFills(path string) (name string, data []byte, err error) {
	if path == "" {
		return samples.FillsName, samples.Fills, nil
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("--fills: %w", err)
	}
	return path, data, nil
}

// waitSettled waits until every fill reached its position and no hedge is
// in flight.
func waitSettled(ctx context.Context, k kafkasec.Cluster, fills int, timeout time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	for {
		recs, err := readTopic(ctx, k, topics.PositionEvents)
		if err != nil {
			return err
		}
		applied, pending, err := progress(recs)
		if err != nil {
			return err
		}
		if applied >= fills && pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %s: %d of %d fills applied, %d hedges in flight", timeout, applied, fills, pending)
		}
		log.Debug("waiting", "applied", applied, "fills", fills, "pending", pending)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func progress(recs []*kgoRecord) (applied, pending int, err error) {
	seen := map[string]uint64{}
	for _, r := range recs {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			return 0, 0, err
		}
		if env.Sequence <= seen[env.AggregateID] {
			continue
		}
		seen[env.AggregateID] = env.Sequence
		if env.EventType == (position.OnChainOrderFilled{}).EventType() {
			applied++
		}
	}
	states, err := foldPositions(recs)
	if err != nil {
		return 0, 0, err
	}
	for _, l := range states {
		if l.State.Pending != nil {
			pending++
		}
	}
	return applied, pending, nil
}

// printViews waits until the ClickHouse views hold every PnL record on
// pnl.events, then prints the PnL and position tables from them.
func printViews(ctx context.Context, k kafkasec.Cluster, ch sinks.Config, w io.Writer) error {
	recs, err := readTopic(ctx, k, topics.PnLEvents)
	if err != nil {
		return err
	}
	sum, err := summarizePnL(recs)
	if err != nil {
		return err
	}
	want := 0
	for _, s := range sum {
		want += s.Fills
	}
	db, err := sinks.Open(ctx, ch)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		rows, err := db.PnL(ctx, sinks.Filter{})
		got := 0
		for _, r := range rows {
			got += r.Fills
		}
		if err == nil && got >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse views hold %d of %d pnl records after a minute (last error: %v)", got, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintln(w, "\nPnL (FIFO, realized, per base symbol; from ClickHouse)")
	if err := printPnL(ctx, db, sinks.Filter{}, false, w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nPositions")
	return printPositions(ctx, db, sinks.Filter{}, false, w)
}
