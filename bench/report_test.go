package bench

import (
	"strings"
	"testing"
	"time"
)

func TestMedianAndPercentile(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Fatalf("median %v, want 2", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median %v, want 2.5", got)
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	if p := Percentile(ds, .5); p != 50*time.Millisecond {
		t.Fatalf("p50 %v", p)
	}
	if p := Percentile(ds, .99); p != 99*time.Millisecond {
		t.Fatalf("p99 %v", p)
	}
	if p := Percentile(ds, 1); p != 100*time.Millisecond {
		t.Fatalf("max %v", p)
	}
}

func TestTableAlignsColumns(t *testing.T) {
	var b strings.Builder
	Table(&b, []Row{{"e2e", "3", rate(12345.4, "fills/s"), "goka", pct(1, 4)}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || len(lines[0]) != len(lines[2]) || !strings.Contains(lines[2], "12,345 fills/s") || !strings.Contains(lines[2], "25.0%") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// The Goals table reads the goal scenario of both binaries; without a
// baseline binary its column says so, and a figure not measured is "-".
func TestGoalRows(t *testing.T) {
	sc := scenario{1_000_000, 1000}
	this, base := newResults(), newResults()
	this.e2e[sc] = []float64{21000, 19000, 25000}
	this.cpu[sc] = []cpuResult{{run: 45, first10: 40, last10: 42, early: [2]int{10_000, 110_000}, late: [2]int{880_000, 980_000}}}
	this.rss[sc] = []float64{250 << 20}
	this.cold = coldResult{events: 3_000_000, first: 450 * time.Millisecond}
	base.e2e[sc] = []float64{4000}
	rows := goalRows(sc, this, base, true)
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	want := [][2]string{
		{"4,000 fills/s", "21,000 fills/s"},
		{"-", "45 µs"},
		{"-", "+5% (42 µs at fills 880k-980k vs 40 µs at 10k-110k)"},
		{"-", "-"},
		{"-", "250 MiB"},
		{"-", "450 ms (3,000,000 events in the log)"},
	}
	for i, w := range want {
		if rows[i].Baseline != w[0] || rows[i].This != w[1] {
			t.Fatalf("row %d %q: %q | %q, want %q | %q", i, rows[i].Figure, rows[i].Baseline, rows[i].This, w[0], w[1])
		}
	}
	if r := goalRows(sc, this, base, false); !strings.HasPrefix(r[0].Baseline, "not run") {
		t.Fatalf("without a baseline binary: %q", r[0].Baseline)
	}
	var b strings.Builder
	GoalTable(&b, rows)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 8 || !strings.Contains(lines[0], "baseline binary") {
		t.Fatalf("goals table:\n%s", b.String())
	}
}
