package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// TestSampleHedgesOnItsOwnDay runs the demo's path (the bundled 2025
// sample ingested into a pipeline with a dry-run fill delay, projected into
// ClickHouse) and asks what a user asks: `pnl --from 2025-11-04 --to
// 2025-11-05` must include the hedges (offchain volume, nets hedged within
// the 1-share threshold), and hedge_latency must show the fill delay from
// placement to fill and from the trigger's block to the fill, not the year
// between the sample and the wall clock.
func TestSampleHedgesOnItsOwnDay(t *testing.T) {
	const delay = 1500 * time.Millisecond
	addr := kitStartBroker(t)
	dir := t.TempDir()
	chAddr := kitStartClickHouse(t, dir)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"),
		"--clickhouse", chAddr, "--dry-run-fill-delay", delay.String()))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fills := kitIngestSample(ctx, t, addr)
	evs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.PositionEvents))
	if err != nil {
		t.Fatal(err)
	}
	var wantHedges uint64
	for _, e := range evs {
		if e.EventType == (position.OffChainOrderFilled{}).EventType() {
			wantHedges++
		}
	}
	if wantHedges == 0 {
		t.Fatal("the sample filled no hedge: nothing to check")
	}

	db, err := sinks.Open(ctx, sinks.Config{Addr: chAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hedges uint64
	var minFill, maxFill, maxBlockToFill, minPlacedToFill int64
	kitWaitFor(t, time.Minute, "filled hedges in hedge_latency", func() (bool, string) {
		row := db.Conn().QueryRow(ctx, `SELECT count(), min(placed_to_filled_ms), max(placed_to_filled_ms),
			max(toUnixTimestamp64Milli(filled_at) - toUnixTimestamp64Milli(trigger_block_timestamp)),
			min(toUnixTimestamp64Milli(filled_at) - toUnixTimestamp64Milli(placed_at))
			FROM hedgeline.hedge_latency WHERE status = 'filled'`)
		if err := row.Scan(&hedges, &minFill, &maxFill, &maxBlockToFill, &minPlacedToFill); err != nil {
			return false, err.Error()
		}
		return hedges >= wantHedges, fmt.Sprintf("%d of %d filled hedges", hedges, wantHedges)
	})
	t.Logf("%d filled hedges: placed to filled %d..%d ms, trigger block to fill at most %d ms", hedges, minFill, maxFill, maxBlockToFill)
	// The sample's hedges are triggered by on-chain fills; a hedge placed
	// after another's fill starts at that fill, so block to fill is one or
	// a few delays. Days would mean the wall clock leaked in.
	if minFill < delay.Milliseconds() || maxFill > delay.Milliseconds()+1000 || minPlacedToFill < 0 {
		t.Errorf("placed to filled %d..%d ms over %d hedges, want the fill delay %s", minFill, maxFill, hedges, delay)
	}
	if maxBlockToFill > (10 * time.Minute).Milliseconds() {
		t.Errorf("trigger block to fill up to %s, want about the fill delay %s", time.Duration(maxBlockToFill)*time.Millisecond, delay)
	}

	var out bytes.Buffer
	kitWaitFor(t, time.Minute, "the day's pnl to hold every fill", func() (bool, string) {
		out.Reset()
		if err := dispatch(ctx, []string{"pnl", "--clickhouse", chAddr, "--from", "2025-11-04", "--to", "2025-11-05", "--json"}, &out, io.Discard); err != nil {
			return false, err.Error()
		}
		var got []pnlSummary
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, g := range got {
			n += g.Fills
		}
		return n >= len(fills)+int(hedges), fmt.Sprintf("%d records, want %d fills + %d hedges", n, len(fills), hedges)
	})
	var day []pnlSummary
	if err := json.Unmarshal(out.Bytes(), &day); err != nil {
		t.Fatal(err)
	}
	hedged := 0
	for _, s := range day {
		if s.OffchainVolume.IsPositive() {
			hedged++
		}
		if s.NetPosition.Abs().GreaterThanOrEqual(decimal.NewFromInt(1)) {
			t.Errorf("%s: net %s on 2025-11-04, want it hedged below 1 share", s.Symbol, s.NetPosition)
		}
	}
	if hedged == 0 {
		t.Errorf("pnl --from 2025-11-04 --to 2025-11-05: no offchain volume in any symbol: %s", out.String())
	}
}
