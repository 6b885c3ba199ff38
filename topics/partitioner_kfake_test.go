package topics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testPartitions = 8

// gokaConfig is goka's sarama setup, made to work against kfake
// (ENVIRONMENT.md: Version 2.8 with sarama >= v1.46.3) and to flush fast.
func gokaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	return cfg
}

// placements consumes want records from topic and returns, per key, the
// partitions holding it and the values (writers) seen.
func placements(t *testing.T, c *kfake.Cluster, topic string, want int) map[string]map[int32][]string {
	t.Helper()
	cl := newClient(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]map[int32][]string{}
	for n := 0; n < want; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := string(r.Key)
			if out[k] == nil {
				out[k] = map[int32][]string{}
			}
			out[k][r.Partition] = append(out[k][r.Partition], string(r.Value))
			n++
		})
	}
	return out
}

func produceFranz(t *testing.T, c *kfake.Cluster, p kgo.Partitioner, topic string, keys []string) {
	t.Helper()
	cl := newClient(t, c, kgo.RecordPartitioner(p), kgo.DefaultProduceTopic(topic))
	rs := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		rs[i] = &kgo.Record{Key: []byte(k), Value: []byte("franz")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
}

// checkSamePartition asserts that every key (or symbol, via group) sits on
// exactly one partition, the one want computes, written by both clients.
func checkSamePartition(t *testing.T, got map[string]map[int32][]string, group func(string) string, want func(string) int32) {
	t.Helper()
	byGroup := map[string]map[int32]bool{}
	writers := map[string]map[string]bool{}
	for k, parts := range got {
		g := group(k)
		if byGroup[g] == nil {
			byGroup[g], writers[g] = map[int32]bool{}, map[string]bool{}
		}
		for p, vals := range parts {
			byGroup[g][p] = true
			for _, v := range vals {
				writers[g][v] = true
			}
		}
	}
	used := map[int32]bool{}
	for g, parts := range byGroup {
		if len(parts) != 1 || !parts[want(g)] {
			t.Errorf("%q landed on partitions %v, want only %d", g, parts, want(g))
		}
		if len(writers[g]) != 2 {
			t.Errorf("%q written by %v, want both clients", g, writers[g])
		}
		for p := range parts {
			used[p] = true
		}
	}
	if len(used) < testPartitions/2 {
		t.Errorf("records used only partitions %v: the test proves nothing", used)
	}
}

func TestFranzAndSaramaAgreeOnKfake(t *testing.T) {
	t.Parallel()
	const topic = "t"
	c := newCluster(t, kfake.SeedTopics(testPartitions, topic))
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("0x%08x:%d", i*2654435761, i)
	}
	produceFranz(t, c, Partitioner(), topic, keys)

	cfg := sarama.NewConfig() // default partitioner: sarama.NewHashPartitioner
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	sp, err := sarama.NewSyncProducer(c.ListenAddrs(), cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer sp.Close()
	msgs := make([]*sarama.ProducerMessage, len(keys))
	for i, k := range keys {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder("sarama")}
	}
	if err := sp.SendMessages(msgs); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}

	got := placements(t, c, topic, 2*len(keys))
	if len(got) != len(keys) {
		t.Fatalf("consumed %d distinct keys, want %d", len(got), len(keys))
	}
	checkSamePartition(t, got, func(k string) string { return k }, func(k string) int32 {
		return PartitionFor([]byte(k), testPartitions)
	})
}

func TestFranzAndGokaAgreeOnSymbolKeysOnKfake(t *testing.T) {
	t.Parallel()
	const topic = "s"
	c := newCluster(t, kfake.SeedTopics(testPartitions, topic))
	symbols := []string{"AAPL", "NVDA", "TSLA", "MSFT", "AMZN", "GOOGL", "META", "COIN", "MSTR", "SPY",
		"QQQ", "AMD", "INTC", "NFLX", "PLTR", "CRCL", "HOOD", "IBM", "ORCL", "UBER"}
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = SymbolKey(symbols[i%len(symbols)], fmt.Sprintf("0x%08x:%d", i*2654435761, i))
	}
	produceFranz(t, c, SymbolPartitioner(), topic, keys)

	em, err := goka.NewEmitter(c.ListenAddrs(), goka.Stream(topic), new(codec.String),
		goka.WithEmitterHasher(NewSymbolHash),
		goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(gokaConfig())))
	if err != nil {
		t.Fatalf("goka emitter: %v", err)
	}
	for _, k := range keys {
		if _, err := em.Emit(k, "goka"); err != nil {
			t.Fatalf("goka emit %s: %v", k, err)
		}
	}
	if err := em.Finish(); err != nil {
		t.Fatalf("goka finish: %v", err)
	}

	got := placements(t, c, topic, 2*len(keys))
	checkSamePartition(t, got, func(k string) string { return string(SymbolPrefix([]byte(k))) }, func(sym string) int32 {
		return PartitionFor([]byte(sym), testPartitions)
	})
	if t.Failed() {
		return
	}
	// Guard against a vacuous pass: plain FNV of the whole key would have
	// scattered each symbol's keys.
	scattered := 0
	for _, sym := range symbols {
		parts := map[int32]bool{}
		for _, k := range keys {
			if string(SymbolPrefix([]byte(k))) == sym {
				parts[PartitionFor([]byte(k), testPartitions)] = true
			}
		}
		if len(parts) > 1 {
			scattered++
		}
	}
	if scattered == 0 {
		t.Error("whole-key hashing would also have kept symbols together; keys are too uniform")
	}
}

func TestClientOptsPlaceByCatalog(t *testing.T) {
	t.Parallel()
	c := newCluster(t, kfake.SeedTopics(testPartitions, OnChainTradeCommands, PositionCommands))
	cl, err := kgo.NewClient(ClientOpts(kafkasec.Plaintext(c.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range 50 {
		sym := fmt.Sprintf("SYM%d", i)
		rs = append(rs,
			&kgo.Record{Topic: OnChainTradeCommands, Key: []byte(SymbolKey(sym, fmt.Sprintf("0x%x:%d", i*7919, i)))},
			&kgo.Record{Topic: PositionCommands, Key: []byte(sym)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := cl.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		// A symbol's fills and its position land on the same partition
		// number, so a goka group reading both stays copartitioned.
		if want := PartitionFor(SymbolPrefix(r.Record.Key), testPartitions); r.Record.Partition != want {
			t.Errorf("%s key %s on partition %d, want %d", r.Record.Topic, r.Record.Key, r.Record.Partition, want)
		}
	}
}
