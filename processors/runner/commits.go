package runner

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Commits follows a group's committed offsets on one topic. The runner
// prunes recorded outputs below them; a stale reading only keeps outputs a
// little longer, never drops one too early, because commits only move
// forward.
type Commits struct {
	adm    *kadm.Client
	group  string
	topic  string
	every  time.Duration
	log    *slog.Logger
	mu     sync.RWMutex
	offset map[int32]int64
}

func NewCommits(adm *kadm.Client, group, topic string, every time.Duration, log *slog.Logger) *Commits {
	return &Commits{adm: adm, group: group, topic: topic, every: every, log: log, offset: map[int32]int64{}}
}

// Committed is the committed offset of a partition, or -1 if none is known.
func (c *Commits) Committed(partition int32) int64 {
	if c == nil {
		return -1
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if o, ok := c.offset[partition]; ok {
		return o
	}
	return -1
}

// Refresh reads the committed offsets once.
func (c *Commits) Refresh(ctx context.Context) error {
	resp, err := c.adm.FetchOffsets(ctx, c.group)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic != c.topic || o.Err != nil {
			return
		}
		if o.At > c.offset[o.Partition] {
			c.offset[o.Partition] = o.At
		}
	})
	return nil
}

// Run refreshes until ctx ends.
func (c *Commits) Run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("reading committed offsets", "group", c.group, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
