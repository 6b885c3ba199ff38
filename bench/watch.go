package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// PnLWatcher reads pnl.events from the start and counts the distinct
// on-chain PnL records: one per fill that went all the way through
// (Witness -> trade -> position -> pnl). Records are deduplicated by
// (symbol, position_sequence), because a redelivered input re-emits its
// outputs; hedge fills (venue offchain) are counted apart.
type PnLWatcher struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen map[pnlKey]struct{}
	on   int
	off  int
	// target and reached implement WaitOnchain.
	target  int
	reached chan time.Time
	done    chan struct{}
}

type pnlKey struct {
	symbol string
	seq    uint64
}

// WatchPnL starts a watcher; pnl.events must exist (the pipeline creates it).
func WatchPnL(ctx context.Context, brokers []string) (*PnLWatcher, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.PnLEvents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return nil, err
	}
	w := &PnLWatcher{cl: cl, seen: map[pnlKey]struct{}{}, done: make(chan struct{})}
	go w.loop(ctx)
	return w, nil
}

func (w *PnLWatcher) loop(ctx context.Context) {
	defer close(w.done)
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Now()
		w.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			var rec struct {
				Symbol           string `json:"symbol"`
				Venue            string `json:"venue"`
				PositionSequence uint64 `json:"position_sequence"`
			}
			if json.Unmarshal(r.Value, &rec) != nil {
				return
			}
			k := pnlKey{rec.Symbol, rec.PositionSequence}
			if _, dup := w.seen[k]; dup {
				return
			}
			w.seen[k] = struct{}{}
			if rec.Venue == "onchain" {
				w.on++
			} else {
				w.off++
			}
		})
		if w.reached != nil && w.on >= w.target {
			w.reached <- now
			w.reached = nil
		}
		w.mu.Unlock()
	}
}

// Counts returns the distinct on-chain and off-chain records seen so far.
func (w *PnLWatcher) Counts() (onchain, offchain int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.on, w.off
}

// WaitOnchain returns when the n-th distinct on-chain record was read.
func (w *PnLWatcher) WaitOnchain(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	if w.on >= n {
		w.mu.Unlock()
		return time.Now(), nil
	}
	w.target, w.reached = n, ch
	w.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case at := <-ch:
		return at, nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-t.C:
		on, _ := w.Counts()
		return time.Time{}, fmt.Errorf("%d of %d fills reached pnl.events after %s", on, n, timeout)
	}
}

// Close stops the watcher.
func (w *PnLWatcher) Close() {
	w.cl.Close()
	<-w.done
}
