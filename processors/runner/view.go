package runner

import (
	"fmt"
	"path/filepath"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// TableView opens a read-only goka view of a stage's table (records as
// encoded by the runner; DecodeState reads them), kept under
// StateDir/views/<group> (in memory without a StateDir) and reconnecting
// after broker trouble. Views read the table topic, so they
// see a key's record once its write is acknowledged.
func TableView(cfg Config, group string) (*goka.View, error) {
	return view(cfg, goka.GroupTable(goka.Group(group)), group)
}

// TopicView is TableView of a compacted topic that is not a group's table
// (topics.PendingHedges), its records read as they are.
func TopicView(cfg Config, topic string) (*goka.View, error) {
	return view(cfg, goka.Table(topic), topic)
}

func view(cfg Config, table goka.Table, name string) (*goka.View, error) {
	sc := cfg.Sarama()
	opts := []goka.ViewOption{
		// LevelDB, not goka's memory storage: that one re-sorts every key
		// on each new key and holds every order ever placed in memory; on
		// disk a restart also recovers from the local offset, not from 0.
		goka.WithViewStorageBuilder(cfg.StorageBuilder(filepath.Join("views", name))),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, goka.NewTopicManagerConfig())),
		goka.WithViewAutoReconnect(),
		// Without it goka logs through its own log.Logger on stderr.
		goka.WithViewLogger(gokaLogger{cfg.logger().With("view", name)}),
	}
	if cfg.Hasher != nil {
		opts = append(opts, goka.WithViewHasher(cfg.Hasher))
	}
	v, err := goka.NewView(cfg.Kafka.Seeds, table, new(codec.Bytes), opts...)
	if err != nil {
		return nil, fmt.Errorf("view of %s: %w", table, err)
	}
	return v, nil
}
