// Package kafka runs an embedded Kafka-protocol broker: franz-go's kfake
// cluster with one node, served over TCP so ordinary clients (franz-go,
// sarama/goka, kcat) talk to it as to a real broker.
//
// It is the default broker for development, tests and single-host
// deployments (`hedgeline broker`, `hedgeline run --embedded`). Production
// points the same binary at a real Kafka cluster instead.
//
// What this package adds on top of kfake:
//   - the fixes for kfake's deviations from Kafka (ENVIRONMENT.md): broker
//     config log.retention.ms=-1, so nothing is expired by time (kfake also
//     applies time retention to compacted topics, which would drop goka
//     table entries), and OffsetForLeaderEpoch capped at v1, so a caught-up
//     franz-go consumer does not re-read a whole partition;
//   - no automatic topic creation: topics are created by the admin code
//     (package topics) with explicit partition counts and configs;
//   - an exclusive lock on the data directory, so two brokers never write
//     the same files (kfake itself does not lock; package dirlock);
//   - a full disk reported as such: kfake fails the produce it could not
//     store with a bare server error and logs a warning per write; the
//     broker logs one error (path, free space) per 10 s instead and keeps
//     the last failure for LastWriteFailure, so the pipeline can tell its
//     stages' failures apart and wait for space (kfake writes again by
//     itself once there is space);
//   - a reaper that removes consumer-group members whose session kfake
//     forgot to time out (reaper.go), so a group never waits for a dead
//     member forever;
//   - log/slog logging and a Close that reports persistence errors.
//
// Durability (read from kfake's persist.go and checked by the tests here):
// with a DataDir every produced batch is appended to its partition's
// segment file before the produce is acknowledged, topic metadata and
// broker configs are rewritten atomically (temp file, fsync, rename) on
// every change, and group offset commits and producer-id state are
// appended to groups.log / pids.log before the response. Close additionally
// writes per-partition snapshots (fast start), idempotent-producer
// sequence windows and group session state. A killed broker therefore
// restarts from its data dir with every acknowledged record and commit:
// partitions are rebuilt by scanning the segments, a torn last batch is
// truncated (logged as a warning), and transactions that were open are
// aborted. One thing a kill does lose: idempotent-producer sequence windows
// are saved only by Close, so after a kill a producer's retry of a batch
// that was stored but not acknowledged is stored again (duplicates, never
// losses; real Kafka rebuilds producer state from the log and would not
// duplicate). Without SyncWrites the appends sit in the OS page cache, which
// survives a process kill but not a power loss or kernel crash; with
// SyncWrites every append is fsynced before the acknowledgement.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/internal/diskspace"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// DefaultListen is the address used when Config.Listen is empty.
const DefaultListen = "127.0.0.1:9092"

// Config describes the embedded broker.
type Config struct {
	// Listen is the TCP host:port to accept clients on (default
	// "127.0.0.1:9092"). Port 0 picks a free port (see Broker.Addr).
	// The broker advertises this address in metadata, so a wildcard host
	// ("0.0.0.0", "::") only works for clients on the same machine unless
	// Advertise is set.
	Listen string
	// Advertise is the host:port returned to clients in metadata
	// responses; empty means the bound listen address. Set it when
	// listening on a wildcard host for remote clients.
	Advertise string
	// DataDir keeps topics, records, configs, committed offsets and
	// producer state across restarts (created if missing, locked while
	// the broker runs). Empty keeps everything in memory.
	DataDir string
	// SyncWrites fsyncs every appended batch and log entry before the
	// request is acknowledged (requires DataDir). Without it, data reaches
	// the OS page cache: safe against a process crash, not a power loss.
	SyncWrites bool
	// Partitions is the partition count of topics created without one
	// (CreateTopics with -1 partitions). 0 means 1, as Kafka's
	// num.partitions.
	Partitions int32
	// GroupMinSessionTimeout is the smallest session timeout a consumer
	// group member may ask for; 0 keeps kfake's default of 6 s. Tests use
	// 1 s or less so that groups rebalance quickly.
	GroupMinSessionTimeout time.Duration
	// Logger receives the broker's warnings and errors (nil means
	// slog.Default()).
	Logger *slog.Logger
	// TLS, if set, makes clients connect over TLS with its certificate
	// (Certificates[0]); with ClientAuth and ClientCAs they must present a
	// certificate too (mutual TLS).
	TLS *tls.Config
	// Users are the SASL accounts clients must authenticate as (PLAIN,
	// SCRAM-SHA-256, SCRAM-SHA-512); none: no SASL. The broker enforces no
	// ACLs: every user may do everything.
	Users []User
}

// Validate reports every problem in c, joined.
func (c Config) Validate() error {
	var errs []error
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	if _, _, err := splitHostPort(listen, true); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.Advertise != "" {
		host, port, err := splitHostPort(c.Advertise, false)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("advertise: %w", err))
		case host == "" || port == 0:
			errs = append(errs, fmt.Errorf("advertise %q: want a host and a non-zero port", c.Advertise))
		}
	}
	if c.SyncWrites && c.DataDir == "" {
		errs = append(errs, errors.New("sync writes need a data dir"))
	}
	if c.Partitions < 0 {
		errs = append(errs, fmt.Errorf("partitions must be >= 0, got %d", c.Partitions))
	}
	if c.GroupMinSessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("group min session timeout must be >= 0, got %s", c.GroupMinSessionTimeout))
	}
	errs = append(errs, c.securityErrors()...)
	return errors.Join(errs...)
}

// splitHostPort parses host:port; zeroOK allows port 0.
func splitHostPort(addr string, zeroOK bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 || (port == 0 && !zeroOK) {
		return "", 0, fmt.Errorf("%q: invalid port %q", addr, ps)
	}
	return host, port, nil
}

// Broker is a running embedded broker. Its methods are safe for concurrent
// use.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	dataDir string
	log     *logAdapter
	unlock  func() error
	reaper  *reaper

	authFailures atomic.Int64 // SASL authentications refused
	closing      atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, locks and loads the data dir (if any) and starts
// serving. The broker runs until Close.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: invalid config: %w", err)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	la := &logAdapter{l: logger.With("component", "kafka")}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.WithLogger(la),
		kfake.DefaultNumPartitions(int(cfg.Partitions)),
		// Fix 1: no time retention anywhere, compacted topics included.
		// Topics may still set retention.ms themselves.
		kfake.BrokerConfigs(map[string]string{"log.retention.ms": "-1"}),
		// Fix 2: OffsetForLeaderEpoch v2+ makes a caught-up franz-go
		// consumer re-read the partition after a leader change.
		kfake.MaxVersions(maxVersions()),
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}

	sec, err := newSecurity(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: invalid config: %w", err)
	}
	opts = append(opts, sec.opts...)
	b := &Broker{log: la, unlock: func() error { return nil }}
	// kfake always asks for 127.0.0.1:<port>; bind what was configured
	// instead, advertise the chosen address, and serve TLS and answer
	// failed authentications as Kafka does (secureListener).
	listen, advertise := cfg.Listen, cfg.Advertise
	opts = append(opts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, listen)
		if err != nil {
			return nil, err
		}
		if advertise != "" {
			ln = &advertisedListener{Listener: ln, addr: advertisedAddr(advertise)}
		}
		return &secureListener{Listener: ln, tls: sec.server, log: la.l, failures: &b.authFailures, closing: &b.closing}, nil
	}))

	if cfg.DataDir != "" {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("kafka: data dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka: data dir: %w", err)
		}
		unlock, err := lockDir(dir)
		if err != nil {
			return nil, fmt.Errorf("kafka: data dir %s: %w", dir, err)
		}
		b.dataDir, b.unlock = dir, unlock
		opts = append(opts, kfake.DataDir(dir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = b.unlock()
		return nil, fmt.Errorf("kafka: start broker on %s: %w", cfg.Listen, err)
	}
	b.cluster = c
	b.addr = c.ListenAddrs()[0]
	if b.dataDir != "" {
		c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.KafkaStorageError, Count: -1, When: b.noRoom})
	}
	// Fix 3 (reaper.go): expire group members kfake forgot to time out.
	b.reaper = newReaper(la.l)
	b.reaper.watch(c)
	if err := b.reaper.run(kafkasec.Cluster{Seeds: []string{b.addr}, Security: sec.self}); err != nil {
		c.Close()
		_ = b.unlock()
		return nil, fmt.Errorf("kafka: group member reaper: %w", err)
	}
	return b, nil
}

// maxVersions is kversion.Stable with OffsetForLeaderEpoch (key 23) capped
// at v1 (ENVIRONMENT.md, deviation 2).
func maxVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(23, 1)
	return v
}

// Addr is the host:port the broker advertises (the bound listen address
// unless Config.Advertise was set): give it to clients as seed broker.
func (b *Broker) Addr() string { return b.addr }

// AuthFailures is how many SASL authentications the broker refused (each
// is also logged as a warning).
func (b *Broker) AuthFailures() int64 { return b.authFailures.Load() }

// DataDir is the absolute data directory, or "" when in memory.
func (b *Broker) DataDir() string { return b.dataDir }

// Cluster exposes the underlying kfake cluster for tests (fault injection,
// Compact, ApplyRetention). Production code must not need it.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops accepting clients, writes the remaining state (partition
// snapshots, producer sequence windows, group sessions) to the data dir,
// closes its files and releases its lock. Errors kfake logged while saving
// are returned. Calling Close again returns the first result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		b.reaper.close()
		b.log.captureErrors(true)
		b.cluster.Close()
		errs := b.log.captureErrors(false)
		if err := b.unlock(); err != nil {
			errs = append(errs, fmt.Errorf("unlock data dir: %w", err))
		}
		if len(errs) > 0 {
			b.closeErr = fmt.Errorf("kafka: close: %w", errors.Join(errs...))
		}
	})
	return b.closeErr
}

// Run starts the broker, logs one line with its address and blocks until
// ctx is done, then closes the broker cleanly. It returns nil after a clean
// shutdown (the CLI cancels ctx on SIGTERM/SIGINT).
func Run(ctx context.Context, cfg Config) error {
	b, err := Start(cfg)
	if err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	attrs := []any{"addr", b.Addr()}
	if b.DataDir() != "" {
		attrs = append(attrs, "data_dir", b.DataDir(), "sync_writes", cfg.SyncWrites)
	} else {
		attrs = append(attrs, "data_dir", "(memory)")
	}
	attrs = append(attrs, "tls", cfg.TLS != nil, "sasl_users", len(cfg.Users))
	logger.Info("broker listening", attrs...)
	<-ctx.Done()
	logger.Info("broker stopping", "addr", b.Addr())
	return b.Close()
}

// advertisedListener reports a configured address instead of the bound
// one; kfake advertises its listener's Addr in metadata.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l *advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (advertisedAddr) Network() string  { return "tcp" }
func (a advertisedAddr) String() string { return string(a) }

// logAdapter forwards kfake's printf-style logs to slog. While capturing
// (during Close) it also keeps error-level messages, because kfake's Close
// reports persistence failures only through its logger.
type logAdapter struct {
	l *slog.Logger

	mu        sync.Mutex
	capturing bool
	errs      []error

	// A full disk fails every write of every partition: the first failure
	// is logged, then one summary per noSpaceEvery.
	lastNoSpace   WriteFailure
	loggedNoSpace time.Time
	quiet         int // failures not logged since loggedNoSpace
}

// noSpaceEvery is how often a disk that stays full is reported again.
const noSpaceEvery = 10 * time.Second

// WriteFailure is a write to the data dir that failed for lack of space.
type WriteFailure struct {
	Path string // the file, when kfake's message names one
	Err  string // kfake's message
	At   time.Time
}

// noSpace records and reports a write kfake could not make: the produce
// or commit it belongs to fails, the broker stays up and writes again once
// there is space.
func (a *logAdapter) noSpace(level kfake.LogLevel, msg string) {
	now := time.Now()
	a.mu.Lock()
	if level == kfake.LogLevelError && a.capturing {
		a.errs = append(a.errs, errors.New(msg))
	}
	a.lastNoSpace = WriteFailure{Path: diskspace.FailedPath(errors.New(msg)), Err: msg, At: now}
	path := a.lastNoSpace.Path // read under the lock: other writers replace it
	if now.Sub(a.loggedNoSpace) < noSpaceEvery {
		a.quiet++
		a.mu.Unlock()
		return
	}
	quiet := a.quiet
	a.loggedNoSpace, a.quiet = now, 0
	a.mu.Unlock()
	attrs := []any{"path", path, "failed_writes_not_logged", quiet, "err", msg}
	if u, err := diskspace.Of(path); err == nil && path != "" {
		attrs = append(attrs, "free", diskspace.Bytes(u.Free), "size", diskspace.Bytes(u.Total))
	}
	a.l.Error("disk full: the embedded broker cannot write its log; the produces and commits it could not store fail until there is space", attrs...)
}

// LastWriteFailure is the last write to the data dir that failed for lack
// of space, if any.
func (b *Broker) LastWriteFailure() (WriteFailure, bool) {
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	return b.log.lastNoSpace, !b.log.lastNoSpace.At.IsZero()
}

var kfakeLevels = [...]slog.Level{
	kfake.LogLevelError: slog.LevelError,
	kfake.LogLevelWarn:  slog.LevelWarn,
	kfake.LogLevelInfo:  slog.LevelInfo,
	kfake.LogLevelDebug: slog.LevelDebug,
}

func (a *logAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	if level <= kfake.LogLevelNone || int(level) >= len(kfakeLevels) {
		return
	}
	if level <= kfake.LogLevelWarn {
		if msg := fmt.Sprintf(format, args...); diskspace.NoSpace(errors.New(msg)) {
			a.noSpace(level, msg)
			return
		}
	}
	msg := ""
	if level == kfake.LogLevelError {
		msg = fmt.Sprintf(format, args...)
		a.mu.Lock()
		if a.capturing {
			a.errs = append(a.errs, errors.New(msg))
		}
		a.mu.Unlock()
	}
	sl := kfakeLevels[level]
	if !a.l.Enabled(context.Background(), sl) {
		return
	}
	if msg == "" {
		msg = fmt.Sprintf(format, args...)
	}
	a.l.Log(context.Background(), sl, msg)
}

// captureErrors turns capturing on or off; turning it off returns and
// clears what was captured.
func (a *logAdapter) captureErrors(on bool) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.capturing = on
	if on {
		return nil
	}
	errs := a.errs
	a.errs = nil
	return errs
}

// produceReserve is the space a produce must leave free on the data dir's
// file system, or it is refused before kfake writes it.
const produceReserve = 64 << 10

// noRoom refuses a produce the data dir has no room for, with
// KAFKA_STORAGE_ERROR as Kafka does on a failed log write: a retriable
// error, which an idempotent producer retries in order, holding back the
// batches behind it. kfake itself answers a write that fails with a
// non-retriable UNKNOWN_SERVER_ERROR after it counted the batch's sequence:
// sarama then moves the batches queued behind it to a new epoch and sends
// them, so they land ahead of the failed one, which its stage emits again
// only after a restart (a position then refused those fills as out of
// chain order). The check runs on kfake's goroutine right before the write;
// a writer outside kfake can still take the space in between, which the
// reserve makes unlikely.
func (b *Broker) noRoom(req kmsg.Request) bool {
	pr, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return false
	}
	var size uint64
	for _, t := range pr.Topics {
		for _, p := range t.Partitions {
			size += uint64(len(p.Records))
		}
	}
	u, err := diskspace.Of(b.dataDir)
	if err != nil || u.Free >= size+produceReserve {
		return false
	}
	b.log.noSpace(kfake.LogLevelWarn, fmt.Sprintf("produce of %d bytes refused with KAFKA_STORAGE_ERROR: write %s: no space left on device (%s, %d bytes kept free)",
		size, b.dataDir, u, produceReserve))
	return true
}
