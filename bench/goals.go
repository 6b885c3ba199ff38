package bench

import (
	"fmt"
	"io"
)

// GoalRow is one line of the Goals table of issue 12: a figure of the goal
// scenario, its goal, and the figure of the baseline binary and of the
// binary under test, measured in the same suite, runs interleaved.
type GoalRow struct {
	Figure, Goal, Baseline, This string
}

// goalRows reads the goal figures of sc from the binary under test (this)
// and from the baseline binary (base; "not run" without one).
func goalRows(sc scenario, this, base *results, haveBase bool) []GoalRow {
	type fig struct {
		figure, goal string
		of           func(r *results) string
	}
	figs := []fig{
		{fmt.Sprintf("end-to-end fills/s, hedging on, %s", sc), ">= 20,000", func(r *results) string {
			return orDash(len(r.e2e[sc]) > 0, func() string { return rate(Median(r.e2e[sc]), "fills/s") })
		}},
		{"CPU of run per fill (utime+stime from /proc, same run)", "<= 50 µs", func(r *results) string {
			return orDash(len(r.cpu[sc]) > 0, func() string { return us(Median(cpuField(r.cpu[sc], func(c cpuResult) float64 { return c.run }))) })
		}},
		{"per-fill CPU of run, a late tenth of the fills vs an early tenth (same run)", "within 10%", func(r *results) string {
			f := Median(cpuField(r.cpu[sc], func(c cpuResult) float64 { return c.first10 }))
			l := Median(cpuField(r.cpu[sc], func(c cpuResult) float64 { return c.last10 }))
			return orDash(f > 0 && l > 0, func() string {
				c := r.cpu[sc][0]
				return fmt.Sprintf("%s (%s at fills %s vs %s at %s)", growth(l, f), us(l), spanName(c.late), us(f), spanName(c.early))
			})
		}},
		{"replay of all views, events/s", ">= 150,000", func(r *results) string {
			return orDash(r.replay.events > 0, func() string {
				return fmt.Sprintf("%s (over %s events)", rate(r.replay.rate, "events/s"), group(r.replay.events))
			})
		}},
		{"peak RSS of run", "<= 300 MiB", func(r *results) string {
			return orDash(len(r.rss[sc]) > 0, func() string { return mib(Median(r.rss[sc])) })
		}},
		{"cold start, to first new fill out", "<= 0.5 s", func(r *results) string {
			return orDash(r.cold.events > 0, func() string {
				return fmt.Sprintf("%s (%s events in the log)", ms(r.cold.first), group(r.cold.events))
			})
		}},
	}
	var rows []GoalRow
	for _, f := range figs {
		b := "not run (no --baseline-bin)"
		if haveBase {
			b = f.of(base)
		}
		rows = append(rows, GoalRow{f.figure, f.goal, b, f.of(this)})
	}
	return rows
}

func cpuField(cs []cpuResult, f func(cpuResult) float64) []float64 {
	var out []float64
	for _, c := range cs {
		if v := f(c); v > 0 {
			out = append(out, v)
		}
	}
	return out
}

func orDash(ok bool, f func() string) string {
	if !ok {
		return "-"
	}
	return f()
}

// GoalTable prints the Goals table (Markdown).
func GoalTable(w io.Writer, rows []GoalRow) {
	cells := [][]string{{"figure", "goal", "baseline binary", "this binary"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Figure, r.Goal, r.Baseline, r.This})
	}
	markdown(w, cells)
}
