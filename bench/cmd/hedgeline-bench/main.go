// Command hedgeline-bench runs the benchmark suite (package bench) against
// a built hedgeline binary and prints one table. `make bench` runs it.
//
//	go run ./bench/cmd/hedgeline-bench --bin bin/hedgeline [--baseline-bin bin/hedgeline-baseline] [--quick] [--out FILE] [--profile DIR]
//
// The goal scenario alone, with its cold start, replay and REST API phase:
//
//	go run ./bench/cmd/hedgeline-bench --sizes 1000000 --symbols 1000 --clickhouse-runs 0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hedgeline/hedgeline/bench"
)

func main() {
	bin := flag.String("bin", "bin/hedgeline", "the hedgeline binary to measure (make build)")
	baseline := flag.String("baseline-bin", "", "an earlier build: also measure its goal figures (interleaved) for the Goals table")
	dir := flag.String("dir", "", "scratch directory (default: a new temporary directory, removed afterwards)")
	quick := flag.Bool("quick", false, "tiny sizes: a smoke test of the harness")
	out := flag.String("out", "", "also write the table (Markdown) to this file")
	profile := flag.String("profile", "", "also run one profiled run and write pprof files and `go tool pprof -top` output here")
	noCH := flag.Bool("no-clickhouse", false, "skip everything that needs ClickHouse")
	chRuns := flag.Int("clickhouse-runs", 1, "runs of the smallest size with 1000 symbols that also project into ClickHouse (0: none; the replay and REST API phases still run)")
	noAPI := flag.Bool("no-api", false, "skip the REST API phase (hedgeline serve over the goal run's replayed database)")
	sizes := flag.String("sizes", "", "fills per end-to-end run, comma-separated (default 100000,1000000)")
	symbols := flag.String("symbols", "", "symbol counts, comma-separated (default 10,1000)")
	repeats := flag.Int("repeats", 0, "repeats of every size (default: 3 for 100k, 1 for 1M)")
	e2eOnly := flag.Bool("e2e-only", false, "only the limits and end-to-end runs (no latency, cold start, replay)")
	window := flag.Int("window", -1, "fills in flight in end-to-end runs (0: flat out; default 10000)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tweak := func(c *bench.Config) error {
		var err error
		if *sizes != "" {
			if c.Sizes, err = ints(*sizes); err != nil {
				return err
			}
		}
		if *symbols != "" {
			if c.Symbols, err = ints(*symbols); err != nil {
				return err
			}
		}
		if *repeats > 0 {
			c.Repeats = map[int]int{}
			for _, n := range c.Sizes {
				c.Repeats[n] = *repeats
			}
		}
		c.ClickHouseRuns = max(0, *chRuns)
		if *noCH {
			c.ClickHouse, c.ClickHouseRuns = false, 0
		}
		c.NoAPI = *noAPI
		c.E2EOnly = *e2eOnly
		if *window >= 0 {
			c.Window = *window
		}
		c.ProfileDir = *profile
		if *baseline != "" {
			if c.BaselineBin, err = filepath.Abs(*baseline); err != nil {
				return err
			}
			if _, err := os.Stat(c.BaselineBin); err != nil {
				return fmt.Errorf("--baseline-bin: %w", err)
			}
		}
		return nil
	}
	if err := run(ctx, *bin, *dir, *quick, *out, tweak); err != nil {
		fmt.Fprintln(os.Stderr, "hedgeline-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, dir string, quick bool, out string, tweak func(*bench.Config) error) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "hedgeline-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := bench.DefaultConfig(bin, dir)
	if quick {
		cfg = bench.QuickConfig(bin, dir)
	}
	if err := tweak(&cfg); err != nil {
		return err
	}
	start := time.Now()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var b strings.Builder
	bench.Table(&b, rep.Rows)
	b.WriteString("\nGoals (issue 12)\n\n")
	bench.GoalTable(&b, rep.Goals)
	if len(rep.API.Rows) > 0 {
		fmt.Fprintf(&b, "\n%s (issue 14)\n\n%s.\n\n", rep.API.Title, rep.API.Database)
		bench.APITable(&b, rep.API.Rows)
	}
	fmt.Fprintf(&b, "\n%d CPUs, %s, %s; suite wall time %s\n", runtime.NumCPU(), runtime.Version(),
		time.Now().UTC().Format("2006-01-02 15:04 MST"), time.Since(start).Round(time.Second))
	fmt.Print(b.String())
	if out != "" {
		return os.WriteFile(out, []byte(b.String()), 0o644)
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}
