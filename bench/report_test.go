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
