package bench

import (
	"fmt"
	"time"
)

// results collects the samples of every scenario; rows turns them into
// the table (medians, ratios to the baselines of the same runs).
type results struct {
	franz, goka  map[scenario][]float64 // baselines measured right before each run of scenario
	gokaReal     map[scenario][]float64 // the realistic goka limit, likewise
	cpu          map[scenario][]cpuResult
	e2e, rss     map[scenario][]float64
	perFill      map[scenario][]float64 // stage inputs per fill
	chE2E, chPnl map[scenario][]float64 // runs that also project into ClickHouse
	hedges       map[scenario][]HedgeStats

	lat       [2]latencyResult
	coldEmpty [2]time.Duration // ready, first fill: restart with empty tables
	idleRSS   float64
	cold      coldResult
	replay    replayResult
	api       apiRun // the REST API over the goal run's database
	kept      kept   // of the run the cold start restarts
}

type latencyResult struct {
	rate int
	lat  Latencies
	ping []time.Duration
}

type coldResult struct {
	events             int64
	stop, ready, first time.Duration
}

type replayResult struct {
	events     int64
	rate, read float64
}

func newResults() *results {
	m := func() map[scenario][]float64 { return map[scenario][]float64{} }
	return &results{franz: m(), goka: m(), gokaReal: m(), cpu: map[scenario][]cpuResult{}, e2e: m(), rss: m(), chE2E: m(), chPnl: m(), perFill: m(),
		hedges: map[scenario][]HedgeStats{}}
}

func (r *results) rows(cfg Config) []Row {
	var rows []Row
	var allF, allG, allR []float64
	var scs []scenario
	for _, n := range cfg.Sizes {
		for _, s := range cfg.Symbols {
			sc := scenario{n, s}
			scs = append(scs, sc)
			allF = append(allF, r.franz[sc]...)
			allG = append(allG, r.goka[sc]...)
			allR = append(allR, r.gokaReal[sc]...)
		}
	}
	rows = append(rows,
		Row{fmt.Sprintf("limit: franz-go produce+consume, %d B records", cfg.LimitRecordSize), fmt.Sprint(len(allF)),
			rate(Median(allF), "rec/s"), "-", "-"},
		Row{"limit: one goka processor, LevelDB group table, 8 B counter per key (bare)", fmt.Sprint(len(allG)), rate(Median(allG), "msg/s"), "-", "-"},
		Row{fmt.Sprintf("limit: one goka processor, LevelDB group table, %d B record per key + one %d B emit per msg (realistic)", RealisticRecord, RealisticEmit),
			fmt.Sprint(len(allR)), rate(Median(allR), "msg/s"), "-", "-"})
	for _, sc := range scs {
		e, g, gr, f := Median(r.e2e[sc]), Median(r.goka[sc]), Median(r.gokaReal[sc]), Median(r.franz[sc])
		if len(r.e2e[sc]) == 0 {
			continue
		}
		per := Median(r.perFill[sc])
		rows = append(rows, Row{
			fmt.Sprintf("e2e %s: Witness produced -> PnL record out", sc), fmt.Sprint(len(r.e2e[sc])),
			fmt.Sprintf("%s (x %.1f stage msgs = %s)", rate(e, "fills/s"), per, rate(e*per, "msg/s")),
			fmt.Sprintf("goka bare %s, goka realistic %s, franz-go %s", rate(g, "msg/s"), rate(gr, "msg/s"), rate(f, "rec/s")),
			fmt.Sprintf("%s of bare goka, %s of realistic goka (msgs), %s of franz-go (fills)", pct(e*per, g), pct(e*per, gr), pct(e, f))})
	}
	for _, sc := range scs {
		cs := r.cpu[sc]
		if len(cs) == 0 {
			continue
		}
		var run, broker, self, first, last []float64
		for _, c := range cs {
			run, broker, self = append(run, c.run), append(broker, c.broker), append(self, c.self)
			first, last = append(first, c.first10), append(last, c.last10)
		}
		f, l := Median(first), Median(last)
		rows = append(rows, Row{
			fmt.Sprintf("CPU per fill, e2e %s (utime+stime): run / broker / harness", sc), fmt.Sprint(len(cs)),
			fmt.Sprintf("%s / %s / %s", us(Median(run)), us(Median(broker)), us(Median(self))),
			fmt.Sprintf("run at fills %s: %s, at %s: %s", spanName(cs[0].early), us(f), spanName(cs[0].late), us(l)),
			growth(l, f) + " (late/early)"})
	}
	for _, sc := range scs {
		hs := r.hedges[sc]
		if len(hs) == 0 {
			continue
		}
		var n, pend, idle, over []float64
		for _, h := range hs {
			n = append(n, float64(h.Hedges))
			pend = append(pend, h.LongestPending.Seconds())
			idle = append(idle, h.LongestOverIdle.Seconds())
			over = append(over, h.LongestOver.Seconds())
		}
		rows = append(rows, Row{
			fmt.Sprintf("hedging during e2e %s: hedges filled; longest over threshold with no hedge pending", sc), fmt.Sprint(len(hs)),
			fmt.Sprintf("%.0f hedges; %.2f s", Median(n), Median(idle)),
			fmt.Sprintf("longest hedge pending %.2f s, longest over threshold %.2f s", Median(pend), Median(over)), "-"})
	}
	for _, sc := range scs {
		if len(r.chE2E[sc]) == 0 {
			continue
		}
		c, p := Median(r.chE2E[sc]), Median(r.chPnl[sc])
		rows = append(rows, Row{
			fmt.Sprintf("e2e %s: Witness produced -> metrics_pnl row in ClickHouse", sc), fmt.Sprint(len(r.chE2E[sc])), rate(c, "fills/s"),
			fmt.Sprintf("-> PnL record, same runs: %s", rate(p, "fills/s")), pct(c, p)})
	}
	for _, l := range r.lat {
		if l.rate == 0 {
			continue
		}
		ping := fmt.Sprintf("Kafka round trip: %s / %s / %s", ms(Percentile(l.ping, .5)), ms(Percentile(l.ping, .99)), ms(Percentile(l.ping, 1)))
		for _, h := range []struct {
			what    string
			lat     []time.Duration
			missing int
		}{
			{"cause -> hedge accepted by the broker, every hedge", l.lat.AllAccepted, l.lat.NotAccepted},
			{"Witness produced -> hedge accepted by the broker, fill-triggered hedges", l.lat.Accepted, -1},
			{"cause -> hedge fill booked in the position, every hedge", l.lat.AllBooked, l.lat.NotBooked},
			{"Witness produced -> hedge fill booked in the position, fill-triggered hedges", l.lat.Booked, -1},
		} {
			n := fmt.Sprintf("1 (%d hedges", len(h.lat))
			if h.missing > 0 {
				n += fmt.Sprintf(", %d missing", h.missing)
			}
			if h.missing >= 0 && l.lat.Untimed > 0 {
				n += fmt.Sprintf(", %d untimed", l.lat.Untimed)
			}
			rows = append(rows, Row{
				fmt.Sprintf("hedge latency at %d fills/s, %d symbols, %s: p50 / p99 / max", l.rate, cfg.LatencySymbols, h.what), n + ")",
				fmt.Sprintf("%s / %s / %s", ms(Percentile(h.lat, .5)), ms(Percentile(h.lat, .99)), ms(Percentile(h.lat, 1))),
				ping, ratio(Percentile(h.lat, .5), Percentile(l.ping, .5)) + " (p50)"})
		}
	}
	if r.replay.events > 0 {
		rows = append(rows, Row{fmt.Sprintf("replay: all ClickHouse views rebuilt from the log, over %s events", group(r.replay.events)), "1",
			rate(r.replay.rate, "events/s"), "franz-go read of the same: " + rate(r.replay.read, "rec/s"), pct(r.replay.rate, r.replay.read)})
	}
	if r.cold.events > 0 {
		rows = append(rows, Row{fmt.Sprintf("cold start, %s events in the log: start -> ready / first new fill out", group(r.cold.events)), "1",
			fmt.Sprintf("%s / %s", ms(r.cold.ready), ms(r.cold.first)),
			fmt.Sprintf("empty tables: %s / %s", ms(r.coldEmpty[0]), ms(r.coldEmpty[1])),
			ratio(r.cold.first, r.coldEmpty[1])})
	}
	for _, sc := range scs {
		if len(r.rss[sc]) == 0 {
			continue
		}
		m := Median(r.rss[sc])
		base := "-"
		if r.idleRSS > 0 {
			base = "idle pipeline: " + mib(r.idleRSS)
		}
		rows = append(rows, Row{fmt.Sprintf("peak RSS of hedgeline run, %s", sc), fmt.Sprint(len(r.rss[sc])), mib(m),
			base, ratio(time.Duration(m), time.Duration(r.idleRSS))})
	}
	return rows
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", float64(a)/float64(b))
}

// us formats a CPU time per fill in µs.
func us(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f µs", v)
	}
	return fmt.Sprintf("%.0f µs", v)
}

// growth is a/b as a signed percentage change ("+12%").
func growth(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(a/b-1))
}
