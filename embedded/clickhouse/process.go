package clickhouse

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The supervised engine: the engine runs in a child process (this same
// executable, re-executed), so that whatever happens to it cannot take the
// caller's process (Kafka broker, pipeline) down, and a supervisor restarts
// it if it dies anyway. The child gets a pseudo-terminal as stdin, which
// lets the engine run interactive: the mode in which a failed client
// connection closes that connection instead of aborting the process (see
// Config.Interactive).

// childEnv carries the child's Config (JSON) to the re-executed program.
const childEnv = "HEDGELINE_CLICKHOUSE_ENGINE"

// RunIfChild runs the engine and exits if this process is a child started
// by Spawn; otherwise it returns at once. Call it first thing in main (and
// in TestMain of tests whose code calls Spawn).
func RunIfChild() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Unsetenv(childEnv)
	os.Exit(runChild(v))
}

func runChild(v string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(v), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "clickhouse child: bad %s: %v\n", childEnv, err)
		return 2
	}
	cfg.Interactive = true
	// SIGHUP: the supervisor went away (the terminal's master end closed).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// ProcessConfig describes a supervised engine.
type ProcessConfig struct {
	// Config is the engine's. A port of 0 is picked once and kept across
	// restarts, so clients reconnect to the same address. LibPath "" is
	// resolved (and the library fetched if need be) by Spawn, once.
	Config
	// Logger gets the supervisor's messages and, at debug level, the
	// engine's own output. Default slog.Default().
	Logger *slog.Logger
	// Program is the executable to re-execute; it must call RunIfChild
	// first thing. Default: this process's executable.
	Program string
	// MinBackoff and MaxBackoff bound the wait before a restart; it doubles
	// per death and resets once the engine stayed up for a minute.
	// Defaults 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Process is a supervised engine. Its methods are safe for concurrent use.
type Process struct {
	cfg      ProcessConfig
	log      *slog.Logger
	addr     string
	httpAddr string

	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the supervisor and the last child ended

	mu       sync.Mutex
	child    *child
	restarts int
}

// child is one run of the engine process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed after Wait returned
	state  *os.ProcessState
	out    *tailBuffer
	start  time.Time
}

// Spawn starts the engine in a child process and returns once it answers
// SELECT 1. ctx bounds the start only; the engine runs, restarted whenever
// it dies, until Stop.
func Spawn(ctx context.Context, pc ProcessConfig) (*Process, error) {
	if !builtIn { // fail before fetching a library this binary cannot load
		return nil, ErrNotBuiltIn
	}
	if err := pc.prepare(); err != nil {
		return nil, err
	}
	var err error
	if pc.Logger == nil {
		pc.Logger = slog.Default()
	}
	if pc.Program == "" {
		if pc.Program, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("clickhouse: finding this executable to re-execute: %w", err)
		}
	}
	if pc.MinBackoff <= 0 {
		pc.MinBackoff = time.Second
	}
	if pc.MaxBackoff < pc.MinBackoff {
		pc.MaxBackoff = max(30*time.Second, pc.MinBackoff)
	}
	if pc.LibPath == "" {
		if pc.LibPath, err = LibPath(ctx); err != nil {
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
	}
	if err := pc.claim(); err != nil {
		return nil, err
	}
	p := &Process{
		cfg:  pc,
		log:  pc.Logger.With("component", "clickhouse"),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(pc.TCPPort)),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if pc.HTTPPort != 0 {
		p.httpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(pc.HTTPPort))
	}
	started := make(chan error, 1)
	go p.supervise(ctx, started)
	if err := <-started; err != nil {
		<-p.done
		return nil, err
	}
	p.log.Info("embedded clickhouse ready", "addr", p.addr, "http", p.httpAddr, "data_dir", pc.DataDir, "pid", p.Pid())
	return p, nil
}

// Addr is the native-protocol address, "127.0.0.1:PORT"; it stays the same
// across restarts.
func (p *Process) Addr() string { return p.addr }

// HTTPAddr is the HTTP-interface address, or "" without an HTTP listener.
func (p *Process) HTTPAddr() string { return p.httpAddr }

// DataDir is the absolute data directory.
func (p *Process) DataDir() string { return p.cfg.DataDir }

// Restarts counts the engine's deaths the supervisor recovered from: it
// goes up once the restarted engine answers.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Pid is the current engine process's id (0 between a death and its
// restart).
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child == nil || p.child.state != nil {
		return 0
	}
	return p.child.cmd.Process.Pid
}

// Done is closed once the supervisor ended: after Stop, or when a start
// failed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the engine gracefully (SIGTERM: the child cancels running
// queries and flushes) and the supervision. If ctx ends first the engine is
// killed; its data survives that too.
func (p *Process) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	c := p.child
	p.mu.Unlock()
	if c != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	c = p.child // a restart may have begun since
	p.mu.Unlock()
	if c != nil {
		_ = c.cmd.Process.Kill()
	}
	<-p.done
	return fmt.Errorf("clickhouse: stop: %w (engine killed)", ctx.Err())
}

// supervise starts the engine, reports the first start on started, and
// restarts the engine whenever it dies until Stop. It keeps its OS thread:
// the child's parent-death signal is tied to the thread that forked it.
func (p *Process) supervise(ctx context.Context, started chan<- error) {
	runtime.LockOSThread()
	defer close(p.done)
	c, err := p.startChild(ctx)
	started <- err
	if err != nil {
		return
	}
	backoff := p.cfg.MinBackoff
	for {
		<-c.exited
		if p.stopping() {
			if !c.state.Success() {
				p.log.Warn("embedded clickhouse stopped with an error", "exit", describeExit(c.state), "last_output", c.out.String())
			}
			return
		}
		if time.Since(c.start) > time.Minute {
			backoff = p.cfg.MinBackoff
		}
		p.log.Error("embedded clickhouse died; restarting it", "exit", describeExit(c.state),
			"up", time.Since(c.start).Round(time.Millisecond), "restart_in", backoff, "last_output", c.out.String())
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, p.cfg.MaxBackoff)
			// A foreign server on the port would answer our readiness check.
			if err = checkPortFree(p.cfg.TCPPort); err == nil {
				c, err = p.startChild(context.Background())
			}
			if err == nil {
				if p.stopping() {
					// Stop came while it started and may have signalled the
					// dead engine only.
					_ = c.cmd.Process.Signal(syscall.SIGTERM)
				}
				p.mu.Lock()
				p.restarts++
				p.mu.Unlock()
				p.log.Info("embedded clickhouse restarted", "addr", p.addr, "pid", c.cmd.Process.Pid, "restarts", p.Restarts())
				break
			}
			if p.stopping() {
				return
			}
			p.log.Error("embedded clickhouse restart failed; retrying", "err", err, "retry_in", backoff)
		}
	}
}

func (p *Process) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// startChild starts one engine process and waits until it answers (or
// dies, or ctx or Stop ends the wait).
func (p *Process) startChild(ctx context.Context) (*child, error) {
	env, err := json.Marshal(p.cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: encoding the child's config: %w", err)
	}
	master, terminal, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		master.Close()
		terminal.Close()
		return nil, fmt.Errorf("clickhouse: output pipe: %w", err)
	}

	cmd := exec.Command(p.cfg.Program)
	// argv[0] and the flags only name the process in ps; the child reads
	// its configuration from childEnv.
	cmd.Args = []string{"hedgeline-clickhouse", "--data-dir=" + p.cfg.DataDir, "--tcp-port=" + strconv.Itoa(p.cfg.TCPPort)}
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, outW, outW
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true, Setctty: true, Ctty: 0, // the terminal hangs up when we die
		Pdeathsig: syscall.SIGTERM,
	}
	if p.stopping() {
		err = errors.New("clickhouse: stopped")
	} else {
		err = cmd.Start()
	}
	// The child has its copies; ours would keep the output pipe from ever
	// reaching EOF.
	terminal.Close()
	outW.Close()
	if err != nil {
		master.Close()
		outR.Close()
		return nil, fmt.Errorf("clickhouse: starting %s: %w", p.cfg.Program, err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{}), out: newTailBuffer(40), start: time.Now()}
	p.mu.Lock()
	p.child = c
	p.mu.Unlock()

	// Nobody types into the terminal; read what the engine echoes to it so
	// it never blocks on a full terminal buffer.
	go func() { _, _ = io.Copy(io.Discard, master) }()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		p.logOutput(outR, c.out)
	}()
	go func() {
		_ = cmd.Wait()
		// The child's last words reach c.out before anyone looks, unless
		// something it started keeps the pipe open: then stop reading.
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
		master.Close()
		outR.Close()
		<-outDone
		p.mu.Lock()
		c.state = cmd.ProcessState
		p.mu.Unlock()
		close(c.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	var last error
	for {
		if last = ping(ctx, p.addr); last == nil {
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("clickhouse: engine process exited while starting (%s): %s", describeExit(c.state), c.out.String())
		case <-p.stop:
			_ = cmd.Process.Kill()
			<-c.exited
			return nil, errors.New("clickhouse: stopped while starting")
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-c.exited
			return nil, fmt.Errorf("clickhouse: engine did not answer on %s: %w (last error: %v; output: %s)", p.addr, ctx.Err(), last, c.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logOutput logs the engine's output lines at debug level and keeps the
// last ones for a death report. Lines every normal stop prints are dropped.
func (p *Process) logOutput(r io.Reader, tail *tailBuffer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(ansiEscape.ReplaceAllString(sc.Text(), ""))
		if line == "" || (p.stopping() && isStopNoise(line)) {
			continue
		}
		tail.add(line)
		p.log.Debug("engine", "line", line)
	}
}

// ansiEscape matches the terminal control sequences the interactive engine
// prints.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// isStopNoise reports the engine's messages about its own keep-alive query
// being cancelled, which every Stop causes.
func isStopNoise(line string) bool {
	return strings.Contains(line, "QUERY_WAS_CANCELLED") || strings.Contains(line, "Query was cancelled") ||
		strings.Contains(line, "query_id could be specified only in non-interactive mode")
}

func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := ws.Signal()
		s := fmt.Sprintf("killed by signal %d (%s)", int(sig), sig)
		if sig == syscall.SIGABRT {
			s += ": the engine aborted"
		}
		return s
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// tailBuffer keeps the last n lines.
type tailBuffer struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.n {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(t.lines, " | ")
}
