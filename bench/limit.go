package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

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
	const topic = "bench.goka-limit"
	if err := createTopic(ctx, brokers, topic); err != nil {
		return 0, err
	}
	prod, err := kgo.NewClient(append(topics.ClientOpts(brokers), kgo.ProducerLinger(5*time.Millisecond),
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
	cb := func(gctx goka.Context, _ any) {
		c := count.Add(1)
		if c == 1 {
			first.Store(time.Now().UnixNano())
		}
		var v int64
		if raw := gctx.Value(); raw != nil {
			v = int64(binary.BigEndian.Uint64(raw.([]byte)))
		}
		gctx.SetValue(binary.BigEndian.AppendUint64(nil, uint64(v+1)))
		if c == int64(n) {
			done <- time.Now()
		}
	}
	rc := runner.Config{Brokers: brokers, StateDir: stateDir, Replication: 1, Tuning: runner.TestTuning()}
	sc := rc.Sarama()
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	g := goka.DefineGroup("bench-goka-limit",
		goka.Input(goka.Stream(topic), new(codec.Bytes), cb),
		goka.Persist(new(codec.Bytes)))
	proc, err := goka.NewProcessor(brokers, g,
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(sc)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
		goka.WithStorageBuilder(rc.StorageBuilder("bench-goka-limit")),
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
		return 0, fmt.Errorf("goka processor stopped: %v", err)
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("goka limit: %d of %d after 5 min", count.Load(), n)
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
