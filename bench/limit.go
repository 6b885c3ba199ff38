package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The baselines ("the limit") run against the same broker binary as the
// pipeline, on a fresh broker each time, interleaved with pipeline runs.

// FranzLimit produces n records of size bytes with the project's producer
// options while a plain consumer reads them, and returns records/s from
// the first produce to the n-th record consumed.
func FranzLimit(ctx context.Context, brokers []string, n, size int) (float64, error) {
	const topic = "bench.franz-limit"
	if err := createTopic(ctx, brokers, topic); err != nil {
		return 0, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	prod, err := NewProducer(brokers)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	value := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range value {
		value[i] = byte('a' + rng.IntN(26))
	}
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			prod.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 1000)), Value: value}, nil)
		}
	}()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		got += fs.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// GokaLimit measures one goka processor with a group table in LevelDB, set
// up exactly as the pipeline's stages are (runner.Config: sarama settings,
// storage options), whose callback only increments a per-key counter: the
// ceiling of any stateful stage here. The input (n records of size bytes
// over 1000 keys) is produced first; the rate is messages/s from the first
// callback to the n-th.
func GokaLimit(ctx context.Context, brokers []string, stateDir string, n, size int) (float64, error) {
	return gokaLimit(ctx, brokers, stateDir, n, size, 0, 0)
}

// Sizes of the realistic goka limit: a position-sized table record per key
// and one event out per input, about what a fused stage writes per fill.
const (
	RealisticRecord = 1536
	RealisticEmit   = 512
)

// GokaRealisticLimit is GokaLimit with the work every stateful hop of the
// pipeline cannot avoid: the callback reads its key's record of
// RealisticRecord bytes, writes back a changed copy of it (LevelDB and the
// table's changelog topic), and emits one RealisticEmit-byte record to an
// output topic. No decoding, no domain logic: what the pipeline could reach
// with free compute.
func GokaRealisticLimit(ctx context.Context, brokers []string, stateDir string, n, size int) (float64, error) {
	return gokaLimit(ctx, brokers, stateDir, n, size, RealisticRecord, RealisticEmit)
}

// gokaLimit runs the goka limit; record > 0 keeps a record of that size per
// key (else an 8-byte counter), emit > 0 emits that many bytes per input.
func gokaLimit(ctx context.Context, brokers []string, stateDir string, n, size, record, emit int) (float64, error) {
	name := "bench-goka-limit"
	if record > 0 || emit > 0 {
		name = "bench-goka-realistic"
	}
	topic := "bench." + strings.TrimPrefix(name, "bench-")
	output := topic + ".out"
	if err := createTopic(ctx, brokers, topic); err != nil {
		return 0, err
	}
	if emit > 0 {
		if err := createTopic(ctx, brokers, output); err != nil {
			return 0, err
		}
	}
	prod, err := kgo.NewClient(topics.ClientOpts(kafkasec.Plaintext(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(topics.Partitioner()))...)
	if err != nil {
		return 0, err
	}
	value := make([]byte, size)
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%1000)), Value: value}, nil)
	}
	err = prod.Flush(ctx)
	prod.Close()
	if err != nil {
		return 0, err
	}

	var count atomic.Int64
	var first atomic.Int64
	done := make(chan time.Time, 1)
	out := make([]byte, emit)
	cb := func(gctx goka.Context, _ any) {
		c := count.Add(1)
		if c == 1 {
			first.Store(time.Now().UnixNano())
		}
		// The counter lives in the record's first 8 bytes; a fresh copy of
		// the record per input, as a stage encodes a new state.
		var old []byte
		if raw := gctx.Value(); raw != nil {
			old = raw.([]byte)
		}
		rec := make([]byte, max(8, record))
		copy(rec, old)
		var v uint64
		if len(old) >= 8 {
			v = binary.BigEndian.Uint64(old)
		}
		binary.BigEndian.PutUint64(rec, v+1)
		gctx.SetValue(rec)
		if emit > 0 {
			gctx.Emit(goka.Stream(output), gctx.Key(), out)
		}
		if c == int64(n) {
			done <- time.Now()
		}
	}
	rc := runner.Config{Kafka: kafkasec.Plaintext(brokers...), StateDir: stateDir, Replication: 1, Tuning: runner.TestTuning()}
	sc := rc.Sarama()
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	edges := []goka.Edge{goka.Input(goka.Stream(topic), new(codec.Bytes), cb), goka.Persist(new(codec.Bytes))}
	if emit > 0 {
		edges = append(edges, goka.Output(goka.Stream(output), new(codec.Bytes)))
	}
	g := goka.DefineGroup(goka.Group(name), edges...)
	proc, err := goka.NewProcessor(brokers, g,
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(sc)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
		goka.WithStorageBuilder(rc.StorageBuilder(name)),
		goka.WithLogger(quietLogger{}),
	)
	if err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- proc.Run(runCtx) }()
	defer func() {
		cancel()
		<-errc
	}()
	select {
	case end := <-done:
		return float64(n-1) / end.Sub(time.Unix(0, first.Load())).Seconds(), nil
	case err := <-errc:
		return 0, fmt.Errorf("goka processor %s stopped: %v", name, err)
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("%s: %d of %d after 5 min", name, count.Load(), n)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func createTopic(ctx context.Context, brokers []string, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	// 4 partitions, like the pipeline's topics (hedgeline run --partitions).
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 4, 1, map[string]*string{"retention.ms": ptr("-1")}, topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

func ptr[T any](v T) *T { return &v }

type quietLogger struct{}

func (quietLogger) Print(...any)          {}
func (quietLogger) Println(...any)        {}
func (quietLogger) Printf(string, ...any) {}
