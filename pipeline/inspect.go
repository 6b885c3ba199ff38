package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readTopic returns every record of a topic up to its current end, without
// a consumer group: a point-in-time read for queries and the demo.
func readTopic(ctx context.Context, k kafkasec.Cluster, topic string) ([]*kgo.Record, error) {
	var out []*kgo.Record
	err := topics.ReadToEnd(ctx, k.Opts(), topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	})
	if errors.Is(err, topics.ErrNoTopic) {
		seeds := strings.Join(k.Seeds, ",")
		return nil, fmt.Errorf("topic %s does not exist on %s ('hedgeline topics --brokers %s' lists the topics)", topic, seeds, seeds)
	}
	return out, err
}

// foldPositions rebuilds every position from position.events, skipping
// re-published duplicates by (aggregate_id, sequence).
func foldPositions(recs []*kgo.Record) (map[string]aggregate.Lifecycle[position.State], error) {
	out := map[string]aggregate.Lifecycle[position.State]{}
	for _, r := range recs {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			return nil, fmt.Errorf("position.events offset %d: %w", r.Offset, err)
		}
		l := out[env.AggregateID]
		if env.Sequence <= l.Version {
			continue
		}
		ev, err := position.Events.Decode(env.EventType, env.Payload)
		if err != nil {
			return nil, fmt.Errorf("position.events offset %d: %w", r.Offset, err)
		}
		out[env.AggregateID] = position.Evolve(l, ev)
	}
	return out, nil
}

// pnlSummary is one row of the PnL table: the latest record per symbol and
// the volumes behind it.
type pnlSummary struct {
	Symbol         string          `json:"symbol"`
	RealizedPnL    decimal.Decimal `json:"realized_pnl"`
	NetPosition    decimal.Decimal `json:"net_position"`
	OnchainVolume  decimal.Decimal `json:"onchain_volume"`
	OffchainVolume decimal.Decimal `json:"offchain_volume"`
	Fills          int             `json:"fills"`
}

func summarizePnL(recs []*kgo.Record) ([]pnlSummary, error) {
	by := map[string]*pnlSummary{}
	last := map[string]uint64{}
	for _, r := range recs {
		var rec pnl.Record
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return nil, fmt.Errorf("pnl.events offset %d: %w", r.Offset, err)
		}
		sym := string(rec.Symbol)
		if rec.PositionSequence <= last[sym] {
			continue // re-published duplicate
		}
		last[sym] = rec.PositionSequence
		s := by[sym]
		if s == nil {
			s = &pnlSummary{Symbol: sym}
			by[sym] = s
		}
		s.RealizedPnL, s.NetPosition = rec.CumulativePnL, rec.NetPositionAfter
		if rec.Venue == pnl.Onchain {
			s.OnchainVolume = s.OnchainVolume.Add(rec.Quantity)
		} else {
			s.OffchainVolume = s.OffchainVolume.Add(rec.Quantity)
		}
		s.Fills++
	}
	out := make([]pnlSummary, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out, nil
}
