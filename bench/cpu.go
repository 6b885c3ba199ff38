package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux the kernel ABI allows user space to see (sysconf
// would need cgo).
const clockTick = 10 * time.Millisecond

// parseProcStat returns utime+stime from the text of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted from its last ')'.
func parseProcStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat %.40q: no ')' after the command name", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var sum time.Duration
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: utime/stime %q: %w", s, err)
		}
		sum += time.Duration(n) * clockTick
	}
	return sum, nil
}

// ProcCPU is the CPU time (user+system) a process has used so far.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// SelfCPU is the harness's own CPU time (user+system, all threads).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuSample is the CPU used so far by the pipeline's processes and the
// harness, at a moment when fills were through.
type cpuSample struct {
	fills             int
	run, broker, self time.Duration
}

func (a cpuSample) sub(b cpuSample) cpuSample {
	return cpuSample{a.fills - b.fills, a.run - b.run, a.broker - b.broker, a.self - b.self}
}

// perFill is each process's CPU per fill of the span a (a difference of
// samples), in µs.
func (a cpuSample) perFill() (run, broker, self float64) {
	if a.fills <= 0 {
		return 0, 0, 0
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(a.fills) }
	return us(a.run), us(a.broker), us(a.self)
}

// spanCPU is the CPU per fill of the run process between the fills lo and
// hi (lo < hi) of samples (in order of time): from the first sample with
// at least lo fills through to the first with at least hi, so the span
// covers [lo, hi] up to the sampling step. ok is false when the samples do
// not reach both.
func spanCPU(samples []cpuSample, lo, hi int) (float64, bool) {
	var a, b *cpuSample
	for i := range samples {
		if a == nil && samples[i].fills >= lo {
			a = &samples[i]
		}
		if b == nil && samples[i].fills >= hi {
			b = &samples[i]
		}
	}
	if a == nil || b == nil || b.fills <= a.fills {
		return 0, false
	}
	run, _, _ := b.sub(*a).perFill()
	return run, true
}

// CPUSampler samples the CPU of a run's processes and of the harness
// every step, with the fills through at that moment.
type CPUSampler struct {
	mu      sync.Mutex
	samples []cpuSample
	take    func() cpuSample
	stop    chan struct{}
	done    chan struct{}
}

// StartCPUSampler takes a sample now and then every step until Stop.
func StartCPUSampler(ctx context.Context, st *Stack, fills func() int, step time.Duration) *CPUSampler {
	s := &CPUSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.take = func() cpuSample {
		c := cpuSample{fills: fills(), self: SelfCPU()}
		c.run, _ = ProcCPU(st.Run.Pid())
		c.broker, _ = ProcCPU(st.Broker.Pid())
		return c
	}
	s.add(s.take())
	go func() {
		defer close(s.done)
		t := time.NewTicker(step)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
				s.add(s.take())
			}
		}
	}()
	return s
}

func (s *CPUSampler) add(c cpuSample) {
	s.mu.Lock()
	s.samples = append(s.samples, c)
	s.mu.Unlock()
}

// Stop takes a last sample (with final fills through) and returns all.
func (s *CPUSampler) Stop(final int) []cpuSample {
	close(s.stop)
	<-s.done
	c := s.take()
	c.fills = max(c.fills, final)
	s.add(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}
