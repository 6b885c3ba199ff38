package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/sources/loadgen"
	"github.com/hedgeline/hedgeline/topics"
)

// Config sizes the suite. The defaults fit `make bench` into 15 minutes on
// a 2-core machine; repeats per size are what that budget allows.
type Config struct {
	Bin string // the hedgeline binary under test
	Dir string // scratch space for brokers, state and ClickHouse
	Log io.Writer

	// Scenarios: every size with every symbol count, Repeats[size] times.
	Sizes   []int
	Symbols []int
	Repeats map[int]int
	// ClickHouseRuns is how many runs of the smallest size with each of
	// ClickHouseSymbols also project into ClickHouse (0: no ClickHouse).
	ClickHouseRuns    int
	ClickHouseSymbols []int
	// ReplayEvents caps the events the replay is timed over.
	ReplayEvents int

	FranzRecords, GokaRecords, LimitRecordSize int
	// Window bounds the fills in flight in an end-to-end run (Load.Window);
	// 0 produces flat out.
	Window int

	LightRate      int           // fills/s of the light latency load
	LatencyFor     time.Duration // duration of each latency load
	LatencySymbols int

	ProfileDir string // if set: one extra, unmeasured, profiled run of the smallest scenario
	// E2EOnly skips the latency, cold start and replay phases.
	E2EOnly bool
}

// DefaultConfig is what `make bench` runs.
func DefaultConfig(bin, dir string) Config {
	return Config{
		Bin: bin, Dir: dir, Log: os.Stderr,
		Sizes: []int{100_000, 1_000_000}, Symbols: []int{10, 1000},
		Repeats:        map[int]int{100_000: 3, 1_000_000: 1},
		ClickHouseRuns: 1, ClickHouseSymbols: []int{1000}, ReplayEvents: 1_000_000,
		FranzRecords: 500_000, GokaRecords: 200_000, LimitRecordSize: 200,
		Window:    10_000,
		LightRate: 100, LatencyFor: 10 * time.Second, LatencySymbols: 1000,
	}
}

// QuickConfig is a smoke test of the harness (about a minute).
func QuickConfig(bin, dir string) Config {
	c := DefaultConfig(bin, dir)
	c.Sizes, c.Repeats = []int{5000, 20000}, map[int]int{5000: 2, 20000: 1}
	c.FranzRecords, c.GokaRecords = 100_000, 20_000
	c.LatencyFor = 5 * time.Second
	return c
}

// Suite runs the scenarios and collects the table.
type Suite struct {
	cfg    Config
	stacks int
	ch     *ClickHouse
	res    results
	kept   kept
}

// kept is what the cold start needs of the kept run: the generator, to
// produce a trade that is new, and how many fills went through.
type kept struct {
	gen   *loadgen.Generator
	fills int
}

// Run runs every scenario and returns the table rows.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	s := &Suite{cfg: cfg, res: newResults()}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	begin := time.Now()
	if cfg.ClickHouseRuns > 0 {
		s.logf("starting ClickHouse (the first start on a machine fetches libchdb)")
		ch, err := StartClickHouse(ctx, cfg.Bin, filepath.Join(cfg.Dir, "clickhouse"))
		if err != nil {
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
		s.ch = ch
		defer ch.Close()
	}
	var keep *Stack // the last large run's stack: cold start and replay
	defer func() {
		if keep != nil { // an error on the way: stop its processes
			keep.Close()
			keep.Remove()
		}
	}()
	largest := cfg.Sizes[len(cfg.Sizes)-1]
	for _, n := range cfg.Sizes {
		for _, sym := range cfg.Symbols {
			sc := scenario{fills: n, symbols: sym}
			reps := max(1, cfg.Repeats[n])
			for r := 0; r < reps; r++ {
				if err := s.limits(ctx, sc); err != nil {
					return nil, err
				}
				last := !cfg.E2EOnly && n == largest && sym == cfg.Symbols[len(cfg.Symbols)-1] && r == reps-1
				st, err := s.pipeline(ctx, sc, false, last)
				if err != nil {
					return nil, err
				}
				if last {
					keep = st
				}
			}
			// Close the bracket: limit, run, limit, run, ..., limit.
			if err := s.limits(ctx, sc); err != nil {
				return nil, err
			}
			if n == cfg.Sizes[0] && slices.Contains(cfg.ClickHouseSymbols, sym) {
				// No limit run here: this row's baseline is the same run's
				// time to pnl.events.
				for r := 0; r < cfg.ClickHouseRuns; r++ {
					if _, err := s.pipeline(ctx, sc, true, false); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	// Right after the large run (its pipeline idles meanwhile, nothing else
	// runs), then gone before the latency stack starts.
	if keep != nil {
		err := s.coldStart(ctx, keep)
		if err == nil && s.ch != nil {
			err = s.replay(ctx, keep)
		}
		keep.Close()
		keep.Remove()
		keep = nil
		if err != nil {
			return nil, err
		}
	}
	if !cfg.E2EOnly {
		if err := s.latency(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.ProfileDir != "" {
		if err := s.profile(ctx, scenario{fills: cfg.Sizes[0], symbols: cfg.Symbols[0]}); err != nil {
			return nil, err
		}
	}
	s.logf("suite done in %s", time.Since(begin).Round(time.Second))
	return s.res.rows(cfg), nil
}

func (s *Suite) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (s *Suite) newStack(ctx context.Context, name string) (*Stack, error) {
	s.stacks++
	return NewStack(ctx, s.cfg.Bin, filepath.Join(s.cfg.Dir, fmt.Sprintf("%02d-%s", s.stacks, name)))
}

// stageInputs are the topics the pipeline's goka stages consume: their
// records per fill turn fills/s into stage messages/s, comparable to the
// goka limit.
var stageInputs = []string{
	topics.OnChainTradeCommands, topics.OnChainTradeEvents, topics.PositionCommands,
	topics.PositionEvents, topics.OffchainOrderCommands, topics.OffchainOrderEvents,
}

type scenario struct{ fills, symbols int }

func (sc scenario) String() string {
	return fmt.Sprintf("%s fills, %d symbols", size(sc.fills), sc.symbols)
}

// limits measures both baselines on a fresh broker, right before a
// pipeline run of sc, and files them under sc.
func (s *Suite) limits(ctx context.Context, sc scenario) error {
	st, err := s.newStack(ctx, "limit")
	if err != nil {
		return err
	}
	defer st.Remove()
	defer st.Close()
	fr, err := FranzLimit(ctx, st.Brokers(), s.cfg.FranzRecords, s.cfg.LimitRecordSize)
	if err != nil {
		return fmt.Errorf("franz-go limit: %w", err)
	}
	gk, err := GokaLimit(ctx, st.Brokers(), filepath.Join(st.Dir, "goka"), s.cfg.GokaRecords, s.cfg.LimitRecordSize)
	if err != nil {
		return fmt.Errorf("goka limit: %w", err)
	}
	s.res.franz[sc] = append(s.res.franz[sc], fr)
	s.res.goka[sc] = append(s.res.goka[sc], gk)
	s.logf("limit: franz-go %s, goka %s", rate(fr, "rec/s"), rate(gk, "msg/s"))
	return nil
}

// pipeline is one end-to-end run of sc on a fresh stack: produce the
// fills flat out, time until the last one's PnL record is out (and, with
// toCH, until ClickHouse shows its metrics_pnl row). With keep, the stack
// is returned running instead of being removed.
func (s *Suite) pipeline(ctx context.Context, sc scenario, toCH, keep bool) (*Stack, error) {
	st, err := s.newStack(ctx, fmt.Sprintf("e2e-%s-%d", size(sc.fills), sc.symbols))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok || !keep {
			st.Close()
			st.Remove()
		}
	}()
	if err := st.StartRun(ctx); err != nil {
		return nil, err
	}
	w, err := WatchPnL(ctx, st.Brokers())
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var db *sinks.DB
	if toCH {
		// A database of its own per run: fresh tables, fresh groups.
		if db, err = s.ch.OpenDB(ctx, fmt.Sprintf("bench_%d", s.stacks)); err != nil {
			return nil, err
		}
		defer db.Close()
		ps, err := StartProjectors(ctx, db, st.Brokers(), "bench", "")
		if err != nil {
			return nil, err
		}
		defer ps.Stop() // before db.Close
	}
	cl, err := NewProducer(st.Brokers())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	start := time.Now()
	perr := make(chan error, 1)
	gen := loadgen.New(sc.symbols, 1)
	done := func() int { on, _ := w.Counts(); return on }
	go func() {
		perr <- Produce(ctx, cl, Load{Fills: sc.fills, Gen: gen, Window: s.cfg.Window, Done: done}, nil)
	}()
	at, err := w.WaitOnchain(ctx, sc.fills, time.Duration(sc.fills)*time.Second/200+time.Minute)
	if err != nil {
		return nil, err
	}
	if err := <-perr; err != nil {
		return nil, err
	}
	fps := float64(sc.fills) / at.Sub(start).Seconds()
	if toCH {
		chAt, err := waitRows(ctx, db, sc.fills, time.Duration(sc.fills)*time.Second/100+time.Minute)
		if err != nil {
			return nil, err
		}
		chFps := float64(sc.fills) / chAt.Sub(start).Seconds()
		s.res.chE2E[sc] = append(s.res.chE2E[sc], chFps)
		s.res.chPnl[sc] = append(s.res.chPnl[sc], fps)
		s.logf("e2e+clickhouse %s: %s to pnl.events, %s to metrics_pnl", sc, rate(fps, "fills/s"), rate(chFps, "fills/s"))
		return nil, nil
	}
	rss, _ := st.Run.PeakRSS()
	if in, err := endOffsets(ctx, st.Brokers(), stageInputs...); err == nil {
		// position.events has two consumers (pnl, order placer).
		pe, _ := endOffsets(ctx, st.Brokers(), topics.PositionEvents)
		s.res.perFill[sc] = append(s.res.perFill[sc], float64(in+pe)/float64(sc.fills))
	}
	if hs, err := readHedgeStats(ctx, st.Brokers()); err == nil {
		s.res.hedges[sc] = append(s.res.hedges[sc], hs)
		s.logf("hedging %s: %d hedges filled, longest pending %s, longest over threshold %s (%s), over threshold with no hedge pending %s",
			sc, hs.Hedges, ms(hs.LongestPending), ms(hs.LongestOver), hs.Symbol, ms(hs.LongestOverIdle))
	} else {
		s.logf("hedging %s: %v", sc, err)
	}
	s.res.e2e[sc] = append(s.res.e2e[sc], fps)
	s.res.rss[sc] = append(s.res.rss[sc], float64(rss))
	s.logf("e2e %s: %s in %s, peak RSS %s", sc, rate(fps, "fills/s"), ms(at.Sub(start)), mib(float64(rss)))
	ok = true
	if keep {
		s.kept = kept{gen: gen, fills: sc.fills}
	}
	return st, nil
}
