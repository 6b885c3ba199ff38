package main

// Shared helpers of the pipeline's integration tests: an embedded kfake
// broker over TCP, the pipeline itself (runPipeline in-process, or this test
// binary re-executed as the hedgeline CLI), producers and topic readers, a
// fill generator, and an independent model of what the pipeline must have
// produced (position rules, FIFO PnL with big.Rat) to check its output
// against.

import (
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/testcerts"
	"github.com/hedgeline/hedgeline/internal/testlog"

	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/testseed"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
)

const (
	testPartitions = 4
	// readyTimeout bounds a pipeline start; a restart after a kill waits
	// for the dead members' 6 s session timeout first.
	readyTimeout = 60 * time.Second
	// settleTimeout bounds how long a test waits for the pipeline to work
	// through everything it was given.
	settleTimeout = 90 * time.Second
)

// kitSeed is the test's seed (HEDGELINE_TEST_SEED replays a failure).
func kitSeed(t testing.TB, what string) uint64 { return testseed.Seed(t, what) }

// execMainEnv makes this test binary run the hedgeline CLI instead of the
// tests (see TestMain), so child-process tests need no separate go build.
const execMainEnv = "HEDGELINE_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	clickhouse.RunIfChild() // the embedded engine's child, when a test spawns it
	if os.Getenv(execMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------------
// Logs

func kitTail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = append([]string{fmt.Sprintf("... (%d lines before)", len(all)-lines)}, all[len(all)-lines:]...)
	}
	return strings.Join(all, "\n")
}

// testLogger logs at HEDGELINE_TEST_LOG_LEVEL (default warn) into a sink
// that is printed if the test fails.
func testLogger(t testing.TB, name string) *slog.Logger {
	t.Helper()
	level := slog.LevelWarn
	if v := os.Getenv("HEDGELINE_TEST_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			t.Fatalf("HEDGELINE_TEST_LOG_LEVEL: %v", err)
		}
	}
	log, _ := kitLogSink(t, name, level)
	return log
}

// kitLogSink is testLogger at level, also giving its sink to search.
func kitLogSink(t testing.TB, name string, level slog.Level) (*slog.Logger, *testlog.Buffer) {
	t.Helper()
	sink := &testlog.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, kitTail(sink.String(), 80))
		}
		// HEDGELINE_TEST_LOG_DIR keeps every log in full.
		if d := os.Getenv("HEDGELINE_TEST_LOG_DIR"); d != "" {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + name + ".log")
			_ = os.WriteFile(filepath.Join(d, name), []byte(sink.String()), 0o644)
		}
	})
	return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: level})).With("who", name), sink
}

// ---------------------------------------------------------------------------
// Broker

// startBroker starts an embedded kfake broker on a free loopback port with
// a fresh data dir and returns its address. It is closed at cleanup, after
// every pipeline started later in the test.
func kitStartBroker(t testing.TB) string {
	t.Helper()
	return kitStartEmbeddedBroker(t).Addr()
}

// kitStartEmbeddedBroker is kitStartBroker giving the broker itself, for
// tests that inject faults into its cluster.
func kitStartEmbeddedBroker(t testing.TB) *kafka.Broker {
	t.Helper()
	return kitStartBrokerWith(t, func(*kafka.Config) {})
}

// kitStartBrokerWith starts the kit's embedded broker with cfg changed by
// with (security, say), closed at cleanup.
func kitStartBrokerWith(t testing.TB, with func(*kafka.Config)) *kafka.Broker {
	t.Helper()
	cfg := kafka.Config{
		Listen:                 "127.0.0.1:0",
		DataDir:                t.TempDir(),
		Partitions:             testPartitions,
		GroupMinSessionTimeout: 500 * time.Millisecond,
		Logger:                 testLogger(t, "broker"),
	}
	with(&cfg)
	b, err := kafka.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// kitSecured holds, per address of a broker that requires TLS or SASL,
// how to reach it: the kit's producers and readers take an address, and
// connect to such a broker as the pipeline does (kitCluster).
var kitSecured sync.Map // address -> kafkasec.Cluster

// kitCluster is how the kit's own clients reach the broker at addr.
func kitCluster(addr string) kafkasec.Cluster {
	if c, ok := kitSecured.Load(addr); ok {
		return c.(kafkasec.Cluster)
	}
	return kafkasec.Plaintext(addr)
}

// kitSecurity is what a secured broker and its clients share: certificates
// made for the test (the server's carrying only kitServerName), a
// SCRAM-SHA-512 user's password in a file, and the client flags (the CLI's
// own) that reach such a broker.
type kitSecurity struct {
	pki      *testcerts.PKI
	password string
	flags    []string
}

// kitServerName is the only name on a secured broker's certificate: its
// clients must be told it (--kafka-tls-server-name), as when a cluster's
// certificates do not name the address dialled.
const kitServerName = "kafka.hedgeline.test"

func kitNewSecurity(t testing.TB) *kitSecurity {
	t.Helper()
	pki := testcerts.New(t, kitServerName)
	pw := make([]byte, 16)
	if _, err := crand.Read(pw); err != nil {
		t.Fatal(err)
	}
	s := &kitSecurity{pki: pki, password: "pw-" + hex.EncodeToString(pw)}
	pwFile := filepath.Join(pki.Dir, "kafka-password")
	if err := os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.flags = []string{
		"--kafka-tls-ca-file", pki.CAFile, "--kafka-tls-cert-file", pki.ClientCert, "--kafka-tls-key-file", pki.ClientKey,
		"--kafka-tls-server-name", kitServerName,
		"--kafka-sasl-mechanism", kafkasec.ScramSHA512, "--kafka-sasl-username", "hedgeline", "--kafka-sasl-password-file", pwFile,
	}
	return s
}

// register makes the kit's own clients reach the broker at addr with s
// (kitCluster), until the test ends.
func (s *kitSecurity) register(t testing.TB, addr string) {
	t.Helper()
	var k kafkaFlags
	fs := flag.NewFlagSet("secure", flag.ContinueOnError)
	k.register(fs)
	if err := fs.Parse(append([]string{"--brokers", addr}, s.flags...)); err != nil {
		t.Fatal(err)
	}
	c, err := k.cluster()
	if err != nil {
		t.Fatal(err)
	}
	kitSecured.Store(addr, c)
	t.Cleanup(func() { kitSecured.Delete(addr) })
}

// kitSecureBroker is an embedded broker that requires TLS with a client
// certificate and SCRAM-SHA-512, as a production cluster would.
type kitSecureBroker struct {
	*kafka.Broker
	*kitSecurity
	addr string
}

// kitStartSecureBroker starts a kitSecureBroker; the kit's own clients
// reach it through kitCluster.
func kitStartSecureBroker(t testing.TB) *kitSecureBroker {
	t.Helper()
	s := kitNewSecurity(t)
	b := kitStartBrokerWith(t, func(c *kafka.Config) {
		c.TLS = s.pki.ServerTLS()
		c.Users = []kafka.User{{Mechanism: kafkasec.ScramSHA512, Name: "hedgeline", Password: s.password}}
	})
	s.register(t, b.Addr())
	return &kitSecureBroker{Broker: b, kitSecurity: s, addr: b.Addr()}
}

// ---------------------------------------------------------------------------
// In-process pipeline

// testRunConfig is the run command's configuration for a test, built by
// parsing the CLI's own flags so every default is the real one.
func testRunConfig(t testing.TB, addr, stateDir, ledger string, extra ...string) runConfig {
	t.Helper()
	var cfg runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.register(fs)
	args := append([]string{
		"--brokers", addr,
		"--partitions", fmt.Sprint(testPartitions),
		"--state-dir", stateDir,
		"--dry-run-ledger", ledger,
		"--fast-groups",
		"--poll-interval", "100ms",
		"--not-pending-grace", "1s",
	}, extra...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("run flags %v: %v", args, err)
	}
	return cfg
}

// pipelineInstance is a runPipeline running in this process.
type kitPipelineInstance struct {
	name   string
	cfg    runConfig
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startPipeline runs the pipeline in-process and returns once it reports
// ready. Stop it with stop (also done at cleanup).
func kitStartPipeline(t testing.TB, name string, cfg runConfig) *kitPipelineInstance {
	t.Helper()
	return kitStartPipelineLog(t, name, cfg, testLogger(t, name))
}

// kitStartPipelineLog is kitStartPipeline logging to log (a test that
// inspects the pipeline's log lines).
func kitStartPipelineLog(t testing.TB, name string, cfg runConfig, log *slog.Logger) *kitPipelineInstance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &kitPipelineInstance{name: name, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() { p.done <- runPipeline(ctx, cfg, log, ready) }()
	t.Cleanup(func() { p.stop(t) })
	start := time.Now()
	select {
	case <-ready:
		t.Logf("%s ready in %s", name, time.Since(start).Round(time.Millisecond))
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited before it was ready: %v", name, err)
	case <-time.After(readyTimeout):
		t.Fatalf("%s not ready after %s", name, readyTimeout)
	}
	return p
}

// stop cancels the pipeline and waits for it to return; an error it
// returned fails the test.
func (p *kitPipelineInstance) stop(t testing.TB) {
	t.Helper()
	p.once.Do(func() {
		start := time.Now()
		defer func() { t.Logf("%s stopped in %s", p.name, time.Since(start).Round(time.Millisecond)) }()
		p.cancel()
		select {
		case p.err = <-p.done:
		case <-time.After(60 * time.Second):
			p.err = fmt.Errorf("%s did not stop within 60s", p.name)
		}
		if p.err != nil {
			t.Errorf("%s: %v", p.name, p.err)
		}
	})
}

// check fails the test if the pipeline stopped on its own.
func (p *kitPipelineInstance) check(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s stopped unexpectedly: %v", p.name, err)
	default:
	}
}

// ---------------------------------------------------------------------------
// Child processes: this test binary re-executed as the hedgeline CLI.

type kitChildProc struct {
	name   string
	cmd    *exec.Cmd
	ready  chan struct{}
	exited chan struct{}
	mu     sync.Mutex
	lines  []string
}

// startChild runs `hedgeline args...` and waits for readyLine on its
// stderr.
func kitStartChild(t testing.TB, name, readyLine string, args ...string) *kitChildProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), execMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &kitChildProc{name: name, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.lines = append(c.lines, line)
			c.mu.Unlock()
			if strings.Contains(line, readyLine) {
				once.Do(func() { close(c.ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("--- %s stderr (tail) ---\n%s", name, kitTail(c.logs(), 60))
		}
		if d := os.Getenv("HEDGELINE_TEST_LOG_DIR"); d != "" {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + name + ".log")
			_ = os.WriteFile(filepath.Join(d, name), []byte(c.logs()), 0o644)
		}
	})
	start := time.Now()
	select {
	case <-c.ready:
		t.Logf("%s ready in %s", name, time.Since(start).Round(time.Millisecond))
	case <-c.exited:
		t.Fatalf("%s exited before it was ready:\n%s", name, kitTail(c.logs(), 40))
	case <-time.After(readyTimeout):
		t.Fatalf("%s not ready after %s:\n%s", name, readyTimeout, kitTail(c.logs(), 40))
	}
	return c
}

func (c *kitChildProc) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *kitChildProc) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// interrupt stops the process gracefully (SIGTERM) and waits.
func (c *kitChildProc) interrupt(t testing.TB) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 60s", c.name)
		c.kill()
	}
}

func (c *kitChildProc) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// ingestFile is `ingest file` without the outcome report: it produces the
// file's fills (seen at file.SeenAuto) and returns how many.
func ingestFile(ctx context.Context, k kafkaFlags, path string, strict bool, log *slog.Logger) (produced, bad int, err error) {
	recs, bad, err := ingest(ctx, k, path, ingestOptions{strict: strict, seenAt: file.SeenAuto}, log)
	return len(recs), bad, err
}

// kitCHLib is the cached ClickHouse library; without one the test is
// skipped, or fails in CI (CI=true), which must have fetched it.
func kitCHLib(t testing.TB) string {
	t.Helper()
	lib, err := clickhouse.CachedLibPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ClickHouse library missing in CI: %v", err)
		}
		t.Skipf("ClickHouse library not fetched (make deps): %v", err)
	}
	return lib
}

// kitStartClickHouse starts `hedgeline clickhouse` as a child on a free
// port with its data under dir, and returns its address.
func kitStartClickHouse(t testing.TB, dir string) string {
	t.Helper()
	lib := kitCHLib(t)
	chAddr := kitFreeAddr(t)
	_, port, _ := net.SplitHostPort(chAddr)
	kitStartChild(t, "clickhouse", "clickhouse ready",
		"clickhouse", "--data-dir", filepath.Join(dir, "ch"), "--tcp-port", port, "--clickhouse-lib", lib)
	return chAddr
}

// kitIngestSample feeds samples/fills.jsonl as `hedgeline ingest file`
// does, waits until the pipeline settled it, and returns its fills.
func kitIngestSample(ctx context.Context, t testing.TB, addr string) []file.Fill {
	t.Helper()
	fills := kitReadSample(t)
	if _, _, err := ingestFile(ctx, kafkaFlags{brokers: addr, partitions: testPartitions, replication: 1}, kitSamplePath, true, testLogger(t, "ingest")); err != nil {
		t.Fatal(err)
	}
	kitWaitSettled(t, addr, fills, settleTimeout)
	return fills
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func kitFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startChildBroker runs `hedgeline broker` with a data dir and returns it
// and its address.
func kitStartChildBroker(t testing.TB, dataDir string) (*kitChildProc, string) {
	t.Helper()
	addr := kitFreeAddr(t)
	c := kitStartChild(t, "broker", "broker listening", "broker", "--listen", addr, "--data-dir", dataDir, "--log-level", "info")
	return c, addr
}

// startChildPipeline runs `hedgeline run` against addr.
func kitStartChildPipeline(t testing.TB, name, addr, stateDir, ledger string) *kitChildProc {
	t.Helper()
	return kitStartChild(t, name, "hedgeline ready", "run",
		"--brokers", addr, "--partitions", fmt.Sprint(testPartitions),
		"--state-dir", stateDir, "--dry-run-ledger", ledger,
		"--fast-groups", "--poll-interval", "100ms", "--log-level", "info")
}

// ---------------------------------------------------------------------------
// Producing

// newProducer is a franz-go client with hedgeline's goka-compatible
// partitioning.
func kitNewProducer(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(topics.ClientOpts(kitCluster(addr), kgo.ProducerLinger(time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// witnessRecord is the Witness command of a fill, as the file source
// writes it, issued now (the order manager fails orders whose events are
// older than --stale-after, so issue times must be current).
func kitWitnessRecord(t testing.TB, f file.Fill) *kgo.Record {
	t.Helper()
	key, value, err := file.WitnessRecord(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value}
}

// produce writes records synchronously (all acknowledged on return).
func kitProduce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// produceFills writes the Witness commands of fills at once, in order.
func kitProduceFills(t testing.TB, cl *kgo.Client, fills []file.Fill) {
	t.Helper()
	recs := make([]*kgo.Record, len(fills))
	for i, f := range fills {
		recs[i] = kitWitnessRecord(t, f)
	}
	kitProduce(t, cl, recs...)
}

// commandRecord encodes a command envelope for topic with key.
func kitCommandRecord(t testing.TB, topic, key string, env topics.CommandEnvelope) *kgo.Record {
	t.Helper()
	b, err := topics.EncodeCommand(env)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// ---------------------------------------------------------------------------
// Reading

// readTopic returns every record of topic below its current high
// watermarks, per partition in offset order (partitions ascending).
func kitReadTopic(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	recs, err := kitReadTopicErr(addr, topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return recs
}

// kitReadTopicErr reads through the CLI's own readTopic, ordered by
// partition then offset.
func kitReadTopicErr(addr, topic string) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := readTopic(ctx, kitCluster(addr), topic)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

// event is a decoded event envelope with where it was read.
type kitEvent struct {
	topics.EventEnvelope
	raw       []byte
	partition int32
	offset    int64
}

func kitDecodeEvents(recs []*kgo.Record) ([]kitEvent, error) {
	out := make([]kitEvent, 0, len(recs))
	for _, r := range recs {
		e, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, kitEvent{EventEnvelope: e, raw: r.Value, partition: r.Partition, offset: r.Offset})
	}
	return out, nil
}

func kitReadRejections(t testing.TB, addr, topic string) []topics.Rejection {
	t.Helper()
	var out []topics.Rejection
	for _, r := range kitReadTopic(t, addr, topic) {
		rej, err := topics.DecodeRejection(r.Value)
		if err != nil {
			t.Fatalf("%s[%d]@%d: %v", topic, r.Partition, r.Offset, err)
		}
		out = append(out, rej)
	}
	return out
}

// pnlRecord is a record of pnl.events with where it was read.
type kitPnlRecord struct {
	pnl.Record
	raw []byte
}

func kitDecodePnL(recs []*kgo.Record) ([]kitPnlRecord, error) {
	out := make([]kitPnlRecord, 0, len(recs))
	for _, r := range recs {
		var rec pnl.Record
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("pnl.events[%d]@%d: %w", r.Partition, r.Offset, err)
		}
		if string(rec.Symbol) != string(r.Key) {
			return nil, fmt.Errorf("pnl.events[%d]@%d: key %q, symbol %q", r.Partition, r.Offset, r.Key, rec.Symbol)
		}
		out = append(out, kitPnlRecord{Record: rec, raw: r.Value})
	}
	return out, nil
}

// dedupePnL keeps one record per (symbol, position_sequence), in first-seen
// order, and reports two different records under one key.
func kitDedupePnL(recs []kitPnlRecord) (map[string][]pnl.Record, []string) {
	var problems []string
	seen := map[string]map[uint64][]byte{}
	out := map[string][]pnl.Record{}
	for _, r := range recs {
		sym := string(r.Symbol)
		if seen[sym] == nil {
			seen[sym] = map[uint64][]byte{}
		}
		if prev, ok := seen[sym][r.PositionSequence]; ok {
			if !bytes.Equal(prev, r.raw) {
				problems = append(problems, fmt.Sprintf("pnl %s seq %d published twice with different content:\n  %s\n  %s",
					sym, r.PositionSequence, prev, r.raw))
			}
			continue
		}
		seen[sym][r.PositionSequence] = r.raw
		out[sym] = append(out[sym], r.Record)
	}
	return out, problems
}

// ---------------------------------------------------------------------------
// Event histories

// history is one aggregate's events, deduplicated, in sequence order.
type kitHistory struct {
	id     string
	events []kitEvent
}

// foldHistories groups events by aggregate id and drops exact repeats of an
// (aggregate_id, sequence). Problems: two different events under one
// (aggregate_id, sequence), a sequence that first appears before a lower
// one (a consumer reading in order would skip it), a gap.
func kitFoldHistories(evs []kitEvent) (map[string]*kitHistory, []string) {
	var problems []string
	type key struct {
		id  string
		seq uint64
	}
	seen := map[key]kitEvent{}
	hs := map[string]*kitHistory{}
	for _, e := range evs {
		k := key{e.AggregateID, e.Sequence}
		if prev, ok := seen[k]; ok {
			if !bytes.Equal(prev.raw, e.raw) {
				problems = append(problems, fmt.Sprintf("%s %s#%d: two different events (@%d/%d and @%d/%d):\n  %s\n  %s",
					e.AggregateType, e.AggregateID, e.Sequence, prev.partition, prev.offset, e.partition, e.offset, prev.raw, e.raw))
			}
			continue
		}
		seen[k] = e
		h := hs[e.AggregateID]
		if h == nil {
			h = &kitHistory{id: e.AggregateID}
			hs[e.AggregateID] = h
		}
		if n := len(h.events); n > 0 && e.Sequence != h.events[n-1].Sequence+1 {
			problems = append(problems, fmt.Sprintf("%s %s: sequence %d first appears after %d (@%d/%d)",
				e.AggregateType, e.AggregateID, e.Sequence, h.events[n-1].Sequence, e.partition, e.offset))
		} else if n == 0 && e.Sequence != 1 {
			problems = append(problems, fmt.Sprintf("%s %s: first event has sequence %d", e.AggregateType, e.AggregateID, e.Sequence))
		}
		h.events = append(h.events, e)
	}
	for _, h := range hs {
		sort.Slice(h.events, func(i, j int) bool { return h.events[i].Sequence < h.events[j].Sequence })
	}
	return hs, problems
}

// ---------------------------------------------------------------------------
// Fill generator

type kitGenSymbol struct {
	base  string
	price string // a recent USD price
}

var kitGenSymbols = []kitGenSymbol{
	{"AAPL", "228.41"}, {"NVDA", "180.29"}, {"TSLA", "345.41"}, {"GOOG", "240.79"},
	{"MSFT", "507.23"}, {"AMZN", "221.90"}, {"META", "738.50"}, {"COIN", "331.20"},
}

var kitGenMarkers = []market.Marker{market.MarkerT, market.MarkerZeroX, market.MarkerS1}

// genFills makes n realistic fills over the first nsym symbols of
// genSymbols, deterministic in seed: tokenized symbols with every marker,
// amounts with 0 to 4 decimals, prices in a random walk near real prices
// (4 decimals), blocks and log indexes increasing (chain order is
// generation order), two seconds per block.
func kitGenFills(seed uint64, n, nsym int, firstBlock uint64) []file.Fill {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type walk struct {
		price int64 // 1e-4 USD
		bias  float64
	}
	syms := kitGenSymbolsN(nsym)
	walks := make([]walk, nsym)
	for i, s := range syms {
		walks[i] = walk{price: decimal.RequireFromString(s.price).Shift(4).IntPart(), bias: 0.5}
	}
	t0 := time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)
	block, logIndex := firstBlock, uint64(r.IntN(8))
	out := make([]file.Fill, 0, n)
	for range n {
		if step := uint64(r.IntN(3)); step > 0 {
			block += step
			logIndex = uint64(r.IntN(10))
		} else {
			logIndex += 1 + uint64(r.IntN(3))
		}
		i := r.IntN(nsym)
		w := &walks[i]
		// Random walk of about 0.2% a step, kept positive.
		w.price += int64(float64(w.price) * (r.Float64() - 0.5) * 0.004)
		w.price = max(w.price, 10000)
		// The bias drifts so that positions swing both ways.
		w.bias = min(0.85, max(0.15, w.bias+(r.Float64()-0.5)*0.1))
		dir := market.Sell
		if r.Float64() < w.bias {
			dir = market.Buy
		}
		scale := int32(r.IntN(5))
		units := 1 + r.Int64N(3*kitPow10(scale))
		var tx [32]byte
		for j := 0; j < 32; j += 8 {
			v := r.Uint64()
			for k := range 8 {
				tx[j+k] = byte(v >> (8 * k))
			}
		}
		tid, err := market.NewTradeID("0x"+hex.EncodeToString(tx[:]), logIndex)
		if err != nil {
			panic(err)
		}
		out = append(out, file.Fill{
			TradeID:        tid,
			BlockNumber:    block,
			BlockTimestamp: t0.Add(time.Duration(block-firstBlock) * 2 * time.Second),
			Symbol:         market.TokenizedSymbol{Base: market.Symbol(syms[i].base), Marker: kitGenMarkers[r.IntN(len(kitGenMarkers))]},
			Direction:      dir,
			Amount:         decimal.New(units, -scale),
			PriceUSDC:      decimal.New(w.price, -4),
		})
	}
	return out
}

// kitGenSymbolsN is the first n symbols: the well-known ones, then
// synthetic tickers YAAA, YAAB, ... at 100 USD.
func kitGenSymbolsN(n int) []kitGenSymbol {
	out := slices.Clone(kitGenSymbols[:min(n, len(kitGenSymbols))])
	for i := len(out); i < n; i++ {
		b := []byte{'Y', 'A', 'A', 'A'}
		for p, v := 3, i; p > 0; p, v = p-1, v/26 {
			b[p] = byte('A' + v%26)
		}
		out = append(out, kitGenSymbol{string(b), "100.00"})
	}
	return out
}

func kitPow10(n int32) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// fillsBySymbol groups fills by base symbol, keeping chain order.
func kitFillsBySymbol(fills []file.Fill) map[string][]file.Fill {
	out := map[string][]file.Fill{}
	for _, f := range fills {
		out[string(f.Symbol.Base)] = append(out[string(f.Symbol.Base)], f)
	}
	return out
}

// readSample reads the demo fills of sources/file in chain order.
func kitReadSample(t testing.TB) []file.Fill {
	t.Helper()
	f, err := os.Open(kitSamplePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fills, bad, err := file.Read(f, true)
	if err != nil || len(bad) > 0 {
		t.Fatalf("read sample: %v %v", err, bad)
	}
	file.SortChainOrder(fills)
	return fills
}

var kitSamplePath = filepath.Join("..", "sources", "file", "testdata", "sample.jsonl")

// ---------------------------------------------------------------------------
// Independent FIFO PnL reference (big.Rat, signed lots)

func kitRat(d decimal.Decimal) *big.Rat { return d.Rat() }

// refLot is an open lot: qty is signed (long > 0, short < 0); onchain and
// at are the venue and time of the fill that opened it.
type kitRefLot struct {
	qty, price *big.Rat
	onchain    bool
	at         time.Time
}

// refBook is FIFO inventory: lots all of one sign, oldest first.
type kitRefBook struct {
	lots []kitRefLot
	cum  *big.Rat
	// buckets is the cumulative realized PnL by attribution: counter
	// trade, on-chain netting, directional exposure.
	buckets [3]*big.Rat
}

func kitNewRefBook() *kitRefBook {
	return &kitRefBook{cum: new(big.Rat), buckets: [3]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat)}}
}

// costBasis is the sum of signed qty x price over the open lots.
func (b *kitRefBook) costBasis() *big.Rat {
	c := new(big.Rat)
	for _, l := range b.lots {
		c.Add(c, new(big.Rat).Mul(l.qty, l.price))
	}
	return c
}

// fill books a signed quantity at price and returns the realized PnL, whether
// it only opened/added, and the net after. Closing against a lot of signed
// size q at cost c realizes (price - c) * used, with used carrying q's sign.
func (b *kitRefBook) fill(signed, price *big.Rat) (realized *big.Rat, opened bool, net *big.Rat) {
	return b.fillAt(signed, price, false, time.Time{})
}

// fillAt is fill from a venue at a time, attributing what it realizes: a
// close of an on-chain lot by an on-chain fill is netting, by an off-chain
// fill within 300 s of the lot a counter trade; the rest is directional.
func (b *kitRefBook) fillAt(signed, price *big.Rat, onchain bool, at time.Time) (realized *big.Rat, opened bool, net *big.Rat) {
	realized = new(big.Rat)
	left := new(big.Rat).Set(signed)
	if len(b.lots) == 0 || b.lots[0].qty.Sign() == left.Sign() {
		b.lots = append(b.lots, kitRefLot{qty: left, price: new(big.Rat).Set(price), onchain: onchain, at: at})
		opened = true
	} else {
		for len(b.lots) > 0 && left.Sign() != 0 {
			lot := b.lots[0]
			// used: what this fill takes from the lot, with the lot's sign.
			used := new(big.Rat).Neg(left)
			if new(big.Rat).Abs(used).Cmp(new(big.Rat).Abs(lot.qty)) >= 0 {
				used.Set(lot.qty)
			}
			gain := new(big.Rat).Sub(price, lot.price)
			gain.Mul(gain, used)
			realized.Add(realized, gain)
			bucket := 2
			if lot.onchain && onchain {
				bucket = 1
			} else if lot.onchain && at.Sub(lot.at) <= 300*time.Second {
				bucket = 0
			}
			b.buckets[bucket] = new(big.Rat).Add(b.buckets[bucket], gain)
			lot.qty = new(big.Rat).Sub(lot.qty, used)
			left.Add(left, used)
			if lot.qty.Sign() == 0 {
				b.lots = b.lots[1:]
			} else {
				b.lots[0] = lot
			}
		}
		if left.Sign() != 0 {
			b.lots = append(b.lots, kitRefLot{qty: left, price: new(big.Rat).Set(price), onchain: onchain, at: at})
		}
	}
	b.cum = new(big.Rat).Add(b.cum, realized)
	net = new(big.Rat)
	for _, l := range b.lots {
		net.Add(net, l.qty)
	}
	return realized, opened, net
}

// pnlWant is what the pnl stage must publish for one fill event.
type kitPnlWant struct {
	seq        uint64
	venue      pnl.Venue
	dir        market.Direction
	qty, price decimal.Decimal
	realized   *big.Rat
	opened     bool
	cum, net   *big.Rat
	occurredAt time.Time
	// buckets (cumulative, see kitRefBook) and the cost basis after it.
	buckets   [3]*big.Rat
	costBasis *big.Rat
}

// referencePnL runs the reference FIFO over a position's own event order:
// OnChainOrderFilled at price_usdc, OffChainOrderFilled at the fill price.
func kitReferencePnL(h *kitHistory) ([]kitPnlWant, error) {
	book := kitNewRefBook()
	var out []kitPnlWant
	for _, e := range h.events {
		ev, err := position.Events.Decode(e.EventType, e.Payload)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", h.id, e.Sequence, err)
		}
		w := kitPnlWant{seq: e.Sequence}
		switch v := ev.(type) {
		case position.OnChainOrderFilled:
			w.venue, w.dir, w.qty, w.price, w.occurredAt = pnl.Onchain, v.Direction, v.Amount, v.PriceUSDC, v.BlockTimestamp
		case position.OffChainOrderFilled:
			w.venue, w.dir, w.qty, w.price, w.occurredAt = pnl.Offchain, v.Direction, v.SharesFilled, v.Price, v.BrokerTimestamp
		case position.OnChainFillReverted: // booked as its opposite at the same price
			w.venue, w.dir, w.qty, w.price, w.occurredAt = pnl.Onchain, v.Direction.Opposite(), v.Amount, v.PriceUSDC, v.RevertedAt
		default:
			continue
		}
		w.realized, w.opened, w.net = book.fillAt(kitRat(w.dir.Signed(w.qty)), kitRat(w.price), w.venue == pnl.Onchain, w.occurredAt)
		w.cum, w.buckets, w.costBasis = book.cum, book.buckets, book.costBasis()
		out = append(out, w)
	}
	return out, nil
}

// comparePnL checks the published records of a symbol against want, field
// by field. withTime false skips occurred_at of off-chain records (it is
// the broker's wall-clock fill time).
func kitComparePnL(symbol string, got []pnl.Record, want []kitPnlWant, offchainTime bool) []string {
	var problems []string
	if len(got) != len(want) {
		problems = append(problems, fmt.Sprintf("pnl %s: %d records, want %d", symbol, len(got), len(want)))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		var diffs []string
		cmpf := func(field string, ok bool, gv, wv any) {
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s %v want %v", field, gv, wv))
			}
		}
		cmpf("symbol", string(g.Symbol) == symbol, g.Symbol, symbol)
		cmpf("position_sequence", g.PositionSequence == w.seq, g.PositionSequence, w.seq)
		cmpf("venue", g.Venue == w.venue, g.Venue, w.venue)
		cmpf("direction", g.Direction == w.dir, g.Direction, w.dir)
		cmpf("quantity", g.Quantity.Equal(w.qty), g.Quantity, w.qty)
		cmpf("price", g.Price.Equal(w.price), g.Price, w.price)
		cmpf("realized_pnl", kitRat(g.RealizedPnL).Cmp(w.realized) == 0, g.RealizedPnL, w.realized.FloatString(18))
		cmpf("opened", g.Opened == w.opened, g.Opened, w.opened)
		cmpf("cumulative_pnl", kitRat(g.CumulativePnL).Cmp(w.cum) == 0, g.CumulativePnL, w.cum.FloatString(18))
		cmpf("net_position_after", kitRat(g.NetPositionAfter).Cmp(w.net) == 0, g.NetPositionAfter, w.net.FloatString(18))
		if w.costBasis != nil {
			cmpf("cost_basis", g.CostBasis != nil && kitRat(*g.CostBasis).Cmp(w.costBasis) == 0, g.CostBasis, w.costBasis.FloatString(18))
		}
		if w.venue == pnl.Onchain || offchainTime {
			cmpf("occurred_at", g.OccurredAt.Equal(w.occurredAt), g.OccurredAt, w.occurredAt)
		}
		if len(diffs) > 0 {
			problems = append(problems, fmt.Sprintf("pnl %s record %d (seq %d): %s", symbol, i, w.seq, strings.Join(diffs, "; ")))
			if len(problems) > 20 {
				return problems
			}
		}
	}
	return problems
}

// ---------------------------------------------------------------------------
// Position model: what the position's events must say

// posSummary is what replaying a position's events (independently of the
// position package's Evolve) gives.
type kitPosSummary struct {
	symbol   string
	net      decimal.Decimal
	onchain  decimal.Decimal // signed on-chain volume
	hedged   decimal.Decimal // signed filled hedges
	pending  *position.OffChainOrderPlaced
	trades   []market.TradeID // every applied fill, also one reverted later
	reverted []market.TradeID
	placed   map[string]position.OffChainOrderPlaced
	filled   map[string]position.OffChainOrderFilled
	failed   map[string]position.OffChainOrderFailed
	fillEvts int // OnChainOrderFilled + OffChainOrderFilled + OnChainFillReverted
}

// checkPosition replays a position's history with the whole-share,
// threshold-1 dry-run rules and reports every broken rule (see
// kitCheckPositionAt).
func kitCheckPosition(h *kitHistory) (kitPosSummary, []string) {
	return kitCheckPositionAt(h, market.DryRun)
}

// kitCheckPositionAt replays a position's history with the whole-share,
// threshold-1 rules of broker and reports every broken rule: the first
// event opens it (threshold 1 share, broker, whole shares), a hedge is placed
// only with nothing pending, in the direction opposite to net, for
// trunc(|net|) shares at the last on-chain price with the deterministic
// execution id of its sequence; an outcome matches the pending hedge; after
// every command nothing pending means |net| < 1.
func kitCheckPositionAt(h *kitHistory, broker market.Broker) (kitPosSummary, []string) {
	s := kitPosSummary{symbol: h.id, placed: map[string]position.OffChainOrderPlaced{},
		filled: map[string]position.OffChainOrderFilled{}, failed: map[string]position.OffChainOrderFailed{}}
	var problems []string
	bad := func(e kitEvent, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("position %s#%d %s: %s", h.id, e.Sequence, e.EventType, fmt.Sprintf(format, args...)))
	}
	one := decimal.NewFromInt(1)
	var lastPrice *decimal.Decimal
	for i, e := range h.events {
		ev, err := position.Events.Decode(e.EventType, e.Payload)
		if err != nil {
			bad(e, "decode: %v", err)
			continue
		}
		if e.AggregateType != topics.Position {
			bad(e, "aggregate type %q", e.AggregateType)
		}
		switch v := ev.(type) {
		case position.Initialized:
			if i != 0 {
				bad(e, "not the first event")
			}
			if string(v.Symbol) != h.id || v.Threshold.String() != "1 shares" || v.Execution.Broker != broker || v.Execution.Fractional {
				bad(e, "opened as %+v", v)
			}
		case position.OnChainOrderFilled:
			signed := v.Direction.Signed(v.Amount)
			s.net = s.net.Add(signed)
			s.onchain = s.onchain.Add(signed)
			s.trades = append(s.trades, v.TradeID)
			p := v.PriceUSDC
			lastPrice = &p
			s.fillEvts++
		case position.OnChainFillReverted:
			signed := v.Direction.Signed(v.Amount)
			s.net = s.net.Sub(signed)
			s.onchain = s.onchain.Sub(signed)
			s.reverted = append(s.reverted, v.TradeID)
			s.fillEvts++
		case position.OffChainOrderPlaced:
			want, _ := position.HedgeDirection(s.net)
			shares := s.net.Abs().Truncate(0)
			switch {
			case s.pending != nil:
				bad(e, "placed while %s is pending", s.pending.ExecutionID)
			case v.Direction != want:
				bad(e, "direction %s, net %s needs %s", v.Direction, s.net, want)
			case !v.Shares.Equal(shares) || shares.LessThan(one):
				bad(e, "shares %s, net %s needs trunc(|net|) = %s", v.Shares, s.net, shares)
			case !v.TriggerReason.NetPosition.Equal(s.net):
				bad(e, "trigger net %s, replayed net %s", v.TriggerReason.NetPosition, s.net)
			case v.ExecutionID != position.ExecutionID(market.Symbol(h.id), e.Sequence):
				bad(e, "execution id %s is not ExecutionID(%s, %d)", v.ExecutionID, h.id, e.Sequence)
			case lastPrice == nil || v.ReferencePrice == nil || !v.ReferencePrice.Equal(*lastPrice):
				bad(e, "reference price %v, last on-chain price %v", v.ReferencePrice, lastPrice)
			case v.Broker != broker:
				bad(e, "broker %s", v.Broker)
			}
			if _, dup := s.placed[v.ExecutionID]; dup {
				bad(e, "execution id %s placed twice", v.ExecutionID)
			}
			s.placed[v.ExecutionID] = v
			p := v
			s.pending = &p
		case position.OffChainOrderFilled:
			switch {
			case s.pending == nil || s.pending.ExecutionID != v.ExecutionID:
				bad(e, "fill of %s, pending %v", v.ExecutionID, s.pending)
			case !v.SharesFilled.Equal(s.pending.Shares) || v.Direction != s.pending.Direction:
				bad(e, "filled %s %s of pending %s %s", v.Direction, v.SharesFilled, s.pending.Direction, s.pending.Shares)
			}
			if !v.Price.IsPositive() {
				bad(e, "price %s", v.Price)
			}
			signed := v.Direction.Signed(v.SharesFilled)
			s.net = s.net.Add(signed)
			s.hedged = s.hedged.Add(signed)
			s.filled[v.ExecutionID] = v
			s.pending = nil
			s.fillEvts++
		case position.OffChainOrderFailed:
			if s.pending == nil || s.pending.ExecutionID != v.ExecutionID {
				bad(e, "failure of %s, pending %v", v.ExecutionID, s.pending)
			}
			s.failed[v.ExecutionID] = v
			s.pending = nil
		default:
			bad(e, "unexpected event")
		}
		lastOfCommand := i == len(h.events)-1 || h.events[i+1].CommandID != e.CommandID
		if lastOfCommand && s.pending == nil && s.net.Abs().GreaterThanOrEqual(one) {
			bad(e, "command %s left net %s over the threshold with nothing pending", e.CommandID, s.net)
		}
	}
	return s, problems
}

// ---------------------------------------------------------------------------
// The whole pipeline's output

// snapshot is everything the pipeline published, read at one moment.
type kitSnapshot struct {
	positions map[string]*kitHistory
	trades    map[string]*kitHistory // by onchain-trade aggregate id (tx:log)
	orders    map[string]*kitHistory // by execution id
	pnl       map[string][]pnl.Record
	problems  []string // duplicates with different content, gaps
	repeats   int      // records dropped as exact repeats (redelivered outputs)
}

func kitTakeSnapshot(addr string) (*kitSnapshot, error) {
	s := &kitSnapshot{}
	read := func(topic string) (map[string]*kitHistory, error) {
		recs, err := kitReadTopicErr(addr, topic)
		if err != nil {
			return nil, err
		}
		evs, err := kitDecodeEvents(recs)
		if err != nil {
			return nil, err
		}
		hs, problems := kitFoldHistories(evs)
		s.problems = append(s.problems, problems...)
		n := 0
		for _, h := range hs {
			n += len(h.events)
		}
		s.repeats += len(evs) - n
		return hs, nil
	}
	var err error
	if s.positions, err = read(topics.PositionEvents); err != nil {
		return nil, err
	}
	if s.trades, err = read(topics.OnChainTradeEvents); err != nil {
		return nil, err
	}
	if s.orders, err = read(topics.OffchainOrderEvents); err != nil {
		return nil, err
	}
	recs, err := kitReadTopicErr(addr, topics.PnLEvents)
	if err != nil {
		return nil, err
	}
	prs, err := kitDecodePnL(recs)
	if err != nil {
		return nil, err
	}
	var problems []string
	s.pnl, problems = kitDedupePnL(prs)
	s.problems = append(s.problems, problems...)
	for _, r := range s.pnl {
		s.repeats -= len(r)
	}
	s.repeats += len(prs)
	return s, nil
}

// settled reports whether every fill reached its position, every position
// is hedged below the threshold with nothing pending, and PnL caught up; if
// not, it says what is missing.
func (s *kitSnapshot) settled(fills []file.Fill) (bool, string) {
	bySym := kitFillsBySymbol(fills)
	var waiting []string
	for sym, fs := range bySym {
		h := s.positions[sym]
		if h == nil {
			waiting = append(waiting, sym+": no events")
			continue
		}
		sum, _ := kitCheckPosition(h)
		switch {
		case len(sum.trades) < len(fs):
			waiting = append(waiting, fmt.Sprintf("%s: %d/%d fills", sym, len(sum.trades), len(fs)))
		case sum.pending != nil:
			waiting = append(waiting, fmt.Sprintf("%s: hedge %s pending", sym, sum.pending.ExecutionID))
		case sum.net.Abs().GreaterThanOrEqual(decimal.NewFromInt(1)):
			waiting = append(waiting, fmt.Sprintf("%s: net %s unhedged", sym, sum.net))
		case len(s.pnl[sym]) < sum.fillEvts:
			waiting = append(waiting, fmt.Sprintf("%s: %d/%d pnl records", sym, len(s.pnl[sym]), sum.fillEvts))
		default:
			waiting = append(waiting, s.ordersBehind(sym, sum)...)
		}
	}
	// The trade manager runs in the onchain-trade aggregate's callback, so a
	// position can apply a fill whose trade event is still to come: its
	// produce failed (a full disk) and the restarted stage emits it again.
	recorded := 0
	for _, f := range fills {
		if s.trades[f.TradeID.String()] != nil {
			recorded++
		}
	}
	if recorded < len(fills) {
		waiting = append(waiting, fmt.Sprintf("%d/%d onchain trades recorded", recorded, len(fills)))
	}
	sort.Strings(waiting)
	return len(waiting) == 0, strings.Join(waiting, ", ")
}

// ordersBehind names each hedge a position has an outcome for whose
// offchain order has not yet recorded that outcome. The order tracker runs
// in the offchain-order aggregate's callback, so the position can learn of a
// fill while the order's own events are still being produced (a retried
// produce request): the log converges, but a snapshot can see the position
// first.
func (s *kitSnapshot) ordersBehind(sym string, sum kitPosSummary) []string {
	var behind []string
	want := func(id, last string) {
		h := s.orders[id]
		if h == nil || len(h.events) == 0 || !strings.HasSuffix(h.events[len(h.events)-1].EventType, last) {
			behind = append(behind, fmt.Sprintf("%s: order %s not yet %s", sym, id, last))
		}
	}
	for id := range sum.filled {
		want(id, "Filled")
	}
	for id := range sum.failed {
		want(id, "Failed")
	}
	return behind
}

// diagnose says more about a snapshot that did not settle: the problems
// found in the event topics (gaps, conflicts) and the last events of each
// position named in status, so a failure report shows where it stopped.
func (s *kitSnapshot) diagnose(status string) string {
	var b strings.Builder
	for i, p := range s.problems {
		if i == 8 {
			fmt.Fprintf(&b, "\n  ... %d more problems", len(s.problems)-i)
			break
		}
		fmt.Fprintf(&b, "\n  problem: %s", p)
	}
	for sym, h := range s.positions {
		if !strings.Contains(status, sym+":") {
			continue
		}
		for _, e := range h.events[max(0, len(h.events)-6):] {
			fmt.Fprintf(&b, "\n  %s #%d %s @%d/%d %.200s", sym, e.Sequence, e.EventType, e.partition, e.offset, e.raw)
		}
	}
	return b.String()
}

// waitFor polls cond until it holds or timeout passes.
func kitWaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	status := ""
	for {
		ok, st := cond()
		if ok {
			return
		}
		status = st
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s: %s", what, timeout, status)
		}
		time.Sleep(150 * time.Millisecond) // poll interval, not a wait for a result
	}
}

// kitEnds sums the high watermarks of each topic.
type kitEnds struct {
	adm *kadm.Client
}

func newKitEnds(t testing.TB, addr string) kitEnds {
	t.Helper()
	cl, err := kgo.NewClient(kitCluster(addr).Opts()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kitEnds{kadm.NewClient(cl)}
}

func (k kitEnds) get(topicNames ...string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := k.adm.ListEndOffsets(ctx, topicNames...)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Topic] += o.Offset })
	return out, nil
}

// kitWaitSettled waits until the pipeline has worked through fills and
// returns the settled snapshot. Topics are read in full only when their
// high watermarks moved and pnl.events has at least one record per fill, so
// that polling does not starve the pipeline of CPU.
func kitWaitSettled(t testing.TB, addr string, fills []file.Fill, timeout time.Duration, alive ...func(testing.TB)) *kitSnapshot {
	t.Helper()
	var snap *kitSnapshot
	start := time.Now()
	ends := newKitEnds(t, addr)
	watched := []string{topics.OnChainTradeEvents, topics.PositionEvents, topics.OffchainOrderEvents, topics.PnLEvents}
	last, status := "", ""
	kitWaitFor(t, timeout, "pipeline settled", func() (bool, string) {
		for _, a := range alive {
			a(t)
		}
		e, err := ends.get(watched...)
		if err != nil {
			return false, err.Error()
		}
		if e[topics.PnLEvents] < int64(len(fills)) {
			return false, fmt.Sprintf("%d/%d pnl records or more", e[topics.PnLEvents], len(fills))
		}
		if key := fmt.Sprint(e); key != last {
			last = key
			s, err := kitTakeSnapshot(addr)
			if err != nil {
				return false, err.Error()
			}
			snap = s
			var ok bool
			if ok, status = s.settled(fills); ok {
				return true, ""
			}
			status += s.diagnose(status)
		}
		return false, status
	})
	t.Logf("settled %d fills in %s", len(fills), time.Since(start).Round(time.Millisecond))
	return snap
}

// kitRefusedUnplaced says an order no position placed went Placed -> Failed
// with the order manager's "not placed" reason: a hand-made Place.
func kitRefusedUnplaced(h *kitHistory) bool {
	return len(h.events) == 2 && h.events[1].EventType == (offchainorder.Failed{}).EventType() &&
		strings.Contains(string(h.events[1].raw), "not placed")
}

// checkFinal asserts everything about a settled pipeline that processed
// exactly fills: each fill applied once to its position and recorded as one
// OnChainTrade Filled event; position rules and hedges; offchain orders
// Placed -> Submitted -> Filled; the dry-run ledgers; PnL equal to the
// reference FIFO over each position's own event order; no two different
// events under one (aggregate_id, sequence) on any events topic.
func kitCheckFinal(t testing.TB, snap *kitSnapshot, fills []file.Fill, ledgers []string) map[string]kitPosSummary {
	t.Helper()
	return kitCheckFinalAt(t, snap, fills, market.DryRun, func(placed map[string]position.OffChainOrderPlaced,
		filled map[string]position.OffChainOrderFilled) []string {
		return kitCheckLedgers(ledgers, placed, filled)
	})
}

// kitCheckFinalAt is kitCheckFinal for hedges at broker, whose own record
// of the orders checkOrders compares with the hedges the positions placed
// and saw filled (by execution id).
func kitCheckFinalAt(t testing.TB, snap *kitSnapshot, fills []file.Fill, broker market.Broker,
	checkOrders func(placed map[string]position.OffChainOrderPlaced, filled map[string]position.OffChainOrderFilled) []string) map[string]kitPosSummary {
	t.Helper()
	var problems []string
	problems = append(problems, snap.problems...)
	one := decimal.NewFromInt(1)

	// On-chain trades: one Filled per fill, as witnessed.
	want := map[string]file.Fill{}
	for _, f := range fills {
		want[f.TradeID.String()] = f
	}
	for id, h := range snap.trades {
		f, ok := want[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("onchain trade %s: not a fill of this test", id))
			continue
		}
		// A Filled, then at most one Enriched (the chain source's gas and
		// Pyth data).
		enrichedOK := len(h.events) == 1 || (len(h.events) == 2 && h.events[1].EventType == (onchaintrade.Enriched{}).EventType())
		if !enrichedOK || h.events[0].EventType != (onchaintrade.Filled{}).EventType() {
			problems = append(problems, fmt.Sprintf("onchain trade %s: %d events, want one Filled (and at most one Enriched)", id, len(h.events)))
			continue
		}
		ev, err := onchaintrade.Events.Decode(h.events[0].EventType, h.events[0].Payload)
		if err != nil {
			problems = append(problems, fmt.Sprintf("onchain trade %s: %v", id, err))
			continue
		}
		v := ev.(onchaintrade.Filled)
		if v.TradeID != f.TradeID || v.Symbol != f.Symbol.String() || v.BaseSymbol != f.Symbol.Base ||
			!v.Amount.Equal(f.Amount) || v.Direction != f.Direction || !v.PriceUSDC.Equal(f.PriceUSDC) ||
			v.BlockNumber != f.BlockNumber || !v.BlockTimestamp.Equal(f.BlockTimestamp) {
			problems = append(problems, fmt.Sprintf("onchain trade %s: Filled %+v does not match the fill %+v", id, v, f))
		}
	}
	if len(snap.trades) != len(want) {
		problems = append(problems, fmt.Sprintf("%d onchain trades recorded, want %d", len(snap.trades), len(want)))
	}

	// Positions.
	bySym := kitFillsBySymbol(fills)
	sums := map[string]kitPosSummary{}
	placed := map[string]position.OffChainOrderPlaced{}
	filled := map[string]position.OffChainOrderFilled{}
	failedCount := 0
	for sym, h := range snap.positions {
		sum, ps := kitCheckPositionAt(h, broker)
		problems = append(problems, ps...)
		sums[sym] = sum
		fs := bySym[sym]
		if len(sum.trades) != len(fs) {
			problems = append(problems, fmt.Sprintf("position %s: %d on-chain fills applied, want %d", sym, len(sum.trades), len(fs)))
		}
		for i := range min(len(sum.trades), len(fs)) {
			if sum.trades[i] != fs[i].TradeID {
				problems = append(problems, fmt.Sprintf("position %s: fill %d is %s, want %s (chain order, each once)", sym, i, sum.trades[i], fs[i].TradeID))
				break
			}
		}
		signed := decimal.Zero
		for _, f := range fs {
			signed = signed.Add(f.Direction.Signed(f.Amount))
		}
		if !sum.onchain.Equal(signed) {
			problems = append(problems, fmt.Sprintf("position %s: on-chain volume %s, fills sum to %s", sym, sum.onchain, signed))
		}
		if !sum.net.Equal(signed.Add(sum.hedged)) {
			problems = append(problems, fmt.Sprintf("position %s: net %s != on-chain %s + hedges %s", sym, sum.net, signed, sum.hedged))
		}
		if sum.pending != nil || sum.net.Abs().GreaterThanOrEqual(one) {
			problems = append(problems, fmt.Sprintf("position %s: final net %s, pending %v: not hedged below 1 share", sym, sum.net, sum.pending))
		}
		if len(sum.failed) > 0 {
			problems = append(problems, fmt.Sprintf("position %s: %d hedges failed: %v", sym, len(sum.failed), sum.failed))
		}
		failedCount += len(sum.failed)
		for id, p := range sum.placed {
			placed[id] = p
		}
		for id, f := range sum.filled {
			filled[id] = f
		}

		// PnL against the reference FIFO over this position's event order.
		ref, err := kitReferencePnL(h)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		problems = append(problems, kitComparePnL(sym, snap.pnl[sym], ref, true)...)
	}
	for sym := range bySym {
		if snap.positions[sym] == nil {
			problems = append(problems, fmt.Sprintf("position %s: no events", sym))
		}
	}
	for sym := range snap.pnl {
		if snap.positions[sym] == nil {
			problems = append(problems, fmt.Sprintf("pnl records for %s, which has no position", sym))
		}
	}

	// Offchain orders: one per placed hedge; Placed -> Submitted -> Filled
	// for every hedge the position saw filled, at the same price.
	for id, h := range snap.orders {
		p, ok := placed[id]
		if !ok && kitRefusedUnplaced(h) {
			continue // made by hand, refused by the order manager, never at the broker
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("offchain order %s: no OffChainOrderPlaced for it", id))
			continue
		}
		var types []string
		for _, e := range h.events {
			types = append(types, strings.TrimPrefix(e.EventType, "OffchainOrderEvent::"))
		}
		got := strings.Join(types, ">")
		if f, ok := filled[id]; ok {
			if got != "Placed>Submitted>Filled" {
				problems = append(problems, fmt.Sprintf("offchain order %s: %s, want Placed>Submitted>Filled", id, got))
				continue
			}
			pl, _ := offchainorder.Events.Decode(h.events[0].EventType, h.events[0].Payload)
			fl, _ := offchainorder.Events.Decode(h.events[2].EventType, h.events[2].Payload)
			pv, fv := pl.(offchainorder.Placed), fl.(offchainorder.Filled)
			if pv.Symbol != p.Symbol || !pv.Shares.Equal(p.Shares) || pv.Direction != p.Direction || !fv.Price.Equal(f.Price) {
				problems = append(problems, fmt.Sprintf("offchain order %s: %+v / %+v vs position's %+v / %+v", id, pv, fv, p, f))
			}
		} else if !strings.HasSuffix(got, "Failed") {
			problems = append(problems, fmt.Sprintf("offchain order %s: %s, but the position has no outcome for it", id, got))
		}
	}
	for id := range placed {
		if snap.orders[id] == nil {
			problems = append(problems, fmt.Sprintf("hedge %s: no offchain order", id))
		}
	}

	problems = append(problems, checkOrders(placed, filled)...)

	t.Logf("checked %d fills, %d positions, %d hedges filled, %d failed, %d repeated records dropped",
		len(fills), len(snap.positions), len(filled), failedCount, snap.repeats)
	kitReport(t, problems)
	return sums
}

// kitCheckLedgers checks the dry-run ledgers: no client order id twice;
// every filled hedge was accepted as placed, at the price it filled at.
func kitCheckLedgers(ledgers []string, placed map[string]position.OffChainOrderPlaced, filled map[string]position.OffChainOrderFilled) []string {
	var problems []string
	inLedger := map[string]dryrun.LedgerEntry{}
	for _, path := range ledgers {
		entries, err := dryrun.ReadLedger(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("ledger %s: %v", path, err))
			continue
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e.ClientOrderID] {
				problems = append(problems, fmt.Sprintf("ledger %s: client order id %s twice", path, e.ClientOrderID))
			}
			seen[e.ClientOrderID] = true
			if _, dup := inLedger[e.ClientOrderID]; dup {
				problems = append(problems, fmt.Sprintf("client order id %s in two ledgers", e.ClientOrderID))
			}
			inLedger[e.ClientOrderID] = e
			p, ok := placed[e.ClientOrderID]
			if !ok {
				problems = append(problems, fmt.Sprintf("ledger %s: order %s was never placed by a position", path, e.ClientOrderID))
				continue
			}
			if e.Symbol != p.Symbol || e.Side != p.Direction || !e.Quantity.Equal(p.Shares) || p.ReferencePrice == nil || !e.Price.Equal(*p.ReferencePrice) {
				problems = append(problems, fmt.Sprintf("ledger %s: %+v does not match hedge %+v", path, e, p))
			}
		}
	}
	for id, f := range filled {
		e, ok := inLedger[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("hedge %s filled but not in any ledger", id))
			continue
		}
		if !e.Price.Equal(f.Price) || e.BrokerOrderID != f.BrokerOrderID {
			problems = append(problems, fmt.Sprintf("hedge %s filled at %s (%s), ledger says %s (%s)", id, f.Price, f.BrokerOrderID, e.Price, e.BrokerOrderID))
		}
	}
	return problems
}

// kitRejectionTopics are every aggregate's rejections topic.
var kitRejectionTopics = []string{topics.OnChainTradeRejections, topics.PositionRejections, topics.OffchainOrderRejections, topics.BrokerAuthRejections}

var kitIDs = regexp.MustCompile(`0x[0-9a-f]+(:[0-9]+)?|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]+`)

// kitRejectionSummary counts the records on every rejections topic by
// topic and the start of their reason (ids cut off).
func kitRejectionSummary(t testing.TB, addr string) (map[string]int, int) {
	t.Helper()
	out, n := map[string]int{}, 0
	for _, topic := range kitRejectionTopics {
		for _, r := range kitReadRejections(t, addr, topic) {
			reason := kitIDs.ReplaceAllString(r.Reason, "#")
			if len(reason) > 140 {
				reason = reason[:140] + "..."
			}
			out[topic+": "+reason]++
			n++
		}
	}
	return out, n
}

// report fails the test with up to 30 problems.
func kitReport(t testing.TB, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	slices.Sort(problems)
	n := len(problems)
	if n > 30 {
		problems = append(problems[:30], fmt.Sprintf("... and %d more", n-30))
	}
	t.Errorf("%d problems:\n%s", n, strings.Join(problems, "\n"))
}
