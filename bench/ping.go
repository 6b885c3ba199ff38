package bench

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Ping is the baseline of the hedge latency: while the pipeline is under
// load, one record every 20 ms goes through the same broker (produce with
// acks=all, then a plain consumer) and its round trip is recorded. A hedge
// crosses Kafka several times plus the order poller's interval; this is
// what one crossing costs at that moment on this machine.
type Ping struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	lat    []time.Duration
}

func StartPing(ctx context.Context, brokers []string) (*Ping, error) {
	const topic = "bench.ping"
	if err := createTopic(ctx, brokers, topic); err != nil {
		return nil, err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		prod.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Ping{cancel: cancel}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer prod.Close()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
			prod.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, nil)
		}
	}()
	go func() {
		defer p.wg.Done()
		defer cons.Close()
		for {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) == 8 {
					sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))
					p.mu.Lock()
					p.lat = append(p.lat, now.Sub(sent))
					p.mu.Unlock()
				}
			})
		}
	}()
	return p, nil
}

// Stop ends the pings and returns the round trips measured.
func (p *Ping) Stop() []time.Duration {
	p.cancel()
	p.wg.Wait()
	return p.lat
}
