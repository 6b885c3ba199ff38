package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/sources/feed"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/sources/loadgen"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("loadgen", "produce synthetic fills at a rate (or as fast as possible) for load tests", runLoadgen)
}

func runLoadgen(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("loadgen", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	fills := fs.Int("fills", 100000, "number of fills to produce")
	symbols := fs.Int("symbols", 10, "number of distinct base symbols")
	rate := fs.Int("rate", 0, "fills per second (0: as fast as possible)")
	var lf logFlags
	lf.register(fs)
	seed := fs.Uint64("seed", 1, "random seed (the same seed gives the same fills)")
	resume := fs.Bool("resume", true, "continue after the highest chain position already on onchain-trade.commands (false: start at the generator's first block, which a stack holding fills refuses)")
	var out outcomeFlags
	out.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *fills < 1 || *symbols < 1 || *rate < 0 {
		return usageErrorf("--fills and --symbols must be positive, --rate non-negative")
	}
	if errs := k.validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	cl, err := k.producer()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, kadm.NewClient(cl), k, log); err != nil {
		return err
	}
	g := loadgen.New(*symbols, *seed)
	var after *feed.ChainPos
	if *resume {
		pos, ok, err := feed.LastChainPos(ctx, kc, feed.DefaultTail)
		if err != nil {
			return fmt.Errorf("chain position already recorded: %w", err)
		}
		if ok {
			g.ResumeAfter(pos.Block, pos.LogIndex, pos.Timestamp)
			after = &pos
			if !out.asJSON {
				fmt.Fprintf(stdout, "continuing after block %d log %d (already on %s)\n", pos.Block, pos.LogIndex, topics.OnChainTradeCommands)
			}
		}
	}
	mark, err := feed.Snapshot(ctx, kc)
	if err != nil {
		return err
	}
	start := time.Now()
	produced, err := produceSynthetic(ctx, cl, g, *fills, *rate)
	if err != nil {
		return err
	}
	el := time.Since(start)
	rep, err := followFills(ctx, out, kc, mark, produced)
	if err != nil {
		return err
	}
	if out.asJSON {
		if err := writeJSON(stdout, struct {
			Produced     int            `json:"produced"`
			Symbols      int            `json:"symbols"`
			ResumedAfter *feed.ChainPos `json:"resumed_after,omitempty"`
			Seconds      float64        `json:"seconds"`
			FillsPerSec  float64        `json:"fills_per_second"`
			Outcome      *feed.Report   `json:"outcome,omitempty"`
		}{len(produced), *symbols, after, el.Seconds(), float64(len(produced)) / el.Seconds(), rep}); err != nil {
			return err
		}
		return outcomeErr(rep)
	}
	fmt.Fprintf(stdout, "produced %d fills over %d symbols in %s (%.0f fills/s)\n", len(produced), *symbols, el.Round(time.Millisecond), float64(len(produced))/el.Seconds())
	return printOutcome(stdout, rep)
}

// produceSynthetic produces n fills, paced to rate per second when rate > 0,
// and returns once all are acknowledged, with where each landed.
func produceSynthetic(ctx context.Context, cl *kgo.Client, g *loadgen.Generator, n, rate int) ([]feed.Produced, error) {
	var (
		mu       sync.Mutex
		produced = make([]feed.Produced, 0, n)
		firstErr error
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 {
			if due := start.Add(time.Duration(i) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Until(due)):
				}
			}
		}
		f := g.Next()
		id := f.TradeID.String()
		key, value, err := file.WitnessRecord(f, time.Now())
		if err != nil {
			return nil, err
		}
		cl.Produce(ctx, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value}, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("produce fill %s: %w", id, err)
				}
				return
			}
			produced = append(produced, feed.Produced{TradeID: id, Partition: r.Partition, Offset: r.Offset})
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return produced, firstErr
}
