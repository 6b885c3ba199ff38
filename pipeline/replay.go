package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/stack"
)

func init() {
	register("replay", "rebuild ClickHouse views from offset 0 of the event topics, then swap them in", runReplay)
}

func runReplay(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("replay", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	var ch chFlags
	ch.register(fs, "127.0.0.1:9000")
	views := fs.String("views", "all", "views to rebuild: all, or projections (trades, positions, orders, pnl) / tables, comma-separated")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	ps, err := sinks.SelectProjections(strings.Split(*views, ","))
	if err != nil {
		return err
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	chc, err := ch.config()
	if err != nil {
		return err
	}
	db, err := stack.OpenViews(ctx, chc, log)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	err = sinks.Replay(ctx, db, kc, sinks.ReplayOptions{
		Projections: ps, Logger: log,
		Progress: func(p sinks.ReplayProgress) {
			log.Info("replay progress", "phase", p.Phase, "done", p.Done, "total", p.Total,
				"events_per_s", fmt.Sprintf("%.0f", p.PerSecond), "eta", p.ETA.Round(time.Second))
		},
	})
	if err != nil {
		return err
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	fmt.Fprintf(stdout, "replayed %s in %s; views swapped in\n", strings.Join(names, ","), time.Since(start).Round(time.Millisecond))
	return nil
}
