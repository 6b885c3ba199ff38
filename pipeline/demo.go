package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

func init() {
	register("demo", "one machine, one command: embedded broker + pipeline, feeds a sample, prints PnL", runDemo)
}

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg runConfig
	fs := newFlagSet("demo", os.Stderr)
	cfg.register(fs)
	fills := fs.String("fills", "samples/fills.jsonl", "JSONL file of fills to feed")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.embedded, cfg.fastGroups = true, true
	if cfg.stateDir == ".state" {
		cfg.stateDir = filepath.Join(".state", "demo")
	}
	log, err := newLogger(cfg.logLevel)
	if err != nil {
		return err
	}
	// The demo starts from a clean slate so its numbers are the sample's.
	if err := os.RemoveAll(cfg.stateDir); err != nil {
		return fmt.Errorf("reset demo state: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runPipeline(ctx, cfg, log, ready) }()
	select {
	case <-ready:
	case err := <-done:
		return err
	}
	cfg.kafka.brokers = cfg.embeddedListen
	n, _, err := ingestFile(ctx, cfg.kafka, *fills, false, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fed %d fills from %s; waiting for hedges to settle...\n", n, *fills)
	if err := waitSettled(ctx, cfg.kafka.list(), n, 2*time.Minute, log); err != nil {
		return err
	}
	if err := printTables(ctx, cfg.kafka.list(), stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nServing on %s until Ctrl-C. Feed more fills with:\n  bin/hedgeline ingest file --brokers %s FILE\nand read PnL records with:\n  bin/hedgeline tail --brokers %s %s\n",
		cfg.embeddedListen, cfg.embeddedListen, cfg.embeddedListen, topics.PnLEvents)
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// waitSettled waits until every fill reached its position and no hedge is
// in flight.
func waitSettled(ctx context.Context, brokers []string, fills int, timeout time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	for {
		recs, err := readTopic(ctx, brokers, topics.PositionEvents)
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

func printTables(ctx context.Context, brokers []string, w io.Writer) error {
	pnlRecs, err := readTopic(ctx, brokers, topics.PnLEvents)
	if err != nil {
		return err
	}
	sum, err := summarizePnL(pnlRecs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\nPnL (FIFO, realized, per base symbol)")
	fmt.Fprintln(tw, "SYMBOL\tREALIZED_PNL\tNET_POSITION\tONCHAIN_VOLUME\tOFFCHAIN_VOLUME\tFILLS\t")
	for _, s := range sum {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", s.Symbol, s.RealizedPnL.StringFixed(4), s.NetPosition, s.OnchainVolume, s.OffchainVolume, s.Fills)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	posRecs, err := readTopic(ctx, brokers, topics.PositionEvents)
	if err != nil {
		return err
	}
	states, err := foldPositions(posRecs)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nPositions")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SYMBOL\tNET\tACCUMULATED_LONG\tACCUMULATED_SHORT\tHEDGED\tPENDING\tLAST_PRICE\t")
	for _, sym := range sortedKeys(states) {
		s := states[sym].State
		pend, last := "-", "-"
		if s.Pending != nil {
			pend = fmt.Sprintf("%s %s", s.Pending.Direction, s.Pending.Shares)
		}
		if s.LastPriceUSDC != nil {
			last = s.LastPriceUSDC.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", sym, s.Net, s.AccumulatedLong, s.AccumulatedShort, s.HedgedShares, pend, last)
	}
	return tw.Flush()
}
