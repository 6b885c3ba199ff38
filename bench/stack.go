package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Stack is one fresh embedded stack: `hedgeline broker` on a free port with
// its own data dir, and (between StartRun and StopRun) `hedgeline run`
// against it. Every measured run gets a new Stack, so no run reads another
// run's topics or tables.
type Stack struct {
	Bin    string
	Dir    string
	Addr   string
	Broker *Proc
	Run    *Proc
	runs   int
}

// NewStack starts a broker under dir.
func NewStack(ctx context.Context, bin, dir string) (*Stack, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Stack{Bin: bin, Dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.Broker, err = StartProc("broker", filepath.Join(dir, "broker.log"), bin,
		"broker", "--listen", s.Addr, "--data-dir", filepath.Join(dir, "kafka"), "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, s.Addr, 30*time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Brokers is the bootstrap list for clients.
func (s *Stack) Brokers() []string { return []string{s.Addr} }

// StateDir is the pipeline's --state-dir (its tables and dry-run ledger).
func (s *Stack) StateDir() string { return filepath.Join(s.Dir, "state") }

// Ledger is the dry-run broker's ledger of accepted orders.
func (s *Stack) Ledger() string { return filepath.Join(s.StateDir(), "dry-run-ledger.jsonl") }

// StartRun starts `hedgeline run` with the pipeline's defaults (dry-run
// broker, threshold 1 share, poll interval 1 s) plus --fast-groups, so a
// group forms in a second instead of a session timeout, and extra flags.
// It returns once the process logs that every role is ready.
func (s *Stack) StartRun(ctx context.Context, extra ...string) error {
	p, err := s.StartRunAsync(extra...)
	if err != nil {
		return err
	}
	if _, err := p.WaitLog(ctx, "hedgeline ready", 2*time.Minute); err != nil {
		_ = p.Stop(5 * time.Second)
		return err
	}
	return nil
}

// StartRunAsync starts `hedgeline run` like StartRun without waiting.
func (s *Stack) StartRunAsync(extra ...string) (*Proc, error) {
	if s.Run != nil && s.Run.Alive() {
		return nil, fmt.Errorf("run already started")
	}
	s.runs++
	args := append([]string{"run", "--brokers", s.Addr, "--state-dir", s.StateDir(), "--fast-groups"}, extra...)
	p, err := StartProc("run", filepath.Join(s.Dir, fmt.Sprintf("run-%d.log", s.runs)), s.Bin, args...)
	if err != nil {
		return nil, err
	}
	s.Run = p
	return p, nil
}

// StopRun reads the pipeline's peak RSS and stops it with SIGTERM.
func (s *Stack) StopRun() (peakRSS int64, err error) {
	if s.Run == nil {
		return 0, nil
	}
	peakRSS, _ = s.Run.PeakRSS()
	err = s.Run.Stop(30 * time.Second)
	return peakRSS, err
}

// Close stops the pipeline, then the broker, and deletes the data unless
// keep is set.
func (s *Stack) Close() {
	if s.Run != nil {
		_ = s.Run.Stop(30 * time.Second)
	}
	if s.Broker != nil {
		_ = s.Broker.Stop(30 * time.Second)
	}
}

// Remove deletes the stack's directory (after Close).
func (s *Stack) Remove() {
	if os.Getenv("HEDGELINE_BENCH_KEEP") != "" {
		return // kept for a look at the run's logs and data
	}
	_ = os.RemoveAll(s.Dir)
}
