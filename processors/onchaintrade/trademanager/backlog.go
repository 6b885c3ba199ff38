package trademanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Backlog keeps the fills waiting in position.commands short, so that an
// order outcome (CompleteOffChainOrder, FailOffChainOrder) produced to the
// same topic is decided within a bounded delay instead of behind every fill
// of a burst: hedges do not starve.
//
// It is a bounded queue between the trade manager and the positions: the
// trade manager waits (Wait) while the position group's lag on the target
// partition (end offset minus committed offset) is at the limit, so a burst
// waits upstream in onchain-trade.events, where no outcome queues behind it.
// Outcomes stay in the one ordered command log of the position: a second
// input topic would let a crash re-decide fills and outcomes in another
// interleaving and publish two different events under one sequence.
//
// The lag is read from the broker (so it works with the stages in other
// processes) every Interval; committed offsets trail the processing by up to
// one auto-commit interval, so Limit must exceed what the positions handle
// in that time, or the trade manager slows the pipeline down.
type Backlog struct {
	adm      *kadm.Client
	topic    string
	group    string
	limit    int64
	interval time.Duration
	log      *slog.Logger

	mu    sync.Mutex
	known bool // a refresh has completed
	lag   map[int32]int64
	wake  chan struct{} // closed on the next refresh
	err   error         // of the last refresh
}

// BacklogConfig configures a Backlog.
type BacklogConfig struct {
	Admin    *kadm.Client
	Topic    string // position.commands
	Group    string // the position aggregate's group
	Limit    int64  // commands a partition may hold unprocessed
	Interval time.Duration
	Logger   *slog.Logger
}

// NewBacklog validates cfg.
func NewBacklog(cfg BacklogConfig) (*Backlog, error) {
	var errs []error
	if cfg.Admin == nil || cfg.Topic == "" || cfg.Group == "" {
		errs = append(errs, errors.New("backlog: admin client, topic and group are required"))
	}
	if cfg.Limit < 1 {
		errs = append(errs, fmt.Errorf("backlog: limit must be positive, got %d", cfg.Limit))
	}
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("backlog: interval must be positive, got %s", cfg.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Backlog{adm: cfg.Admin, topic: cfg.Topic, group: cfg.Group, limit: cfg.Limit, interval: cfg.Interval,
		log: cfg.Logger, lag: map[int32]int64{}, wake: make(chan struct{})}, nil
}

// Run refreshes the lag until ctx ends.
func (b *Backlog) Run(ctx context.Context) error {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		b.refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (b *Backlog) refresh(ctx context.Context) {
	ends, err := b.adm.ListEndOffsets(ctx, b.topic)
	var committed kadm.OffsetResponses
	if err == nil {
		committed, err = b.adm.FetchOffsets(ctx, b.group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil // the positions have committed nothing yet
		}
	}
	lag := map[int32]int64{}
	if err == nil {
		ends.Each(func(o kadm.ListedOffset) {
			done := int64(0)
			if c, ok := committed.Lookup(b.topic, o.Partition); ok && c.Err == nil {
				done = c.At
			}
			lag[o.Partition] = max(0, o.Offset-done)
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil && b.err == nil && ctx.Err() == nil {
		// Flow control is best effort: a broker hiccup must not stop the
		// fills, so the last known lag is kept and the fills go on.
		b.log.Warn("reading the position backlog failed; fills go on unthrottled", "err", err)
	}
	b.err, b.known = err, true
	if err == nil {
		b.lag = lag
	}
	close(b.wake)
	b.wake = make(chan struct{})
}

// Admit blocks until the backlog is known and then while partition's is at
// the limit (until ctx ends),
// then counts one more command in it: between two refreshes the commands
// sent since the last one are part of the backlog too.
func (b *Backlog) Admit(ctx context.Context, partition int32) {
	for {
		b.mu.Lock()
		if b.known && (b.err != nil || b.lag[partition] < b.limit) {
			b.lag[partition]++
			b.mu.Unlock()
			return
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return
		}
	}
}
