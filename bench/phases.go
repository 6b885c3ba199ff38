package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/sources/loadgen"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// latency measures hedge latency at a light load and at half the
// throughput measured for LatencySymbols, with the Kafka round trip
// measured alongside (Ping). The same stack first gives the baselines of
// the cold start and of the memory: a restart with empty tables, and the
// peak RSS of an idle pipeline.
func (s *Suite) latency(ctx context.Context) error {
	st, err := s.newStack(ctx, s.cfg.Bin, "latency")
	if err != nil {
		return err
	}
	defer st.Remove()
	defer st.Close()
	// A first run creates the topics and groups, so the restart below is
	// a restart with empty tables, not a first start.
	if err := st.StartRun(ctx); err != nil {
		return err
	}
	if _, err := st.StopRun(); err != nil {
		return err
	}
	gen := loadgen.New(s.cfg.LatencySymbols, 7)
	w, err := WatchPnL(ctx, st.Brokers())
	if err != nil {
		return err
	}
	defer w.Close()
	ready, first, err := s.probeRestart(ctx, st, gen, w, 0)
	if err != nil {
		return fmt.Errorf("cold start, empty: %w", err)
	}
	s.res.coldEmpty = [2]time.Duration{ready, first}
	rss, _ := st.Run.PeakRSS()
	s.res.idleRSS = float64(rss)
	s.logf("cold start, empty tables: ready %s, first fill through %s; idle RSS %s", ms(ready), ms(first), mib(float64(rss)))

	cl, err := NewProducer(st.Brokers())
	if err != nil {
		return err
	}
	defer cl.Close()
	have := 1
	half := Median(s.res.e2e[scenario{s.cfg.Sizes[0], s.cfg.LatencySymbols}]) / 2
	if half == 0 {
		half = 1000
	}
	for i, r := range []int{s.cfg.LightRate, int(half)} {
		ping, err := StartPing(ctx, st.Brokers())
		if err != nil {
			return err
		}
		sent := NewSent()
		n := int(float64(r) * s.cfg.LatencyFor.Seconds())
		if err := Produce(ctx, cl, Load{Fills: n, Rate: r, Gen: gen}, sent); err != nil {
			return err
		}
		if _, err := w.WaitOnchain(ctx, have+n, 5*time.Minute); err != nil {
			return err
		}
		have += n
		// Give the last hedges time to reach the broker and be booked.
		var lat Latencies
		for deadline := time.Now().Add(15 * time.Second); ; {
			if lat, err = HedgeLatencies(ctx, st.Brokers(), st.Ledger(), sent); err != nil {
				return err
			}
			if (lat.NotAccepted == 0 && lat.NotBooked == 0) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		pings := ping.Stop()
		s.res.lat[i] = latencyResult{rate: r, lat: lat, ping: pings}
		p := func(ds []time.Duration) string {
			return fmt.Sprintf("p50 %s p99 %s max %s", ms(Percentile(ds, .5)), ms(Percentile(ds, .99)), ms(Percentile(ds, 1)))
		}
		s.logf("hedge latency at %d fills/s: %d hedges accepted %s, booked %s (not yet: %d, %d; untimed %d); of them %d fill-triggered: accepted %s, booked %s; kafka round trip p50 %s p99 %s",
			r, len(lat.AllAccepted), p(lat.AllAccepted), p(lat.AllBooked), lat.NotAccepted, lat.NotBooked, lat.Untimed,
			len(lat.Accepted), p(lat.Accepted), p(lat.Booked), ms(Percentile(pings, .5)), ms(Percentile(pings, .99)))
	}
	return nil
}

// probeRestart starts `hedgeline run` on st (stopped) and produces one new
// fill at once; it returns the time from process start to "ready" and to
// that fill's PnL record. have is how many fills went through before.
func (s *Suite) probeRestart(ctx context.Context, st *Stack, gen *loadgen.Generator, w *PnLWatcher, have int) (ready, first time.Duration, err error) {
	if _, err := w.WaitOnchain(ctx, have, 5*time.Minute); err != nil { // the watcher has read the past
		return 0, 0, err
	}
	cl, err := NewProducer(st.Brokers())
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	p, err := st.StartRunAsync()
	if err != nil {
		return 0, 0, err
	}
	if err := Produce(ctx, cl, Load{Fills: 1, Gen: gen}, nil); err != nil {
		return 0, 0, err
	}
	readyAt, err := p.WaitLog(ctx, "hedgeline ready", 5*time.Minute)
	if err != nil {
		return 0, 0, err
	}
	firstAt, err := w.WaitOnchain(ctx, have+1, 5*time.Minute)
	if err != nil {
		return 0, 0, err
	}
	return readyAt.Sub(p.Started), firstAt.Sub(p.Started), nil
}

// coldStart stops the kept large run (SIGTERM) and restarts it on the same
// state dir and broker; res.kept says what the run produced.
func (s *Suite) coldStart(ctx context.Context, st *Stack, res *results) error {
	events, err := endOffsets(ctx, st.Brokers(), eventTopics()...)
	if err != nil {
		return err
	}
	stopAt := time.Now()
	if _, err := st.StopRun(); err != nil {
		return err
	}
	stop := time.Since(stopAt)
	w, err := WatchPnL(ctx, st.Brokers())
	if err != nil {
		return err
	}
	defer w.Close()
	ready, first, err := s.probeRestart(ctx, st, res.kept.gen, w, res.kept.fills)
	if err != nil {
		return fmt.Errorf("cold start after %d fills: %w", res.kept.fills, err)
	}
	res.cold = coldResult{events: events, stop: stop, ready: ready, first: first}
	s.logf("cold start with %d events: stop %s, ready %s, first fill through %s", events, ms(stop), ms(ready), ms(first))
	return nil
}

func eventTopics() []string {
	var ts []string
	for _, c := range topics.Catalog(1, 1) {
		if c.Kind == topics.Events {
			ts = append(ts, c.Name)
		}
	}
	return ts
}

// replay rebuilds the ClickHouse views from the kept run's topics into
// fresh tables with fresh consumer groups, as `hedgeline replay` does
// (shadow tables), timed until the projectors have committed
// ReplayEvents records (all of them if the topics hold fewer). The
// baseline reads as many records with a plain franz-go consumer.
//
// For the binary under test (not a.base) the projectors then go on,
// untimed, to every topic's end, the shadows are swapped in as the live
// tables (so the database holds every fill of the run), and the REST API
// is timed over it (restAPI).
func (s *Suite) replay(ctx context.Context, st *Stack, a arm) error {
	res := a.res
	if _, err := st.StopRun(); err != nil {
		return err
	}
	ts := projectedTopics()
	ends, total, err := partitionEnds(ctx, st.Brokers(), ts...)
	if err != nil {
		return err
	}
	n := min(total, int64(s.cfg.ReplayEvents))
	// Baseline: a plain consumer reading the same topics, over the same
	// share of each (n of total records).
	start := time.Now()
	var read int64
	for _, t := range ts {
		if err := readTopicShare(ctx, st.Brokers(), t, float64(n)/float64(total), func(*kgo.Record) { read++ }); err != nil {
			return err
		}
	}
	readRate := float64(read) / time.Since(start).Seconds()
	db, err := s.ch.OpenDB(ctx, "bench_replay")
	if err != nil {
		return err
	}
	defer db.Close()
	start = time.Now()
	ps, err := StartProjectors(ctx, db, st.Brokers(), "bench-replay", "_replay")
	if err != nil {
		return err
	}
	err = ps.WaitCommitted(ctx, n, 10*time.Minute)
	el := time.Since(start)
	if err == nil {
		res.replay = replayResult{events: n, rate: float64(n) / el.Seconds(), read: readRate}
		s.logf("replay: %d of %d events in %s: %s (franz-go read %s)", n, total, ms(el), rate(res.replay.rate, "events/s"), rate(readRate, "rec/s"))
	}
	full := !a.base && !s.cfg.NoAPI
	if err == nil && full {
		// The rest, untimed, at the rate measured (and then some).
		rest := time.Now()
		err = ps.WaitCaughtUp(ctx, ends, 5*time.Minute+time.Duration(float64(total-n)/max(res.replay.rate/4, 1000)*float64(time.Second)))
		if err == nil && total > n {
			s.logf("replay: the other %d events projected in %s (untimed)", total-n, ms(time.Since(rest)))
		}
	}
	if serr := ps.Stop(); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if !full {
		return nil
	}
	if err := sinks.SwapShadow(ctx, db, "_replay", sinks.ViewNames()); err != nil {
		return fmt.Errorf("replay: swap the shadows in: %w", err)
	}
	return s.restAPI(ctx, db, res.kept.fills, res)
}

// waitRows waits until metrics_pnl shows n on-chain fills.
func waitRows(ctx context.Context, db *sinks.DB, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := onchainRows(ctx, db)
		if err == nil && got >= uint64(n) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("metrics_pnl: %d of %d on-chain rows after %s (%v)", got, n, timeout, err)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// profile runs sc once more with --pprof and saves a CPU profile of the
// middle of the run, a heap profile at its end, and `go tool pprof -top`
// of both. It is not part of the table: profiling costs throughput.
func (s *Suite) profile(ctx context.Context, sc scenario) error {
	dir := s.cfg.ProfileDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	st, err := s.newStack(ctx, s.cfg.Bin, "profile")
	if err != nil {
		return err
	}
	defer st.Remove()
	defer st.Close()
	port, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := st.StartRun(ctx, "--pprof", addr); err != nil {
		return err
	}
	w, err := WatchPnL(ctx, st.Brokers())
	if err != nil {
		return err
	}
	defer w.Close()
	cl, err := NewProducer(st.Brokers())
	if err != nil {
		return err
	}
	defer cl.Close()
	go func() { _ = Produce(ctx, cl, Load{Fills: sc.fills, Symbols: sc.symbols, Seed: 1}, nil) }()
	// Skip the first second (start-up), then sample for most of the run.
	secs := 10
	if est := Median(s.res.e2e[sc]); est > 0 {
		secs = max(3, min(30, int(float64(sc.fills)/est*0.7)))
	}
	time.Sleep(time.Second)
	cpu := filepath.Join(dir, "cpu.pprof")
	if err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), cpu); err != nil {
		return err
	}
	if _, err := w.WaitOnchain(ctx, sc.fills, 10*time.Minute); err != nil {
		return err
	}
	heap := filepath.Join(dir, "heap.pprof")
	if err := fetch(ctx, "http://"+addr+"/debug/pprof/heap", heap); err != nil {
		return err
	}
	for _, p := range [][]string{{"cpu.top", "-top", "-nodecount=40", cpu}, {"cpu-cum.top", "-top", "-cum", "-nodecount=60", cpu},
		{"heap.top", "-top", "-sample_index=inuse_space", "-nodecount=25", heap}} {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, append(p[1:len(p)-1], s.cfg.Bin, p[len(p)-1])...)...).Output()
		if err != nil {
			return fmt.Errorf("go tool pprof %v: %w", p, err)
		}
		if err := os.WriteFile(filepath.Join(dir, p[0]), out, 0o644); err != nil {
			return err
		}
	}
	s.logf("profiles of %s written to %s (cpu.top, cpu-cum.top, heap.top)", sc, dir)
	return nil
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
