// Package clickhouse runs a current ClickHouse engine, in the calling
// process (Start) or supervised in a child process (Spawn), and serves it on
// 127.0.0.1 over the native TCP protocol (and optionally HTTP), so ordinary
// clients such as clickhouse-go talk to it as to a real server.
//
// The engine is chDB's libchdb.so (ClickHouse built as a shared library),
// loaded at run time without cgo through purego. Importing this package does
// not need the library: only Start (and LibPath) touch it. See lib.go for how
// the library is found or fetched.
//
// Limits: one engine per process lifetime (libchdb cannot start a second
// one, even after the first stopped); linux/amd64; no authentication
// (default user without password), so it only ever listens on 127.0.0.1.
// Started in-process without Config.Interactive, the engine aborts the whole
// host process on any failed client connection: serve clients from a
// supervised engine (Spawn, process.go), a child process that survives
// broken clients and is restarted if it dies anyway. Production
// targets a real ClickHouse server; this is for development, tests and
// single-host use.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Config describes one engine.
type Config struct {
	// DataDir is the ClickHouse --path: databases, metadata and parts live
	// here and survive a restart (even a kill -9). The engine locks it, so
	// one DataDir serves one engine at a time. Required; created if missing.
	DataDir string
	// TCPPort is the native-protocol port on 127.0.0.1. 0 picks a free one
	// (see Server.Addr).
	TCPPort int
	// HTTPPort is the HTTP-interface port on 127.0.0.1; 0 means no HTTP
	// listener.
	HTTPPort int
	// LibPath is the libchdb.so to load; "" resolves it with LibPath (env
	// HEDGELINE_CLICKHOUSE_LIB, then the cache, then a fetch from npm).
	LibPath string
	// StartTimeout bounds the wait for the first answered SELECT 1
	// (default 2 minutes: a cold start over a big DataDir loads all parts).
	StartTimeout time.Duration
	// Interactive runs the engine as an interactive clickhouse-local, which
	// needs stdin to be a terminal. Non-interactive clickhouse-local installs
	// a Poco error handler that calls std::terminate on any exception that
	// leaves a connection handler: one wrong password, one stray byte on the
	// native port or one client killed mid-query aborts the whole process
	// (SIGABRT, exit 134). Interactive, the default handler logs and the
	// connection just closes. Only for a process whose stdin is a terminal
	// nobody types into: the supervised child of Spawn, which gets a
	// pseudo-terminal as stdin (the engine reads it for hotkeys).
	Interactive bool
	// Cluster, if set, names a test cluster in the engine's config: one
	// shard whose one replica is this engine (remote_servers), the {shard}
	// and {replica} macros, and an in-process test Keeper (ZooKeeper
	// implementation "testkeeper"), so cluster DDL can be checked against
	// the engine. For tests of DDL only: the engine starts no distributed
	// DDL worker, so ON CLUSTER queries fail ("Replicated DDL queries are
	// disabled"), and it has no interserver address, so Replicated tables
	// are created but stay read-only (docs/clickhouse-cluster.md).
	Cluster string
}

// Server is a running engine. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	addr     string
	httpAddr string

	done    chan struct{} // closed when chdb_query_cmdline returned
	exitErr error         // its error, valid after done

	stopOnce sync.Once
	stopping chan struct{} // closed once Stop began; an exit after it is clean
}

// keepAliveQuery is the endless query that keeps chdb_query_cmdline – and
// with it the listeners, which only live during that call – running. One
// row per second with max_block_size=1 keeps it cancellable within ~1 s and
// costs under 1% of a core. It runs under the fixed query id keepAliveID
// (--query_id), so Stop can tell it from client queries.
const (
	keepAliveQuery = "SELECT sleepEachRow(1) FROM system.numbers SETTINGS max_block_size=1 FORMAT Null"
	keepAliveID    = "hedgeline-embedded-keepalive"
)

// Stop's two KILLs. The engine's shutdown waits only ~5 s for client
// connections and then _exit(1)s the whole process (not configurable via
// shutdown_wait_unfinished; seen here). So clients' running queries are
// cancelled first (queryID() spares the KILL itself), then the keep-alive;
// idle connections close by themselves (see configXML and --poll_interval).
const (
	killClientQueries = "KILL QUERY WHERE query_id NOT IN (queryID(), '" + keepAliveID + "') SYNC"
	killKeepAlive     = "KILL QUERY WHERE query_id = '" + keepAliveID + "' SYNC"
)

// configXML is written to <DataDir>/hedgeline-embedded.xml and passed as
// --config-file, which also stops clickhouse-local from picking up a
// config.xml in the working directory. keep_alive_timeout (HTTP, default 30 s)
// is lowered so idle keep-alive connections end well within the engine's
// ~5 s shutdown grace instead of getting the process killed.
const configXML = `<clickhouse>
    <!-- Written by hedgeline embedded/clickhouse on every start; edits are lost. -->
    <keep_alive_timeout>2</keep_alive_timeout>
</clickhouse>
`

// ClusterShard and ClusterReplica are the {shard} and {replica} macros of
// an engine with Config.Cluster.
const (
	ClusterShard   = "01"
	ClusterReplica = "embedded"
)

// clusterXML defines Config.Cluster (%[1]s) with this engine's TCP port
// (%[2]d) as its only replica.
const clusterXML = `    <remote_servers>
        <%[1]s>
            <shard>
                <internal_replication>true</internal_replication>
                <replica><host>127.0.0.1</host><port>%[2]d</port></replica>
            </shard>
        </%[1]s>
    </remote_servers>
    <macros><shard>` + ClusterShard + `</shard><replica>` + ClusterReplica + `</replica></macros>
    <zookeeper><implementation>testkeeper</implementation></zookeeper>
`

var clusterNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// engineConfig is the config file of cfg (its TCP port chosen).
func engineConfig(cfg Config) string {
	if cfg.Cluster == "" {
		return configXML
	}
	return strings.Replace(configXML, "</clickhouse>", fmt.Sprintf(clusterXML, cfg.Cluster, cfg.TCPPort)+"</clickhouse>", 1)
}

const configName = "hedgeline-embedded.xml"

var (
	// engineMu guards the process-wide engine. libchdb keeps global state
	// (one server context, one config) and hosts one engine per process
	// lifetime: a second chdb_query_cmdline server after the first stopped
	// fails with "EventNotifier is initialized twice".
	engineMu sync.Mutex
	engine   *Server // the engine this process started, live or stopped; nil before

	// libFns is the loaded library (under engineMu); path "" until loaded.
	libFns struct {
		path          string
		queryCmdline  func(argc int32, argv **byte) uintptr
		resultError   func(res uintptr) string
		destroyResult func(res uintptr)
		goSignals     signalGuard // Go's fault handlers, saved before dlopen
	}
)

// Start loads the library, starts the engine on cfg.DataDir and returns
// once the TCP port answers SELECT 1. ctx bounds the start only (a library
// fetch included); the engine runs until Stop. A process gets one engine:
// any later Start fails, even after Stop.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	if cfg.Interactive && !stdinIsTerminal() {
		return nil, errors.New("clickhouse: Config.Interactive needs stdin to be a terminal (Spawn provides one)")
	}

	engineMu.Lock()
	defer engineMu.Unlock()
	if e := engine; e != nil {
		select {
		case <-e.done:
			return nil, fmt.Errorf("clickhouse: an engine already ran in this process (data dir %s) and libchdb cannot start "+
				"another one after it stopped; run each engine in its own process (hedgeline clickhouse)", e.cfg.DataDir)
		default:
			return nil, fmt.Errorf("clickhouse: an engine is already running in this process (data dir %s, %s); "+
				"libchdb hosts one engine per process: run another as its own process (hedgeline clickhouse)",
				e.cfg.DataDir, e.addr)
		}
	}
	if err := loadLib(ctx, cfg.LibPath); err != nil {
		return nil, err
	}
	// The engine reports start failures only on stderr, and a failed start
	// still uses up this process's one engine: catch the common causes here.
	if err := cfg.claim(); err != nil {
		return nil, err
	}

	s := &Server{
		cfg:      cfg,
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.TCPPort)),
		done:     make(chan struct{}),
		stopping: make(chan struct{}),
	}
	if cfg.HTTPPort != 0 {
		s.httpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.HTTPPort))
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, configName), []byte(engineConfig(cfg)), 0o644); err != nil {
		return nil, fmt.Errorf("clickhouse: writing engine config: %w", err)
	}
	engine = s
	go s.serve(s.argv())

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		// The engine may still be starting; stop it so DataDir and the ports
		// are released.
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer stopCancel()
		if stopErr := s.stop(stopCtx); stopErr != nil {
			return nil, fmt.Errorf("clickhouse: start: %w (and stopping the half-started engine: %v)", err, stopErr)
		}
		return nil, fmt.Errorf("clickhouse: start: %w", err)
	}
	restoreGoSignals("starting the engine")
	return s, nil
}

// prepare checks cfg and fills in defaults: an absolute, existing DataDir,
// the start timeout, sane ports.
func (cfg *Config) prepare() error {
	if cfg.DataDir == "" {
		return errors.New("clickhouse: Config.DataDir is required")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("clickhouse: data dir: %w", err)
	}
	cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("clickhouse: data dir: %w", err)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.TCPPort < 0 || cfg.TCPPort > 65535 || cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 {
		return fmt.Errorf("clickhouse: bad port (tcp %d, http %d)", cfg.TCPPort, cfg.HTTPPort)
	}
	if cfg.Cluster != "" && !clusterNameRE.MatchString(cfg.Cluster) {
		return fmt.Errorf("clickhouse: cluster name %q: want letters, digits, '_', '-' and '.'", cfg.Cluster)
	}
	if cfg.HTTPPort != 0 && cfg.HTTPPort == cfg.TCPPort {
		return fmt.Errorf("clickhouse: TCP and HTTP port are both %d", cfg.TCPPort)
	}
	return nil
}

// claim fails if another engine holds the data dir or a port is taken, and
// picks a free TCP port for 0.
func (cfg *Config) claim() error {
	if err := checkDataDirFree(cfg.DataDir); err != nil {
		return err
	}
	if cfg.TCPPort == 0 {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("clickhouse: picking a free TCP port: %w", err)
		}
		cfg.TCPPort = port
	} else if err := checkPortFree(cfg.TCPPort); err != nil {
		return err
	}
	if cfg.HTTPPort != 0 {
		return checkPortFree(cfg.HTTPPort)
	}
	return nil
}

// restoreGoSignals puts Go's fault handlers back if the library replaced
// them (belt and braces: not seen with the pinned build).
func restoreGoSignals(when string) {
	if fixed := libFns.goSignals.restore(); len(fixed) > 0 {
		slog.Warn("clickhouse: libchdb replaced Go's signal handlers; restored them", "when", when, "signals", fmt.Sprint(fixed))
	}
}

// argv is the clickhouse-local command line. --path makes it persistent;
// --tcp_port/--http_port configure the listeners, which clickhouse-local
// does not open by itself: SYSTEM START LISTEN opens them, and they stay
// open while keepAliveQuery runs. (chdb_connect with the same flags does not
// listen; only the command-line entry point does.) Only 127.0.0.1: the
// default user has no password. --poll_interval=1 (default 10 s) makes idle
// native connections notice the shutdown within the engine's ~5 s grace.
func (s *Server) argv() []string {
	q := "SYSTEM START LISTEN TCP; "
	args := []string{
		"clickhouse",
		"--config-file=" + filepath.Join(s.cfg.DataDir, configName),
		"--path=" + s.cfg.DataDir,
		"--tcp_port=" + strconv.Itoa(s.cfg.TCPPort),
		"--poll_interval=1",
		"--query_id=" + keepAliveID,
	}
	if s.cfg.Interactive {
		// Interactive mode would otherwise draw progress bars and keep a
		// history file; neither has a reader here.
		args = append(args, "--interactive", "--progress=off", "--history_file=/dev/null")
	}
	if s.cfg.HTTPPort != 0 {
		args = append(args, "--http_port="+strconv.Itoa(s.cfg.HTTPPort))
		q += "SYSTEM START LISTEN HTTP; "
	}
	return append(args,
		"--listen_host=127.0.0.1",
		"--multiquery",
		"--query="+q+keepAliveQuery,
	)
}

// serve runs the engine for its whole life on one locked OS thread:
// chdb_query_cmdline blocks until keepAliveQuery ends. The thread is never
// unlocked, so Go retires it afterwards rather than reusing a thread the
// engine may have left thread-local state on.
func (s *Server) serve(args []string) {
	runtime.LockOSThread()
	defer close(s.done)

	// C strings in Go memory: the Go heap does not move, and KeepAlive below
	// keeps them until the call (which may hold on to argv) has returned.
	cargs := make([][]byte, len(args))
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		cargs[i] = append([]byte(a), 0)
		argv[i] = &cargs[i][0]
	}
	res := libFns.queryCmdline(int32(len(args)), &argv[0])
	runtime.KeepAlive(cargs)
	runtime.KeepAlive(argv)
	if res == 0 {
		s.exitErr = errors.New("chdb_query_cmdline returned no result")
		return
	}
	if msg := strings.TrimSpace(libFns.resultError(res)); msg != "" {
		s.exitErr = errors.New(msg)
	}
	libFns.destroyResult(res)
}

func (s *Server) waitReady(ctx context.Context) error {
	var last error
	for {
		select {
		case <-s.done:
			if s.exitErr != nil {
				return fmt.Errorf("engine exited: %w", s.exitErr)
			}
			return errors.New("engine exited before listening (the engine printed its reason on stderr)")
		default:
		}
		if last = s.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for %s to answer SELECT 1 (last error: %v)", ctx.Err(), s.addr, last)
		case <-s.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) ping(ctx context.Context) error { return ping(ctx, s.addr) }

// ping asks the engine on addr for SELECT 1 over a fresh connection.
func ping(ctx context.Context, addr string) error {
	conn, err := ch.Open(clientOptions(addr, 2*time.Second, 10*time.Second))
	if err != nil {
		return err
	}
	defer conn.Close()
	var one uint8
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Addr is the native-protocol address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// HTTPAddr is the HTTP-interface address, or "" without an HTTP listener.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// DataDir is the absolute data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Options returns fresh clickhouse-go options for this server, with an
// explicit ReadTimeout (the library default, 300 s, turns mistakes into
// five-minute hangs).
func (s *Server) Options() *ch.Options {
	return s.clientOptions(5*time.Second, time.Minute)
}

func (s *Server) clientOptions(dial, read time.Duration) *ch.Options {
	return clientOptions(s.addr, dial, read)
}

func clientOptions(addr string, dial, read time.Duration) *ch.Options {
	return &ch.Options{
		Addr:         []string{addr},
		Protocol:     ch.Native,
		DialTimeout:  dial,
		ReadTimeout:  read,
		MaxOpenConns: 2,
	}
}

// Done is closed when the engine has exited, after Stop or on its own.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the engine's exit error once Done is closed: nil after a clean
// Stop, non-nil if it died on its own.
func (s *Server) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	select {
	case <-s.stopping:
		return nil
	default:
	}
	if s.exitErr == nil {
		return errors.New("clickhouse: engine exited unexpectedly")
	}
	return fmt.Errorf("clickhouse: engine exited: %w", s.exitErr)
}

// Stop ends the engine: it cancels all running queries, then
// keepAliveQuery, which makes chdb_query_cmdline return, closing the
// listeners and flushing state, and waits for that (~1 s). ctx bounds the
// wait; Stop may be called again after a ctx expiry. Clients' connections
// are dropped; their in-flight queries fail.
//
// Trap: if a client connection is still busy ~5 s into the engine's
// shutdown (a long query sent in the instant between Stop's KILLs), the
// engine _exit(1)s the whole process. Stop clients first; in production run
// the engine as its own process (Run, hedgeline clickhouse).
func (s *Server) Stop(ctx context.Context) error {
	engineMu.Lock()
	defer engineMu.Unlock()
	return s.stop(ctx)
}

// stop is Stop with engineMu held.
func (s *Server) stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	for {
		select {
		case <-s.done:
			return nil
		default:
		}
		// Repeat the KILL until the engine is gone: it may still be starting
		// (keepAliveQuery not yet running, so nothing to kill).
		killCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.kill(killCtx)
		cancel()
		select {
		case <-s.done:
			continue
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("clickhouse: stop: %w (last KILL QUERY: %v)", ctx.Err(), err)
			}
			return fmt.Errorf("clickhouse: stop: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) kill(ctx context.Context) error {
	conn, err := ch.Open(s.clientOptions(2*time.Second, 30*time.Second))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, killClientQueries); err != nil {
		return err
	}
	return conn.Exec(ctx, killKeepAlive)
}

// Run starts an engine, blocks until ctx is done (e.g. cancelled on
// SIGTERM) or the engine dies, then stops it. For a process whose job is to
// be the ClickHouse server (hedgeline clickhouse).
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
		return s.Err()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Stop(stopCtx)
}

// loadLib dlopens libchdb once per process (engineMu held). A failure is
// not remembered, so a later Start can retry, e.g. after a network blip.
func loadLib(ctx context.Context, path string) error {
	if !builtIn {
		return ErrNotBuiltIn
	}
	if libFns.path != "" {
		if path != "" && path != libFns.path {
			return fmt.Errorf("clickhouse: library %s already loaded, cannot switch to %s in this process", libFns.path, path)
		}
		return nil
	}
	if path == "" {
		p, err := LibPath(ctx)
		if err != nil {
			return fmt.Errorf("clickhouse: %w", err)
		}
		path = p
	}
	if err := dlopen(path); err != nil {
		return err
	}
	libFns.path = path
	return nil
}

// CheckDataDirFree fails if an engine holds dir (a missing dir is free).
func CheckDataDirFree(dir string) error { return checkDataDirFree(dir) }

// checkDataDirFree fails if another engine holds dir: ClickHouse flocks
// <path>/status for its lifetime.
func checkDataDirFree(dir string) error {
	f, err := os.Open(filepath.Join(dir, "status"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clickhouse: data dir: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		status, _ := os.ReadFile(filepath.Join(dir, "status"))
		return fmt.Errorf("clickhouse: data dir %s is in use by another ClickHouse (%s): %w",
			dir, strings.Join(strings.Fields(string(status)), " "), err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("clickhouse: port %d is not free: %w", port, err)
	}
	return l.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrNotBuiltIn is returned by Start in a binary built with -tags nochdb
// (the container image): it has no embedded engine.
var ErrNotBuiltIn = errors.New("clickhouse: this hedgeline was built without the embedded ClickHouse (-tags nochdb, e.g. the container image): point --clickhouse at a ClickHouse server")
