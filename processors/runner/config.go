package runner

import (
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Config is how every stage reaches Kafka and where it keeps local state.
type Config struct {
	Brokers []string
	// StateDir holds goka's LevelDB tables, one directory per instance.
	// Empty keeps tables in memory (tests, benchmarks).
	StateDir string
	// Replication of the group table topics goka creates.
	Replication int
	// Hasher places keys on partitions; nil is goka's FNV-1a.
	Hasher func() hash.Hash32
	Logger *slog.Logger
	Tuning Tuning
}

// Tuning holds the client timeouts. Production keeps Kafka's defaults;
// tests shorten them so group changes take a second, not twenty.
type Tuning struct {
	FlushFrequency     time.Duration // producer linger; goka's 100 ms default makes EmitSync slow
	HeartbeatInterval  time.Duration
	SessionTimeout     time.Duration
	AutoCommitInterval time.Duration
}

// DefaultTuning suits a production cluster.
func DefaultTuning() Tuning {
	return Tuning{
		FlushFrequency:     5 * time.Millisecond,
		HeartbeatInterval:  3 * time.Second,
		SessionTimeout:     30 * time.Second,
		AutoCommitInterval: time.Second,
	}
}

// TestTuning makes rebalances and crash recovery take seconds.
func TestTuning() Tuning {
	return Tuning{
		FlushFrequency:     2 * time.Millisecond,
		HeartbeatInterval:  300 * time.Millisecond,
		SessionTimeout:     6 * time.Second,
		AutoCommitInterval: 100 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers configured"))
	}
	if c.Replication < 1 {
		errs = append(errs, fmt.Errorf("replication must be at least 1, got %d", c.Replication))
	}
	t := c.Tuning
	if t.SessionTimeout <= t.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("session timeout %s must exceed heartbeat interval %s", t.SessionTimeout, t.HeartbeatInterval))
	}
	if t.AutoCommitInterval <= 0 || t.FlushFrequency <= 0 {
		errs = append(errs, errors.New("tuning intervals must be positive"))
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
	s.Producer.Flush.Bytes = 256 << 10
	s.Consumer.Group.Heartbeat.Interval = c.Tuning.HeartbeatInterval
	s.Consumer.Group.Session.Timeout = c.Tuning.SessionTimeout
	// goka waits a fixed 5 s after every rebalance before it joins again
	// (goka v1.1.14 Processor.run). With a rebalance timeout near 5 s the
	// members already in the group miss the join deadline and are evicted,
	// so every membership change took two rebalances (and a member killed
	// during the second join could stay in the group on kfake).
	s.Consumer.Group.Rebalance.Timeout = c.Tuning.SessionTimeout + 5*time.Second
	s.Consumer.Offsets.AutoCommit.Interval = c.Tuning.AutoCommitInterval
	s.Metadata.RefreshFrequency = time.Minute
	return s
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
