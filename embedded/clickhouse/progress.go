package clickhouse

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// progress reports a download: on a terminal one line rewritten in place,
// otherwise a log line every few seconds. It counts the bytes written to it.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	total    int64 // -1: unknown
	n        int64
	start    time.Time
	last     time.Time
	interval time.Duration
	what     string
}

func newProgress(w io.Writer, total int64, what string) *progress {
	p := &progress{w: w, total: total, start: time.Now(), what: what, interval: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.interval = true, 200*time.Millisecond
		}
	}
	p.last = p.start
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.report(now, false)
	}
	return len(b), nil
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report(time.Now(), true)
}

func (p *progress) report(now time.Time, final bool) {
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.n) / el
	}
	eta := "?"
	if p.total > 0 && rate > 0 {
		eta = time.Duration(float64(p.total-p.n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s of %s, %s/s, ETA %s", mb(p.n), mb(p.total), mb(int64(rate)), eta)
	if p.tty {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r\033[Kdownloading libchdb.so: %s%s", line, end)
		return
	}
	if !final {
		slog.Info("downloading libchdb.so", "progress", line, "from", p.what)
	}
}

func mb(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
