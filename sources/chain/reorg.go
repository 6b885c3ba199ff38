package chain

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// reverted is a fill of an orphaned block.
type reverted struct {
	fill  FillRef
	block BlockRef
}

// revertRecord is the OnChainTrade Revert of one fill of an orphaned
// block: command id per fill and orphaned block, so a crash mid-revert
// re-sends the same commands.
func revertRecord(r reverted, fork BlockRef) (*kgo.Record, error) {
	tx, idx, ok := strings.Cut(r.fill.TradeID, ":")
	var logIndex uint64
	if _, err := fmt.Sscan(idx, &logIndex); !ok || err != nil {
		return nil, fmt.Errorf("revert: bad trade id %q in the checkpoint", r.fill.TradeID)
	}
	id, err := market.NewTradeID(tx, logIndex)
	if err != nil {
		return nil, fmt.Errorf("revert: %w", err)
	}
	tid := id.String()
	return topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: topics.OnChainTrade, AggregateID: tid, CommandID: "revert:" + tid + "@" + strings.TrimPrefix(r.block.Hash, "0x")[:16],
		IssuedAt: time.Now().UTC(), CorrelationID: "revert:" + tid, CausationID: "chain-source",
	}, onchaintrade.Revert{
		TradeID: id, BlockNumber: r.block.Number, Reason: onchaintrade.RevertReorg,
		ForkBlock: fork.Number, ForkHash: fork.Hash,
	}, topics.SymbolKey(r.fill.Base, tid))
}

// checkReorg compares the checkpoint's block with the canonical chain. If
// it left the chain, the fills of every remembered block that left it too
// are reverted (newest first), and the checkpoint moves back to the newest
// remembered block still canonical (or RecentBlocks back), so the caller
// re-ingests the new canonical blocks from there.
func (s *Source) checkReorg(ctx context.Context, cp Checkpoint) (Checkpoint, bool, error) {
	clear(s.headers)
	h, err := s.header(ctx, cp.Block)
	if err != nil {
		return cp, false, err
	}
	if strings.EqualFold(h.Hash().Hex(), cp.Hash) {
		return cp, false, nil
	}
	var revert []reverted
	fork := uint64(0)
	if cp.Block > RecentBlocks {
		fork = cp.Block - RecentBlocks
	}
	keep := 0
	for i := len(cp.Recent) - 1; i >= 0; i-- {
		b := cp.Recent[i]
		h, err := s.header(ctx, b.Number)
		if err != nil {
			return cp, false, err
		}
		if strings.EqualFold(h.Hash().Hex(), b.Hash) {
			fork, keep = b.Number, i+1
			break
		}
		for _, f := range b.Fills {
			revert = append(revert, reverted{fill: f, block: b})
		}
	}
	if fork < s.cfg.FromBlock && s.cfg.FromBlock > 0 {
		fork = s.cfg.FromBlock - 1
	}
	s.log.Warn("reorg: blocks this source ingested left the canonical chain; reverting their fills and re-ingesting",
		"checkpoint_block", cp.Block, "checkpoint_hash", cp.Hash, "canonical_hash", h.Hash().Hex(),
		"fork_point", fork, "fills_reverted", len(revert))
	if keep == 0 && len(cp.Recent) > 0 && fork == cp.Block-min(cp.Block, RecentBlocks) {
		s.log.Error("reorg deeper than the remembered blocks: fills below them cannot be checked", "remembered_from", cp.Recent[0].Number)
	}
	// The first orphaned block is the oldest block reverted (fills are
	// collected newest first).
	var forkBlock BlockRef
	if len(revert) > 0 {
		forkBlock = revert[len(revert)-1].block
	}
	recs := make([]*kgo.Record, 0, len(revert))
	for _, r := range revert {
		rec, err := revertRecord(r, forkBlock)
		if err != nil {
			return cp, false, err
		}
		recs = append(recs, rec)
	}
	if err := s.produce(ctx, recs); err != nil {
		return cp, false, err
	}
	s.reverted += int64(len(revert))
	fh, err := s.header(ctx, fork)
	if err != nil {
		return cp, false, err
	}
	cp.Block, cp.Hash, cp.Recent = fork, fh.Hash().Hex(), cp.Recent[:keep]
	if err := s.cps.save(ctx, cp); err != nil {
		return cp, false, err
	}
	return cp, true, nil
}
