package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

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
	if err := parse(fs, args); err != nil {
		return err
	}
	if *fills < 1 || *symbols < 1 || *rate < 0 {
		return usageErrorf("--fills and --symbols must be positive, --rate non-negative")
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(topics.ClientOpts(k.list()), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, kadm.NewClient(cl), k, log); err != nil {
		return err
	}
	start := time.Now()
	n, err := produceSynthetic(ctx, cl, loadgen.New(*symbols, *seed), *fills, *rate)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "produced %d fills over %d symbols in %s (%.0f fills/s)\n", n, *symbols, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}

// produceSynthetic produces n fills, paced to rate per second when rate > 0,
// and returns once all are acknowledged.
func produceSynthetic(ctx context.Context, cl *kgo.Client, g *loadgen.Generator, n, rate int) (int, error) {
	var firstErr error
	errc := make(chan error, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 {
			if due := start.Add(time.Duration(i) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
				select {
				case <-ctx.Done():
					return i, ctx.Err()
				case <-time.After(time.Until(due)):
				}
			}
		}
		key, value, err := file.WitnessRecord(g.Next(), time.Now())
		if err != nil {
			return i, err
		}
		cl.Produce(ctx, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	select {
	case firstErr = <-errc:
	default:
	}
	return n, firstErr
}
