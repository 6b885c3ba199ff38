package runner

import (
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// Config is how every stage reaches Kafka and where it keeps local state.
type Config struct {
	// Kafka is the cluster: its seeds, and the TLS and SASL every goka
	// client (processor, view, emitter, topic manager) connects with.
	Kafka kafkasec.Cluster
	// StateDir holds goka's LevelDB tables, one directory per instance.
	// Empty keeps tables in memory (tests, benchmarks).
	StateDir string
	// Replication of the group table topics goka creates.
	Replication int
	// Hasher places keys on partitions; nil is goka's FNV-1a.
	Hasher func() hash.Hash32
	// Partitions of every input topic (copartitioned): with Hasher it says
	// which partition a key belongs to, and a record found elsewhere is
	// rejected.
	Partitions int32
	Logger     *slog.Logger
	Tuning     Tuning
	// Retry, if set, decides whether a stage that failed with err starts
	// again after a backoff (2 s doubling to 1 min) instead of stopping
	// the process: for failures that go away by themselves, such as a full
	// disk. why is logged with every restart.
	Retry func(err error) (why string, ok bool)
	// Observer, if set, is told what every stage did with each input
	// (metrics); nil observes nothing.
	Observer Observer
}

// Tuning holds the client timeouts. Production keeps Kafka's defaults;
// tests shorten them so group changes take a second, not twenty.
type Tuning struct {
	// FlushFrequency is the producer linger. 0 sends as soon as the
	// previous request is answered, batching whatever came meanwhile: a
	// linger is paid once per hop, and a hedge crosses six.
	FlushFrequency     time.Duration
	HeartbeatInterval  time.Duration
	SessionTimeout     time.Duration
	AutoCommitInterval time.Duration
	// MaxPending bounds the outputs of unacknowledged inputs a key keeps in
	// its record (stage.go): an input of a key that holds this many waits
	// until the oldest is acknowledged. 0 is DefaultMaxPending.
	MaxPending int
}

// DefaultMaxPending: a hot key's record stays near 16 outputs (~10 KB for
// position events), and a key still takes 16 inputs per acknowledgement
// round trip (a few ms). Unbounded, a backlog on a hot key grew its record
// to 85 KB, every write slowed, and the backlog grew further
// (BENCHMARKS.md).
const DefaultMaxPending = 16

func (t Tuning) maxPending() int {
	if t.MaxPending <= 0 {
		return DefaultMaxPending
	}
	return t.MaxPending
}

// gokaRejoinDelay is how long goka (v1.1.14) pauses after a rebalance
// before it joins the group again.
const gokaRejoinDelay = 5 * time.Second

// DefaultTuning suits a production cluster.
func DefaultTuning() Tuning {
	return Tuning{
		FlushFrequency:    0,
		HeartbeatInterval: 3 * time.Second,
		SessionTimeout:    30 * time.Second,
		// Commits trail processing by this much; the trade manager's
		// backlog limit (trademanager.Backlog) reads the lag from them.
		AutoCommitInterval: 250 * time.Millisecond,
	}
}

// TestTuning makes rebalances and crash recovery take seconds.
func TestTuning() Tuning {
	return Tuning{
		FlushFrequency:     0,
		HeartbeatInterval:  300 * time.Millisecond,
		SessionTimeout:     6 * time.Second,
		AutoCommitInterval: 100 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Kafka.Seeds) == 0 {
		errs = append(errs, errors.New("no Kafka brokers configured"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions must be at least 1, got %d", c.Partitions))
	}
	if c.Replication < 1 {
		errs = append(errs, fmt.Errorf("replication must be at least 1, got %d", c.Replication))
	}
	t := c.Tuning
	if t.SessionTimeout <= t.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("session timeout %s must exceed heartbeat interval %s", t.SessionTimeout, t.HeartbeatInterval))
	}
	if t.AutoCommitInterval <= 0 || t.FlushFrequency < 0 {
		errs = append(errs, errors.New("tuning: auto-commit interval must be positive, flush frequency not negative"))
	}
	return errors.Join(errs...)
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Sarama returns the client config every goka processor and view uses,
// with goka's unsafe defaults fixed (ARCHITECTURE.md s.4).
func (c Config) Sarama() *sarama.Config {
	s := goka.DefaultConfig()
	// sarama >= 1.46 with a protocol >= 2.4 decodes kfake's group responses.
	s.Version = sarama.V2_8_0_0
	// Event consumers must see the whole log, not just what comes next.
	s.Consumer.Offsets.Initial = sarama.OffsetOldest
	// acks=all + idempotence: no lost or reordered outputs on retry.
	s.Producer.RequiredAcks = sarama.WaitForAll
	s.Producer.Idempotent = true
	s.Net.MaxOpenRequests = 1
	s.Producer.Compression = sarama.CompressionNone
	s.Producer.Flush.Frequency = c.Tuning.FlushFrequency
	if c.Tuning.FlushFrequency > 0 {
		s.Producer.Flush.Bytes = 256 << 10
	} else {
		s.Producer.Flush.Bytes = 0 // sarama lingers unless all three triggers are 0
	}
	s.Consumer.Group.Heartbeat.Interval = c.Tuning.HeartbeatInterval
	s.Consumer.Group.Session.Timeout = c.Tuning.SessionTimeout
	// goka waits a fixed 5 s after every rebalance before it joins again
	// (goka v1.1.14 Processor.run). With a rebalance timeout near 5 s the
	// members already in the group miss the join deadline and are evicted,
	// so every membership change took two rebalances (and a member killed
	// during the second join could stay in the group on kfake).
	s.Consumer.Group.Rebalance.Timeout = c.Tuning.SessionTimeout + gokaRejoinDelay
	s.Consumer.Offsets.AutoCommit.Interval = c.Tuning.AutoCommitInterval
	s.Metadata.RefreshFrequency = time.Minute
	c.Kafka.Sarama(s)
	return s
}

// StorageBuilder is where a group keeps its table locally: LevelDB under
// StateDir/group, or memory when StateDir is empty.
func (c Config) StorageBuilder(group string) storage.Builder {
	if c.StateDir == "" {
		return storage.MemoryBuilder()
	}
	return batchedBuilder(filepath.Join(c.StateDir, group), levelDBOptions())
}

// levelDBOptions replace goleveldb's defaults for goka's local tables. A
// pipeline opens one LevelDB per group and partition (20 with 4
// partitions), so per-instance defaults add up (BENCHMARKS.md):
//   - a bloom filter: most Gets of the aggregates are for keys never seen
//     (every trade and order is a new key) and are answered from the filter
//     instead of reading a block of every level;
//   - no snappy: the values are small records, compressing them cost CPU on
//     every flush and compaction for little disk;
//   - a 2 MiB block cache instead of 8 MiB each: 120 MiB less resident,
//     reads hit the memtable (recent keys) or miss (new keys) anyway;
//   - no seek-triggered compactions, which point lookups of new keys set off;
//   - a 2 MiB write buffer instead of 4 MiB: each of the ~28 databases
//     (stages and views) holds up to two memtables. At 100k x 1000 fills,
//     peak RSS 589 -> 406 MiB for 3% less throughput; 1 MiB gave 335 MiB
//     but cost 10% (BENCHMARKS.md).
//
// The local table is a cache of the group's table topic, rebuilt from it
// when lost; none of this changes what is stored.
func levelDBOptions() *opt.Options {
	return &opt.Options{
		Filter:                 filter.NewBloomFilter(10),
		Compression:            opt.NoCompression,
		BlockCacheCapacity:     2 << 20,
		DisableSeeksCompaction: true,
		WriteBuffer:            2 << 20,
	}
}

func (c Config) topicManagerConfig() *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = c.Replication
	tm.Stream.Replication = c.Replication
	// Group tables are compacted by goka; the broker must not also expire
	// them by time (kfake applies retention.ms to compacted topics too).
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	return tm
}
