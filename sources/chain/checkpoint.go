package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/topics"
)

// Checkpoint is where a source stands: every block up to Block is ingested
// and every command of it acknowledged. Recent remembers the blocks with
// fills of the last RecentBlocks blocks, with their hashes, so a reorg of
// any of them is seen and its fills reverted.
type Checkpoint struct {
	Orderbook string     `json:"orderbook"`
	Owner     string     `json:"owner"`
	Block     uint64     `json:"block"`
	Hash      string     `json:"hash"`
	Recent    []BlockRef `json:"recent,omitempty"`
}

// BlockRef is an ingested block with fills.
type BlockRef struct {
	Number uint64    `json:"number"`
	Hash   string    `json:"hash"`
	Fills  []FillRef `json:"fills"`
}

// FillRef is enough of an ingested fill to revert it.
type FillRef struct {
	TradeID string `json:"trade_id"` // "0x<tx>:<log index>"
	Base    string `json:"base"`     // the base symbol: the record key's prefix
}

// RecentBlocks is how far back a reorg is looked for, and RecentFills the
// most fills remembered for it (a checkpoint is one Kafka record: ~80 bytes
// a fill). Base's reorgs are a few blocks deep, and a safe or finalized
// cutoff makes them rarer still; a reorg below what is remembered is logged
// as such.
const (
	RecentBlocks = 256
	RecentFills  = 4000
)

// checkpointKey identifies a source: one checkpoint per orderbook and owner.
func checkpointKey(orderbook, owner string) string {
	return strings.ToLower(orderbook) + "|" + strings.ToLower(owner)
}

// checkpoints reads and writes Checkpoint records on topics.ChainCheckpoints.
type checkpoints struct {
	cl  *kgo.Client
	key string
}

// load returns the last checkpoint of the source, or ok=false.
func (c checkpoints) load(ctx context.Context) (cp Checkpoint, ok bool, err error) {
	adm := kadm.NewClient(c.cl)
	var span topics.Span
	// A client's metadata can predate the topic's creation by a moment.
	for attempt := 0; ; attempt++ {
		span, err = topics.Bounds(ctx, adm, topics.ChainCheckpoints)
		if !errors.Is(err, topics.ErrNoTopic) && !errors.Is(err, kerr.UnknownTopicOrPartition) || attempt == 20 {
			break
		}
		select {
		case <-ctx.Done():
			return cp, false, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		return cp, false, fmt.Errorf("checkpoint: %w", err)
	}
	err = topics.ReadSpan(ctx, c.readerOpts(), topics.ChainCheckpoints, span, func(r *kgo.Record) error {
		if string(r.Key) != c.key {
			return nil
		}
		var got Checkpoint
		if json.Unmarshal(r.Value, &got) == nil {
			cp, ok = got, true
		}
		return nil
	})
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, ok, nil
}

// readerOpts reach the cluster as the source's producer does (seeds, TLS,
// SASL); the producer's own settings do not matter to a reader.
func (c checkpoints) readerOpts() []kgo.Opt {
	return c.cl.Opts()
}

// save writes cp and returns once the broker acknowledged it.
func (c checkpoints) save(ctx context.Context, cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := c.cl.ProduceSync(ctx, &kgo.Record{Topic: topics.ChainCheckpoints, Key: []byte(c.key), Value: b}).FirstErr(); err != nil {
		return fmt.Errorf("checkpoint at block %d: %w", cp.Block, err)
	}
	return nil
}
