package sinks

// Shared test harness: one embedded ClickHouse per test process (libchdb
// hosts one engine per process lifetime), started by TestMain; each test
// gets its own database. Kafka is an embedded kfake broker per test.
//
// The outage test needs a ClickHouse it can kill and restart: it re-execs
// this test binary with envChild set, and the child runs an engine on a
// given data dir and port (embedded/clickhouse.Run) until SIGTERM.

import (
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	chembed "github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/topics"
)

const (
	envChild     = "HEDGELINE_SINKS_TEST_CH_CHILD"
	envChildDir  = "HEDGELINE_SINKS_TEST_CH_DIR"
	envChildPort = "HEDGELINE_SINKS_TEST_CH_PORT"

	testPartitions = 3

	// testCluster is defined on the shared engine (one shard, one
	// replica: itself), for the cluster DDL tests (cluster_test.go).
	testCluster = "hedgeline_test"
)

var (
	chServer  *chembed.Server // nil when ClickHouse tests are skipped
	chSkip    string          // why they are skipped
	chLibPath string
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runChildClickHouse())
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	lib, err := chembed.CachedLibPath()
	if err != nil && os.Getenv("CI") == "true" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		lib, err = chembed.LibPath(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "sinks tests: CI=true and libchdb.so is unavailable: %v\n", err)
			return 1
		}
	}
	if err != nil {
		chSkip = fmt.Sprintf("ClickHouse tests skipped: %v (set CI=true to fetch the library and fail instead)", err)
		return m.Run()
	}
	chLibPath = lib
	dir, err := os.MkdirTemp("", "sinks-ch-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sinks tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	chServer, err = chembed.Start(ctx, chembed.Config{DataDir: dir, LibPath: lib, Cluster: testCluster})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sinks tests: start embedded ClickHouse:", err)
		return 1
	}
	code := m.Run()
	// Every test closed its connections (t.Cleanup); an open one at Stop
	// could take the process down.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
	defer stopCancel()
	if err := chServer.Stop(stopCtx); err != nil {
		fmt.Fprintln(os.Stderr, "sinks tests: stop ClickHouse:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// runChildClickHouse is the child process of the outage test.
func runChildClickHouse() int {
	port, err := strconv.Atoi(os.Getenv(envChildPort))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bad port:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := chembed.Run(ctx, chembed.Config{DataDir: os.Getenv(envChildDir), TCPPort: port, LibPath: os.Getenv(chembed.EnvLib)}); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// needCH skips the test when no ClickHouse is available.
func needCH(t testing.TB) {
	t.Helper()
	if chServer == nil {
		t.Skip(chSkip)
	}
}

var dbNameRE = regexp.MustCompile(`[^a-z0-9_]+`)

// dbNamesUsed counts the databases testDB made per test name: a test run
// again in the same process (-count) gets a fresh one.
var dbNamesUsed = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// testDB opens (and migrates) a fresh database named after the test on the
// shared engine. It is closed at cleanup.
func testDB(t testing.TB) *DB {
	t.Helper()
	needCH(t)
	base := "t_" + dbNameRE.ReplaceAllString(strings.ToLower(t.Name()), "_")
	dbNamesUsed.Lock()
	n := dbNamesUsed.n[base]
	dbNamesUsed.n[base]++
	dbNamesUsed.Unlock()
	name := base
	if n > 0 {
		name += "_run" + strconv.Itoa(n+1)
	}
	return openDB(t, chServer.Addr(), name, true)
}

func openDB(t testing.TB, addr, name string, migrate bool) *DB {
	t.Helper()
	ctx := testCtx(t)
	db, err := Open(ctx, Config{Addr: addr, Database: name, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if migrate {
		if _, err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) (*slog.Logger, *testlog.Buffer) {
	sink := &testlog.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			out := sink.String()
			if len(out) > 8000 {
				out = "...\n" + out[len(out)-8000:]
			}
			t.Logf("--- log ---\n%s", out)
		}
	})
	return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo})), sink
}

// startKafka starts an embedded broker with the catalog topics.
func startKafka(t testing.TB) string {
	t.Helper()
	log, _ := testLogger(t)
	b, err := kafka.Start(kafka.Config{Listen: "127.0.0.1:0", Partitions: testPartitions, GroupMinSessionTimeout: 200 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := topics.Ensure(testCtx(t), kadm.NewClient(cl), topics.Catalog(testPartitions, 1)); err != nil {
		t.Fatal(err)
	}
	return b.Addr()
}

// producer is a franz-go client with the catalog partitioner.
func producer(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(topics.ClientOpts(kafkasec.Plaintext(addr))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t testing.TB, addr, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// runner runs a projector in the background and tracks its commits.
type runner struct {
	pr     *Projector
	cancel context.CancelFunc
	done   chan error

	stopOnce  sync.Once
	mu        sync.Mutex
	committed map[int32]int64
	batches   []BatchInfo
}

func startProjector(t testing.TB, w Writer, addr string, p Projection, opts Options) *runner {
	t.Helper()
	r := &runner{done: make(chan error, 1), committed: map[int32]int64{}}
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	user := opts.OnBatch
	opts.OnBatch = func(b BatchInfo) {
		r.mu.Lock()
		for p, o := range b.CommitTo {
			r.committed[p] = o
		}
		r.batches = append(r.batches, b)
		r.mu.Unlock()
		if user != nil {
			user(b)
		}
	}
	opts.KafkaOpts = append(opts.KafkaOpts, kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100*time.Millisecond))
	pr, err := NewProjector(w, kafkasec.Plaintext(addr), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.pr = pr
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- pr.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runner) stop(t testing.TB) {
	t.Helper()
	r.stopOnce.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("projector: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("projector did not stop within 30 s")
		}
	})
}

// waitCommitted waits until the projector committed up to every end offset
// of its topic.
func (r *runner) waitCommitted(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	want := endOffsets(t, addr, r.pr.p.Topic())
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		ok := true
		for p, end := range want {
			if end > 0 && r.committed[p] < end {
				ok = false
			}
		}
		got := fmt.Sprint(r.committed)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("projector exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("projector %s committed %s after %s, want %v", r.pr.p.Name(), got, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var named = clickhouse.Named
