package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReplayProgress is reported about once a second while a replay runs.
type ReplayProgress struct {
	Phase     string // "rebuild" (into shadows) or "catch-up" (after the swap)
	Done      int64  // records projected so far
	Total     int64  // records to project in this phase
	PerSecond float64
	ETA       time.Duration
}

// ReplayOptions configures Replay.
type ReplayOptions struct {
	// Projections to rebuild; nil means all. Each rebuilds all its tables.
	Projections []Projection
	Logger      *slog.Logger
	Progress    func(ReplayProgress)
	// KafkaOpts are added to every projector's client (tests shorten the
	// group timeouts).
	KafkaOpts []kgo.Opt
}

// SelectProjections resolves names (projection names like "positions" or
// table names like "hedge_view", or "all") to projections.
func SelectProjections(names []string) ([]Projection, error) {
	var out []Projection
	seen := map[string]bool{}
	var errs []error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "all" {
			return Projections(), nil
		}
		var p Projection
		for _, c := range Projections() {
			if c.Name() == n {
				p = c
			}
		}
		if p == nil {
			p = ProjectionOf(n)
		}
		if p == nil {
			errs = append(errs, fmt.Errorf("unknown view %q (want all, a projection of %v or a table of %v)", n, projectionNames(), ViewNames()))
			continue
		}
		if !seen[p.Name()] {
			seen[p.Name()] = true
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

func projectionNames() []string {
	var out []string
	for _, p := range Projections() {
		out = append(out, p.Name())
	}
	return out
}

// Replay rebuilds views from offset 0 while the live projection goes on:
//
//  1. Empty shadow tables "<table>_replay" are created, and projectors with a
//     fresh consumer group fill them from offset 0 up to the topics' end
//     offsets taken at the start.
//  2. Each shadow is exchanged with its live table (EXCHANGE TABLES, atomic)
//     and the old table dropped: readers never see a half-built view.
//  3. Events the live projector wrote into the old tables between step 1's
//     end offsets and the swap are projected again into the new tables by
//     the same replay group, up to the end offsets taken after the swap.
//     Tables are idempotent (version = sequence), so rows the live projector
//     also writes collapse.
func Replay(ctx context.Context, db *DB, k kafkasec.Cluster, opts ReplayOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ps := opts.Projections
	if ps == nil {
		ps = Projections()
	}
	var tables []string
	for _, p := range ps {
		for _, t := range p.Tables() {
			tables = append(tables, t.Name)
		}
	}
	const suffix = "_replay"
	group := fmt.Sprintf("replay-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(k.Opts()...)
	if err != nil {
		return fmt.Errorf("replay: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The replay group's offsets are useless once it is done.
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range ps {
			_, _ = adm.DeleteGroup(dctx, group+"-"+p.Name())
		}
	}()

	if err := CreateShadow(ctx, db, suffix, tables); err != nil {
		return err
	}
	if err := projectTo(ctx, db, k, adm, ps, group, suffix, "rebuild", opts); err != nil {
		return err
	}
	if err := SwapShadow(ctx, db, suffix, tables); err != nil {
		return err
	}
	opts.Logger.Info("replay: views swapped in", "tables", strings.Join(tables, ","))
	// Fresh projection instances: their caches must read the new tables.
	fresh := make([]Projection, len(ps))
	for i, p := range ps {
		fresh[i] = ProjectionOf(p.Tables()[0].Name)
	}
	return projectTo(ctx, db, k, adm, fresh, group, "", "catch-up", opts)
}

// projectTo runs one projector per projection (group "<group>-<name>",
// tables with suffix) until each has committed its topic's end offsets as
// of now.
func projectTo(ctx context.Context, db *DB, k kafkasec.Cluster, adm *kadm.Client, ps []Projection, group, suffix, phase string, opts ReplayOptions) error {
	// Per partition: where the group starts, the end to reach, and how far
	// its commits got.
	type target struct {
		start, end, done map[int32]int64
	}
	var mu sync.Mutex
	targets := map[string]*target{}
	var total int64
	for _, p := range ps {
		ends, err := adm.ListEndOffsets(ctx, p.Topic())
		if err != nil {
			return fmt.Errorf("replay: end offsets of %s: %w", p.Topic(), err)
		}
		committed, err := adm.FetchOffsets(ctx, group+"-"+p.Name())
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil // a fresh group starts at 0
		}
		if err != nil {
			return fmt.Errorf("replay: offsets of %s: %w", group, err)
		}
		t := &target{start: map[int32]int64{}, end: map[int32]int64{}, done: map[int32]int64{}}
		ends.Each(func(o kadm.ListedOffset) {
			t.end[o.Partition] = o.Offset
			start := int64(0)
			if c, ok := committed.Lookup(p.Topic(), o.Partition); ok && c.Err == nil {
				start = c.At
			}
			t.start[o.Partition], t.done[o.Partition] = start, start
			total += max(o.Offset-start, 0)
		})
		targets[p.Name()] = t
	}
	reached := func(t *target) bool {
		for part, end := range t.end {
			if t.done[part] < end {
				return false
			}
		}
		return true
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(ps))
	finished := make(chan string, len(ps))
	for _, p := range ps {
		t := targets[p.Name()]
		if reached(t) {
			continue
		}
		pctx, pcancel := context.WithCancel(ctx)
		pr, err := NewProjector(db, k, p, Options{
			Group: group + "-" + p.Name(), TableSuffix: suffix, Logger: opts.Logger, KafkaOpts: opts.KafkaOpts,
			OnBatch: func(b BatchInfo) {
				mu.Lock()
				for part, o := range b.CommitTo {
					if o > t.done[part] {
						t.done[part] = o
					}
				}
				done := reached(t)
				mu.Unlock()
				if done {
					pcancel()
				}
			},
		})
		if err != nil {
			pcancel()
			return fmt.Errorf("replay %s: %w", p.Name(), err)
		}
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			defer pcancel()
			if err := pr.Run(pctx); err != nil {
				errs <- fmt.Errorf("replay %s: %w", name, err)
				cancel()
				return
			}
			finished <- name
		}(p.Name())
	}

	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	report := func() {
		if opts.Progress == nil {
			return
		}
		mu.Lock()
		pr := ReplayProgress{Phase: phase, Total: total}
		for _, t := range targets {
			for part, end := range t.end {
				pr.Done += max(min(t.done[part], end)-t.start[part], 0)
			}
		}
		mu.Unlock()
		el := time.Since(start).Seconds()
		if el > 0 {
			pr.PerSecond = float64(pr.Done) / el
		}
		if pr.PerSecond > 0 && pr.Total > pr.Done {
			pr.ETA = time.Duration(float64(pr.Total-pr.Done) / pr.PerSecond * float64(time.Second))
		}
		opts.Progress(pr)
	}
	go func() { wg.Wait(); close(finished) }()
	for {
		select {
		case _, ok := <-finished:
			if !ok {
				report()
				select {
				case err := <-errs:
					return err
				default:
				}
				return ctx.Err()
			}
		case err := <-errs:
			cancel()
			wg.Wait()
			return err
		case <-tick.C:
			report()
		}
	}
}
