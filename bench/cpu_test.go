package bench

import (
	"os"
	"testing"
	"time"
)

// A command name with spaces and parentheses must not shift the fields:
// utime (14) = 250 ticks, stime (15) = 50 ticks.
func TestParseProcStat(t *testing.T) {
	stat := "4242 (hedge (line) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 500 18446744073709551615\n"
	got, err := parseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("cpu %s, want %s", got, want)
	}
	for _, bad := range []string{"4242 hedgeline S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 50 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}

// The harness's own process: /proc sees the CPU it burns, and getrusage
// (all threads) at least as much.
func TestProcCPUOfSelf(t *testing.T) {
	before, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := SelfCPU()
	after := before
	for deadline := time.Now().Add(10 * time.Second); after == before && time.Now().Before(deadline); {
		for i := 0; i < 1_000_000; i++ {
			sink += i
		}
		if after, err = ProcCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before || SelfCPU()-self < after-before-clockTick {
		t.Fatalf("/proc cpu %s -> %s, getrusage %s -> %s", before, after, self, SelfCPU())
	}
}

var sink int

// Samples every 1000 fills; the run's CPU per fill is 10 µs for the first
// 5000 fills and 30 µs after.
func TestSpanCPUAndCPUOf(t *testing.T) {
	var ss []cpuSample
	var run time.Duration
	for f := 0; f <= 10_000; f += 1000 {
		ss = append(ss, cpuSample{fills: f, run: run, broker: run / 2, self: time.Duration(f) * time.Microsecond})
		per := 10 * time.Microsecond
		if f >= 5000 {
			per = 30 * time.Microsecond
		}
		run += 1000 * per
	}
	if v, ok := spanCPU(ss, 0, 1000); !ok || v != 10 {
		t.Fatalf("first 10%%: %v %v", v, ok)
	}
	if v, ok := spanCPU(ss, 9000, 10_000); !ok || v != 30 {
		t.Fatalf("last 10%%: %v %v", v, ok)
	}
	if _, ok := spanCPU(ss, 9000, 20_000); ok {
		t.Fatal("a span past the samples")
	}
	// Open loop: the first and the last tenth.
	c := cpuOf(ss, 10_000, 0)
	if c.run != 20 || c.broker != 10 || c.self != 1 || c.first10 != 10 || c.last10 != 30 || c.early != [2]int{0, 1000} || c.late != [2]int{9000, 10_000} {
		t.Fatalf("cpuOf %+v", c)
	}
	// A window of 2000 fills: the ramp and the drain are left out.
	c = cpuOf(ss, 10_000, 2000)
	if c.first10 != 10 || c.last10 != 30 || c.early != [2]int{2000, 3000} || c.late != [2]int{7000, 8000} {
		t.Fatalf("cpuOf, window 2000: %+v", c)
	}
	// A window as large as half the run leaves no steady spans.
	if c = cpuOf(ss, 10_000, 5000); c.first10 != 0 || c.last10 != 0 || c.run != 20 {
		t.Fatalf("cpuOf, window 5000: %+v", c)
	}
}
