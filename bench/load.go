package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/sources/loadgen"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Load is what a run produces: Fills synthetic fills over Symbols base
// symbols (sources/loadgen, deterministic per Seed), as Witness commands
// on onchain-trade.commands exactly as `hedgeline ingest`/`loadgen` write
// them. Rate 0 is as fast as the client goes; otherwise fills per second.
type Load struct {
	Fills   int
	Symbols int
	Rate    int
	Seed    uint64
	// Gen continues an earlier load's sequence (so a second phase on the
	// same stack produces new trades); nil starts a new generator.
	Gen *loadgen.Generator
	// Window, with Done, closes the loop: at most Window fills are produced
	// and not yet through (Done counts those through). 0 is open loop.
	Window int
	Done   func() int
}

// Sent remembers when each Witness was handed to the producer, by trade
// id, for the hedge latency.
type Sent struct {
	mu    sync.Mutex
	at    map[string]time.Time
	first time.Time
}

func NewSent() *Sent { return &Sent{at: map[string]time.Time{}} }

func (s *Sent) put(id string, t time.Time) {
	s.mu.Lock()
	s.at[id] = t
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	s.mu.Unlock()
}

// At returns the produce time of a trade id.
func (s *Sent) At(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[id]
	return t, ok
}

// First returns the earliest produce time; false if nothing was sent.
func (s *Sent) First() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, !s.first.IsZero()
}

// NewProducer is the harness's Kafka client: the project's producer options
// (goka-compatible partitioner, acks=all, idempotent) and a 5 ms linger,
// as `hedgeline loadgen` uses.
func NewProducer(brokers []string) (*kgo.Client, error) {
	return kgo.NewClient(topics.ClientOpts(kafkasec.Plaintext(brokers...), kgo.ProducerLinger(5*time.Millisecond))...)
}

// Produce produces the load and returns when every record is acknowledged.
// sent, if not nil, records each trade's produce time. Pacing works in
// 5 ms ticks, so a rate of 100/s is smooth, not a burst per second.
//
// Why a window: produced flat out, 1M fills sit in the topics before the
// pipeline has handled a few thousand. The order tracker's outcome of a
// hedge (CompleteOffChainOrder) then queues behind that whole backlog in
// position.commands, no symbol hedges again until the backlog is gone, and
// the PnL book of every symbol piles up open lots (its state grows with
// the unhedged exposure). That is a real catch-up scenario, but it measures
// the backlog, not the pipeline's rate; a window of a few seconds of work
// measures the rate the pipeline sustains with hedging working.
func Produce(ctx context.Context, cl *kgo.Client, l Load, sent *Sent) error {
	g := l.Gen
	if g == nil {
		g = loadgen.New(l.Symbols, l.Seed)
	}
	errc := make(chan error, 1)
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < l.Fills; i++ {
		if l.Rate > 0 {
			for due := int(time.Since(start).Seconds() * float64(l.Rate)); i >= due; due = int(time.Since(start).Seconds() * float64(l.Rate)) {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
		}
		if l.Window > 0 && i%64 == 0 {
			for i-l.Done() >= l.Window {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		}
		f := g.Next()
		now := time.Now()
		key, value, err := file.WitnessRecord(f, now)
		if err != nil {
			return err
		}
		if sent != nil {
			sent.put(f.TradeID.String(), now)
		}
		cl.Produce(ctx, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("produce: %w", err)
	default:
		return nil
	}
}
