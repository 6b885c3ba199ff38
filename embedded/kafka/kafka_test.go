package kafka

import (
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Child-process mode: the kill test re-executes this test binary with
// childEnv set, and TestMain then runs a broker (Run) instead of the tests.
const (
	childEnv        = "HEDGELINE_KAFKA_TEST_CHILD"
	childListenEnv  = "HEDGELINE_KAFKA_TEST_LISTEN"
	childDataDirEnv = "HEDGELINE_KAFKA_TEST_DATA_DIR"
	childSyncEnv    = "HEDGELINE_KAFKA_TEST_SYNC"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild is what `hedgeline broker` does: Run with a SIGTERM-cancelled
// context.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := Run(ctx, Config{
		Listen:                 os.Getenv(childListenEnv),
		DataDir:                os.Getenv(childDataDirEnv),
		SyncWrites:             os.Getenv(childSyncEnv) == "1",
		GroupMinSessionTimeout: 500 * time.Millisecond,
		Logger:                 logger,
	})
	if err != nil {
		logger.Error("broker failed", "err", err)
		return 1
	}
	return 0
}

// quietLogger keeps kfake's warnings in the test log instead of stderr.
func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(t)
	}
	if cfg.GroupMinSessionTimeout == 0 {
		cfg.GroupMinSessionTimeout = 500 * time.Millisecond
	}
	b, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(10 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, name string, parts int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, parts, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i%7)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeAll reads topic from the start until want records arrived.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, want int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: got %d of %d records: %v", topic, len(got), want, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	cl.Close()
	return got
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	ok := Config{Listen: "0.0.0.0:19092", Advertise: "broker.local:19092", DataDir: "/x", SyncWrites: true, Partitions: 3, GroupMinSessionTimeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := Config{Listen: "nohost", Advertise: "h:0", SyncWrites: true, Partitions: -1, GroupMinSessionTimeout: -time.Second}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"listen", "advertise", "sync writes need a data dir", "partitions", "session timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Start(bad); err == nil {
		t.Fatal("Start accepted an invalid config")
	}
}

func TestProduceConsume(t *testing.T) {
	b := startBroker(t, Config{Partitions: 2})
	ctx := testCtx(t, 15*time.Second)
	adm := kadm.NewClient(newClient(t, b.Addr()))

	// Broker default partition count (-1) comes from Config.Partitions.
	createTopic(t, ctx, adm, "orders", -1, nil)
	td, err := adm.ListTopics(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["orders"].Partitions); n != 2 {
		t.Fatalf("partitions = %d, want 2", n)
	}

	// No auto-creation: producing to an unknown topic fails.
	pcl := newClient(t, b.Addr(), kgo.RecordDeliveryTimeout(time.Second))
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "nope", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce to a missing topic succeeded: auto topic creation is on")
	}

	produceN(t, ctx, pcl, "orders", 0, 50)
	got := consumeAll(t, ctx, b.Addr(), "orders", 50)
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	if len(got) != 50 || len(seen) != 50 {
		t.Fatalf("consumed %d records (%d distinct), want 50", len(got), len(seen))
	}
}

// TestPersistenceAcrossRestart: topics (with configs), records and committed
// group offsets survive Close + Start on the same data dir.
func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 20*time.Second)

	b := startBroker(t, Config{DataDir: dir})
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	compact := "compact"
	createTopic(t, ctx, adm, "events", 3, map[string]*string{"cleanup.policy": &compact})
	produceN(t, ctx, cl, "events", 0, 30)

	// A group consumes everything and commits.
	gcl := newClient(t, b.Addr(), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(200*time.Millisecond))
	for n := 0; n < 30; {
		fs := gcl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consume: %v", ctx.Err())
		}
		n += fs.NumRecords()
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	gcl.Close()
	before, err := adm.FetchOffsets(ctx, "g1")
	if err != nil || before.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, before.Error())
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	b2 := startBroker(t, Config{DataDir: dir})
	adm2 := kadm.NewClient(newClient(t, b2.Addr()))
	td, err := adm2.ListTopics(ctx, "events")
	if err != nil || td["events"].Err != nil {
		t.Fatalf("list topics after restart: %v %v", err, td["events"].Err)
	}
	if n := len(td["events"].Partitions); n != 3 {
		t.Fatalf("partitions after restart = %d, want 3", n)
	}
	rc, err := adm2.DescribeTopicConfigs(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := configValue(c.Configs, "cleanup.policy"); v != "compact" {
		t.Fatalf("cleanup.policy after restart = %q", v)
	}
	if got := consumeAll(t, ctx, b2.Addr(), "events", 30); len(got) != 30 {
		t.Fatalf("records after restart = %d, want 30", len(got))
	}
	after, err := adm2.FetchOffsets(ctx, "g1")
	if err != nil || after.Error() != nil {
		t.Fatalf("fetch offsets after restart: %v %v", err, after.Error())
	}
	var total int64
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("offset %s/%d: before %d, after %+v (found %v)", o.Topic, o.Partition, o.At, a.Offset, ok)
		}
		total += o.At
	})
	if total != 30 {
		t.Fatalf("committed offsets sum to %d, want 30", total)
	}
}

func configValue(cs []kadm.Config, key string) string {
	for _, c := range cs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	if b2, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: quietLogger(t)}); err == nil {
		b2.Close()
		t.Fatal("a second broker opened a locked data dir")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("unexpected error: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// A failed start (port taken) releases the lock too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if b3, err := Start(Config{Listen: ln.Addr().String(), DataDir: dir, Logger: quietLogger(t)}); err == nil {
		b3.Close()
		t.Fatal("started on a port in use")
	}
	startBroker(t, Config{DataDir: dir}) // the lock was released
}

// TestRetentionDisabled: kfake would expire records older than 7 days even
// on compacted topics; the broker config log.retention.ms=-1 prevents it.
func TestRetentionDisabled(t *testing.T) {
	b := startBroker(t, Config{})
	ctx := testCtx(t, 15*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)

	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rcs) != 1 {
		t.Fatalf("broker configs: %d resources", len(rcs))
	}
	if v := configValue(rcs[0].Configs, "log.retention.ms"); v != "-1" {
		t.Fatalf("broker log.retention.ms = %q, want -1", v)
	}

	compact, day := "compact", "86400000"
	createTopic(t, ctx, adm, "table", 1, map[string]*string{"cleanup.policy": &compact})
	createTopic(t, ctx, adm, "short", 1, map[string]*string{"retention.ms": &day}) // control
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, topic := range []string{"table", "short"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v"), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.Cluster().ApplyRetention()
	b.Cluster().Compact()
	starts, err := adm.ListStartOffsets(ctx, "table", "short")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("table", 0); o.Offset != 0 {
		t.Fatalf("compacted topic lost its 30-day-old record: start offset %d", o.Offset)
	}
	if o, _ := starts.Lookup("short", 0); o.Offset != 1 {
		t.Fatalf("control topic with retention.ms=1d kept its old record: start offset %d", o.Offset)
	}
}

// TestOffsetForLeaderEpochCapped checks deviation fix 2 over the wire.
func TestOffsetForLeaderEpochCapped(t *testing.T) {
	b := startBroker(t, Config{})
	cl := newClient(t, b.Addr())
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t, 5*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 23 {
			if k.MaxVersion != 1 {
				t.Fatalf("OffsetForLeaderEpoch max version %d, want 1", k.MaxVersion)
			}
			return
		}
	}
	t.Fatal("OffsetForLeaderEpoch not advertised")
}

func TestRunLogsAndStops(t *testing.T) {
	var buf testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "broker listening") {
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; log: %s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "addr=127.0.0.1:") {
		t.Fatalf("listening line lacks the address: %s", buf.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestListenOtherHost(t *testing.T) {
	// "localhost" goes through ListenFn; Advertise is what clients get.
	b := startBroker(t, Config{Listen: "localhost:0"})
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Fatalf("addr = %s", b.Addr())
	}
	ctx := testCtx(t, 10*time.Second)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, ctx, adm, "x", 1, nil)

	_, port, _ := strings.Cut(b.Addr(), ":")
	b.Close()
	b2 := startBroker(t, Config{Listen: "0.0.0.0:" + port, Advertise: "localhost:" + port})
	if b2.Addr() != "localhost:"+port {
		t.Fatalf("advertised addr = %s", b2.Addr())
	}
	m, err := kadm.NewClient(newClient(t, b2.Addr())).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Brokers[0].Host; h != "localhost" {
		t.Fatalf("metadata host = %q, want localhost", h)
	}
}
