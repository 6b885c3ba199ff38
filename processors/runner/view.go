package runner

import (
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// TableView opens a read-only goka view of a stage's table (records as
// encoded by the runner; DecodeState reads them), kept in memory and
// reconnecting after broker trouble. Views read the table topic, so they
// see a key's record once its write is acknowledged.
func TableView(cfg Config, group string) (*goka.View, error) {
	sc := cfg.Sarama()
	opts := []goka.ViewOption{
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, goka.NewTopicManagerConfig())),
		goka.WithViewAutoReconnect(),
		// Without it goka logs through its own log.Logger on stderr.
		goka.WithViewLogger(gokaLogger{cfg.logger().With("view", group)}),
	}
	if cfg.Hasher != nil {
		opts = append(opts, goka.WithViewHasher(cfg.Hasher))
	}
	v, err := goka.NewView(cfg.Brokers, goka.GroupTable(goka.Group(group)), new(codec.Bytes), opts...)
	if err != nil {
		return nil, fmt.Errorf("view of %s table: %w", group, err)
	}
	return v, nil
}
