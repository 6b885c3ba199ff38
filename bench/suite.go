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

// Config sizes the suite. The defaults fit `make bench` (with a baseline
// binary) into ~25 minutes on a 2-core machine; repeats per size are what
// that budget allows.
type Config struct {
	Bin string // the hedgeline binary under test
	// BaselineBin, if set, is an earlier build whose goal figures (the
	// largest scenario with the last symbol count: e2e, CPU, RSS, cold
	// start, replay) are measured too, each of its runs right before the
	// same run of Bin, for the Goals table.
	BaselineBin string
	Dir         string // scratch space for brokers, state and ClickHouse
	Log         io.Writer

	// Scenarios: every size with every symbol count, Repeats[size] times.
	Sizes   []int
	Symbols []int
	Repeats map[int]int
	// ClickHouse starts the engine: the replay and the REST API phase need
	// it, and the runs that project into it.
	ClickHouse bool
	// ClickHouseRuns is how many runs of the smallest size with each of
	// ClickHouseSymbols also project into ClickHouse.
	ClickHouseRuns    int
	ClickHouseSymbols []int
	// ReplayEvents caps the events the replay is timed over.
	ReplayEvents int
	// NoAPI skips the REST API phase (and the untimed rest of the replay
	// it needs).
	NoAPI bool

	FranzRecords, GokaRecords, LimitRecordSize int
	// RealisticRecords is the input of the realistic goka limit (a
	// RealisticRecord-byte record per key, one RealisticEmit-byte emit).
	RealisticRecords int
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
		Repeats:    map[int]int{100_000: 3, 1_000_000: 1},
		ClickHouse: true, ClickHouseRuns: 1, ClickHouseSymbols: []int{1000}, ReplayEvents: 1_000_000,
		FranzRecords: 500_000, GokaRecords: 200_000, LimitRecordSize: 200, RealisticRecords: 100_000,
		Window:    10_000,
		LightRate: 100, LatencyFor: 10 * time.Second, LatencySymbols: 1000,
	}
}

// QuickConfig is a smoke test of the harness (about a minute).
func QuickConfig(bin, dir string) Config {
	c := DefaultConfig(bin, dir)
	c.Sizes, c.Repeats = []int{5000, 20000}, map[int]int{5000: 2, 20000: 1}
	c.FranzRecords, c.GokaRecords, c.RealisticRecords = 100_000, 20_000, 20_000
	c.LatencyFor = 5 * time.Second
	// A window small enough for steady spans in a 20k run (cpuOf).
	c.Window = 2000
	return c
}

// Suite runs the scenarios and collects the table.
type Suite struct {
	cfg    Config
	stacks int
	ch     *ClickHouse
	res    *results // of Bin
	base   *results // of BaselineBin, goal figures only
}

// arm is the binary a run measures and where its figures go.
type arm struct {
	bin  string
	res  *results
	base bool // the baseline binary: goal figures only
}

func (s *Suite) main() arm { return arm{bin: s.cfg.Bin, res: s.res} }

// kept is what the cold start needs of the kept run: the generator, to
// produce a trade that is new, and how many fills went through.
type kept struct {
	gen   *loadgen.Generator
	fills int
}

// Report is what the suite measured: the results table, the Goals
// table of issue 12 (with the baseline binary's column if one was given),
// and the REST API over the goal run's database (issue 14).
type Report struct {
	Rows  []Row
	Goals []GoalRow
	API   APIReport
}

// Run runs every scenario and returns the tables.
func Run(ctx context.Context, cfg Config) (Report, error) {
	s := &Suite{cfg: cfg, res: newResults(), base: newResults()}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return Report{}, err
	}
	begin := time.Now()
	if cfg.ClickHouse && (cfg.ClickHouseRuns > 0 || !cfg.E2EOnly) {
		s.logf("starting ClickHouse (the first start on a machine fetches libchdb)")
		ch, err := StartClickHouse(ctx, cfg.Bin, filepath.Join(cfg.Dir, "clickhouse"))
		if err != nil {
			return Report{}, fmt.Errorf("clickhouse: %w", err)
		}
		s.ch = ch
		defer ch.Close()
	}
	goal := s.goalScenario()
	for _, n := range cfg.Sizes {
		for _, sym := range cfg.Symbols {
			sc := scenario{fills: n, symbols: sym}
			reps := max(1, cfg.Repeats[n])
			for r := 0; r < reps; r++ {
				if err := s.limits(ctx, sc); err != nil {
					return Report{}, err
				}
				// The kept run (the goal scenario's last) also gives the
				// cold start and the replay; the baseline binary runs the
				// goal scenario right before the binary under test.
				last := !cfg.E2EOnly && sc == goal && r == reps-1
				if cfg.BaselineBin != "" && sc == goal {
					if err := s.measured(ctx, arm{bin: cfg.BaselineBin, res: s.base, base: true}, sc, last); err != nil {
						return Report{}, fmt.Errorf("baseline binary: %w", err)
					}
				}
				if err := s.measured(ctx, s.main(), sc, last); err != nil {
					return Report{}, err
				}
			}
			// Close the bracket: limit, run, limit, run, ..., limit.
			if err := s.limits(ctx, sc); err != nil {
				return Report{}, err
			}
			if n == cfg.Sizes[0] && slices.Contains(cfg.ClickHouseSymbols, sym) {
				// No limit run here: this row's baseline is the same run's
				// time to pnl.events.
				for r := 0; r < cfg.ClickHouseRuns; r++ {
					if _, err := s.pipeline(ctx, s.main(), sc, true, false); err != nil {
						return Report{}, err
					}
				}
			}
		}
	}
	if !cfg.E2EOnly {
		if err := s.latency(ctx); err != nil {
			return Report{}, err
		}
	}
	if cfg.ProfileDir != "" {
		if err := s.profile(ctx, scenario{fills: cfg.Sizes[0], symbols: cfg.Symbols[0]}); err != nil {
			return Report{}, err
		}
	}
	s.logf("suite done in %s", time.Since(begin).Round(time.Second))
	return Report{Rows: s.res.rows(cfg), Goals: goalRows(goal, s.res, s.base, cfg.BaselineBin != ""), API: s.res.apiReport()}, nil
}

// goalScenario is the scenario the Goals table reads: the largest size
// with the last symbol count (1M x 1000 in `make bench`).
func (s *Suite) goalScenario() scenario {
	return scenario{fills: s.cfg.Sizes[len(s.cfg.Sizes)-1], symbols: s.cfg.Symbols[len(s.cfg.Symbols)-1]}
}

// measured is one end-to-end run of sc by a's binary; with keep, the cold
// start and the replay follow on its stack right away (its pipeline idle,
// nothing else running), and the stack is gone before anything else runs.
func (s *Suite) measured(ctx context.Context, a arm, sc scenario, keep bool) error {
	st, err := s.pipeline(ctx, a, sc, false, keep)
	if err != nil || st == nil {
		return err
	}
	defer st.Remove()
	defer st.Close()
	if err := s.coldStart(ctx, st, a.res); err != nil {
		return err
	}
	if s.ch != nil {
		return s.replay(ctx, st, a)
	}
	return nil
}

func (s *Suite) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (s *Suite) newStack(ctx context.Context, bin, name string) (*Stack, error) {
	s.stacks++
	return NewStack(ctx, bin, filepath.Join(s.cfg.Dir, fmt.Sprintf("%02d-%s", s.stacks, name)))
}

// stageInputs are the topics the pipeline's goka stages consume (one each:
// the fused stages of issue 12 run the managers inside the aggregates, so
// no stage reads an events topic): their records per fill turn fills/s
// into stage messages/s, comparable to the goka limits.
var stageInputs = []string{
	topics.OnChainTradeCommands, topics.PositionCommands, topics.OffchainOrderCommands, topics.BrokerAuthCommands,
}

type scenario struct{ fills, symbols int }

func (sc scenario) String() string {
	return fmt.Sprintf("%s fills, %d symbols", size(sc.fills), sc.symbols)
}

// limits measures both baselines on a fresh broker, right before a
// pipeline run of sc, and files them under sc.
func (s *Suite) limits(ctx context.Context, sc scenario) error {
	st, err := s.newStack(ctx, s.cfg.Bin, "limit")
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
	gr, err := GokaRealisticLimit(ctx, st.Brokers(), filepath.Join(st.Dir, "goka-realistic"), s.cfg.RealisticRecords, s.cfg.LimitRecordSize)
	if err != nil {
		return fmt.Errorf("realistic goka limit: %w", err)
	}
	s.res.franz[sc] = append(s.res.franz[sc], fr)
	s.res.goka[sc] = append(s.res.goka[sc], gk)
	s.res.gokaReal[sc] = append(s.res.gokaReal[sc], gr)
	s.logf("limit: franz-go %s, goka %s, goka realistic %s", rate(fr, "rec/s"), rate(gk, "msg/s"), rate(gr, "msg/s"))
	return nil
}

// pipeline is one end-to-end run of sc by a's binary on a fresh stack:
// produce the fills in a closed loop, time until the last one's PnL record
// is out (and, with toCH, until ClickHouse shows its metrics_pnl row),
// sampling the CPU of `run`, of `broker` and of the harness meanwhile. With
// keep, the stack is returned running (else nil, removed) and the cold start
// knows its generator and fills.
func (s *Suite) pipeline(ctx context.Context, a arm, sc scenario, toCH, keep bool) (*Stack, error) {
	name := fmt.Sprintf("e2e-%s-%d", size(sc.fills), sc.symbols)
	if a.base {
		name += "-baseline"
	}
	st, err := s.newStack(ctx, a.bin, name)
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
	perr := make(chan error, 1)
	gen := loadgen.New(sc.symbols, 1)
	done := func() int { on, _ := w.Counts(); return on }
	cpu := StartCPUSampler(ctx, st, done, 50*time.Millisecond)
	start := time.Now()
	go func() {
		perr <- Produce(ctx, cl, Load{Fills: sc.fills, Gen: gen, Window: s.cfg.Window, Done: done}, nil)
	}()
	at, err := w.WaitOnchain(ctx, sc.fills, time.Duration(sc.fills)*time.Second/200+time.Minute)
	samples := cpu.Stop(sc.fills)
	if err != nil {
		return nil, err
	}
	if err := <-perr; err != nil {
		return nil, err
	}
	fps := float64(sc.fills) / at.Sub(start).Seconds()
	res := a.res
	if toCH {
		chAt, err := waitRows(ctx, db, sc.fills, time.Duration(sc.fills)*time.Second/100+time.Minute)
		if err != nil {
			return nil, err
		}
		chFps := float64(sc.fills) / chAt.Sub(start).Seconds()
		res.chE2E[sc] = append(res.chE2E[sc], chFps)
		res.chPnl[sc] = append(res.chPnl[sc], fps)
		s.logf("e2e+clickhouse %s: %s to pnl.events, %s to metrics_pnl", sc, rate(fps, "fills/s"), rate(chFps, "fills/s"))
		return nil, nil
	}
	rss, _ := st.Run.PeakRSS()
	c := cpuOf(samples, sc.fills, s.cfg.Window)
	if !a.base {
		// The stage inputs of the binary under test (the baseline's
		// topology differs), and its hedging.
		if in, err := endOffsets(ctx, st.Brokers(), stageInputs...); err == nil {
			res.perFill[sc] = append(res.perFill[sc], float64(in)/float64(sc.fills))
		}
		if hs, err := readHedgeStats(ctx, st.Brokers()); err == nil {
			res.hedges[sc] = append(res.hedges[sc], hs)
			s.logf("hedging %s: %d hedges filled, longest pending %s, longest over threshold %s (%s), over threshold with no hedge pending %s",
				sc, hs.Hedges, ms(hs.LongestPending), ms(hs.LongestOver), hs.Symbol, ms(hs.LongestOverIdle))
		} else {
			s.logf("hedging %s: %v", sc, err)
		}
	}
	res.e2e[sc] = append(res.e2e[sc], fps)
	res.rss[sc] = append(res.rss[sc], float64(rss))
	res.cpu[sc] = append(res.cpu[sc], c)
	who := ""
	if a.base {
		who = " (baseline binary)"
	}
	s.logf("e2e %s%s: %s in %s, peak RSS %s; CPU per fill: run %s, broker %s, harness %s; run at fills %s %s, at %s %s",
		sc, who, rate(fps, "fills/s"), ms(at.Sub(start)), mib(float64(rss)), us(c.run), us(c.broker), us(c.self),
		spanName(c.early), us(c.first10), spanName(c.late), us(c.last10))
	if !keep {
		return nil, nil
	}
	ok = true
	res.kept = kept{gen: gen, fills: sc.fills}
	return st, nil
}

// cpuResult is one run's CPU per fill (µs): of `run`, `broker` and the
// harness over the whole run, and of `run` over an early and a late tenth
// of the fills (0 if the samples do not tell), spans in fills through.
type cpuResult struct {
	run, broker, self float64
	first10, last10   float64
	early, late       [2]int
}

// cpuOf reads a run's samples. The early and late spans are a tenth of
// the fills each, steady state only: with a window of W fills in flight,
// the first W fills through paid for the ramp (CPU spent on fills not yet
// through) and the last W for nothing new (the drain), so the spans are
// [W, W+N/10] and [N-W-N/10, N-W]: for 1M fills and a 10k window,
// 10k-110k against 880k-980k. A run too short for both spans has none.
func cpuOf(samples []cpuSample, fills, window int) cpuResult {
	var c cpuResult
	if len(samples) >= 2 {
		c.run, c.broker, c.self = samples[len(samples)-1].sub(samples[0]).perFill()
	}
	tenth := fills / 10
	c.early, c.late = [2]int{window, window + tenth}, [2]int{fills - window - tenth, fills - window}
	if tenth == 0 || c.early[1] > c.late[0] {
		c.early, c.late = [2]int{}, [2]int{}
		return c
	}
	c.first10, _ = spanCPU(samples, c.early[0], c.early[1])
	c.last10, _ = spanCPU(samples, c.late[0], c.late[1])
	return c
}

func spanName(s [2]int) string {
	if s[1] == 0 {
		return "(run too short)"
	}
	return size(s[0]) + "-" + size(s[1])
}
