package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile of ds by nearest rank (q in 0..1).
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Row is one line of the results table.
type Row struct {
	Figure   string
	Runs     string // repeats the median is over
	Measured string
	Baseline string
	Ratio    string
}

// Table prints rows as a Markdown table, which reads fine on a terminal too.
func Table(w io.Writer, rows []Row) {
	cells := [][]string{{"figure", "runs", "measured (median)", "baseline, same run (median)", "ratio"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Figure, r.Runs, r.Measured, r.Baseline, r.Ratio})
	}
	markdown(w, cells)
}

// markdown prints cells (the first row is the head) as an aligned
// Markdown table.
func markdown(w io.Writer, cells [][]string) {
	if len(cells) == 0 {
		return
	}
	width := make([]int, len(cells[0]))
	for _, r := range cells {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cs []string) {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = c + strings.Repeat(" ", width[i]-len([]rune(c)))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(parts, " | "))
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range cells[1:] {
		line(r)
	}
}

// rate formats a per-second figure with thousands separators.
func rate(v float64, unit string) string { return group(int64(v+0.5)) + " " + unit }

func group(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*a/b)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func size(n int) string {
	switch {
	case n == 0:
		return "0"
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
