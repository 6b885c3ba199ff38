package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ClickHouse is `hedgeline clickhouse` (the embedded libchdb engine) as a
// child process. Each run gets its own database, so one engine serves the
// whole suite.
type ClickHouse struct {
	Proc *Proc
	Addr string
}

// StartClickHouse starts the engine with its data under dir. The first
// start on a machine downloads libchdb (~15 s, cached afterwards).
func StartClickHouse(ctx context.Context, bin, dir string) (*ClickHouse, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := StartProc("clickhouse", filepath.Join(dir, "clickhouse.log"), bin,
		"clickhouse", "--data-dir", filepath.Join(dir, "clickhouse"), "--tcp-port", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	ch := &ClickHouse{Proc: p, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := waitTCP(ctx, ch.Addr, 5*time.Minute); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// OpenDB creates database and the projection tables in it.
func (ch *ClickHouse) OpenDB(ctx context.Context, database string) (*sinks.DB, error) {
	var db *sinks.DB
	var err error
	deadline := time.Now().Add(time.Minute)
	for {
		db, err = sinks.Open(ctx, sinks.Config{Addr: ch.Addr, Database: database, ReadTimeout: 2 * time.Minute})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := sinks.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close stops the engine (close every DB first: an open connection at
// shutdown can take the engine down).
func (ch *ClickHouse) Close() { _ = ch.Proc.Stop(time.Minute) }

// onchainRows counts the distinct on-chain fills in metrics_pnl.
func onchainRows(ctx context.Context, db *sinks.DB) (uint64, error) {
	var n uint64
	err := db.Conn().QueryRow(ctx, "SELECT count() FROM metrics_pnl FINAL WHERE venue = 'onchain'").Scan(&n)
	return n, err
}

// Projectors run every projection (sinks.Projections) in the harness, the
// way the pipeline's sink would, each with its own consumer group.
type Projectors struct {
	prs    []*sinks.Projector
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   []error
	mu     sync.Mutex
	// committed is, per topic and partition, the next offset committed.
	committed map[string]map[int32]int64
	changed   chan struct{}
}

// StartProjectors starts one projector per projection. group names the
// consumer groups (group + "-" + projection); suffix, if not empty, writes
// the shadow tables of a replay (created here).
func StartProjectors(ctx context.Context, db *sinks.DB, brokers []string, group, suffix string) (*Projectors, error) {
	if suffix != "" {
		if err := sinks.CreateShadow(ctx, db, suffix, sinks.ViewNames()); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	ps := &Projectors{cancel: cancel, committed: map[string]map[int32]int64{}, changed: make(chan struct{}, 1)}
	quiet := slog.New(slog.DiscardHandler)
	for _, p := range sinks.Projections() {
		topic := p.Topic()
		pr, err := sinks.NewProjector(db, kafkasec.Plaintext(brokers...), p, sinks.Options{
			Group: group + "-" + p.Name(), TableSuffix: suffix, Logger: quiet,
			OnBatch: func(b sinks.BatchInfo) { ps.onBatch(topic, b) },
		})
		if err != nil {
			cancel()
			return nil, err
		}
		ps.prs = append(ps.prs, pr)
	}
	for _, pr := range ps.prs {
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			if err := pr.Run(ctx); err != nil {
				ps.mu.Lock()
				ps.errs = append(ps.errs, err)
				ps.mu.Unlock()
			}
		}()
	}
	return ps, nil
}

func (ps *Projectors) onBatch(topic string, b sinks.BatchInfo) {
	ps.mu.Lock()
	m := ps.committed[topic]
	if m == nil {
		m = map[int32]int64{}
		ps.committed[topic] = m
	}
	for p, o := range b.CommitTo {
		m[p] = max(m[p], o)
	}
	ps.mu.Unlock()
	select {
	case ps.changed <- struct{}{}:
	default:
	}
}

// WaitCaughtUp returns when every projector has committed up to ends
// (topic -> partition -> end offset).
func (ps *Projectors) WaitCaughtUp(ctx context.Context, ends map[string]map[int32]int64, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ps.mu.Lock()
		behind := 0
		for topic, parts := range ends {
			for p, end := range parts {
				if ps.committed[topic][p] < end {
					behind++
				}
			}
		}
		errs := errors.Join(ps.errs...)
		ps.mu.Unlock()
		if errs != nil {
			return errs
		}
		if behind == 0 {
			return nil
		}
		select {
		case <-ps.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("projectors: %d partitions behind after %s", behind, timeout)
		}
	}
}

// WaitCommitted returns when the projectors together have committed n
// records (offsets summed over every topic and partition).
func (ps *Projectors) WaitCommitted(ctx context.Context, n int64, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ps.mu.Lock()
		var got int64
		for _, parts := range ps.committed {
			for _, o := range parts {
				got += o
			}
		}
		errs := errors.Join(ps.errs...)
		ps.mu.Unlock()
		if errs != nil {
			return errs
		}
		if got >= n {
			return nil
		}
		select {
		case <-ps.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("projectors: %d of %d records committed after %s", got, n, timeout)
		}
	}
}

// Stop stops the projectors.
func (ps *Projectors) Stop() error {
	ps.cancel()
	ps.wg.Wait()
	return errors.Join(ps.errs...)
}

// projectedTopics are the topics the projections read.
func projectedTopics() []string {
	var ts []string
	for _, p := range sinks.Projections() {
		ts = append(ts, p.Topic())
	}
	return ts
}

// partitionEnds returns the end offset of every non-empty partition.
func partitionEnds(ctx context.Context, brokers []string, ts ...string) (map[string]map[int32]int64, int64, error) {
	out := map[string]map[int32]int64{}
	var total int64
	for _, t := range ts {
		out[t] = map[int32]int64{}
		err := readEnds(ctx, brokers, t, func(p int32, end int64) {
			if end > 0 {
				out[t][p] = end
				total += end
			}
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

func readEnds(ctx context.Context, brokers []string, topic string, fn func(int32, int64)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	return listEnds(ctx, cl, topic, fn)
}
