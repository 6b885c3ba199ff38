package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/topics"
)

// TestClickHouseViewsEndToEnd runs the product as a user does: the pipeline
// projecting into a ClickHouse server (a child `hedgeline clickhouse`), the
// sample fed in, then `hedgeline pnl --json` and `positions --json` must
// agree with the records on Kafka, before and after `hedgeline replay`.
func TestClickHouseViewsEndToEnd(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	chAddr := kitStartClickHouse(t, dir)
	maddr := kitFreeAddr(t)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"),
		"--clickhouse", chAddr, "--metrics-listen", maddr))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kitIngestSample(ctx, t, addr)

	recs, err := readTopic(ctx, kitCluster(addr), topics.PnLEvents)
	if err != nil {
		t.Fatal(err)
	}
	want, err := summarizePnL(recs)
	if err != nil {
		t.Fatal(err)
	}
	wantFills := 0
	for _, w := range want {
		wantFills += w.Fills
	}
	pnlFromCLI := func() []pnlSummary {
		var out bytes.Buffer
		if err := dispatch(ctx, []string{"pnl", "--clickhouse", chAddr, "--json"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		var got []pnlSummary
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("pnl --json: %v\n%s", err, out.String())
		}
		return got
	}
	compare := func(stage string) {
		t.Helper()
		var got []pnlSummary
		kitWaitFor(t, time.Minute, "pnl_summary to hold every pnl record", func() (bool, string) {
			got = pnlFromCLI()
			n := 0
			for _, g := range got {
				n += g.Fills
			}
			return n >= wantFills, fmt.Sprintf("%d of %d fills", n, wantFills)
		})
		if len(got) != len(want) {
			t.Fatalf("%s: %d symbols from ClickHouse, %d on Kafka", stage, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Symbol != w.Symbol || !g.RealizedPnL.Equal(w.RealizedPnL) || !g.NetPosition.Equal(w.NetPosition) ||
				!g.OnchainVolume.Equal(w.OnchainVolume) || !g.OffchainVolume.Equal(w.OffchainVolume) || g.Fills != w.Fills {
				t.Errorf("%s: %s from ClickHouse %+v, from pnl.events %+v", stage, w.Symbol, g, w)
			}
		}
	}
	compare("live projection")

	// The projector metrics: each projection's batches add up to the
	// records of its topic, its inserts are timed, its group has no lag.
	kitWaitFor(t, time.Minute, "projector metrics to match the topics", func() (bool, string) {
		fams, err := kitScrape(maddr)
		if err != nil {
			return false, err.Error()
		}
		var bad []string
		for _, p := range sinks.Projections() {
			recs, err := readTopic(ctx, kitCluster(addr), p.Topic())
			if err != nil {
				return false, err.Error()
			}
			var got float64
			for _, m := range fams["hedgeline_projector_batch_records"].GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "projection" && l.GetValue() == p.Name() {
						got = m.GetHistogram().GetSampleSum()
					}
				}
			}
			if got != float64(len(recs)) {
				bad = append(bad, fmt.Sprintf("%s: batches of %v records, %d on %s", p.Name(), got, len(recs), p.Topic()))
			}
			group := map[string]string{"group": sinks.DefaultGroup(p.Name())}
			if lag, n := kitMetric(fams, "hedgeline_consumer_lag_records", group); n == 0 || lag != 0 {
				bad = append(bad, fmt.Sprintf("%s: lag %v over %d partitions, want 0", group["group"], lag, n))
			}
		}
		if n, _ := kitMetric(fams, "hedgeline_projector_insert_seconds", map[string]string{"outcome": "ok"}); n == 0 {
			bad = append(bad, "no insert timed")
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})

	posRecs, err := readTopic(ctx, kitCluster(addr), topics.PositionEvents)
	if err != nil {
		t.Fatal(err)
	}
	states, err := foldPositions(posRecs)
	if err != nil {
		t.Fatal(err)
	}
	// Each view is projected by its own consumer: the positions view may
	// still be applying what pnl_summary already shows.
	var out bytes.Buffer
	kitWaitFor(t, time.Minute, "position_view to match position.events", func() (bool, string) {
		out.Reset()
		if err := dispatch(ctx, []string{"positions", "--clickhouse", chAddr, "--json"}, &out, io.Discard); err != nil {
			return false, err.Error()
		}
		var positions []struct {
			Symbol string `json:"symbol"`
			Net    string `json:"net"`
		}
		if err := json.Unmarshal(out.Bytes(), &positions); err != nil {
			return false, err.Error()
		}
		if len(positions) != len(states) {
			return false, fmt.Sprintf("%d rows for %d positions", len(positions), len(states))
		}
		for _, p := range positions {
			if s := states[p.Symbol]; s.State.Net.String() != p.Net {
				return false, fmt.Sprintf("position %s: net %s in ClickHouse, %s folded from position.events", p.Symbol, p.Net, s.State.Net)
			}
		}
		return true, ""
	})

	out.Reset()
	if err := dispatch(ctx, []string{"replay", "--brokers", addr, "--partitions", fmt.Sprint(testPartitions), "--clickhouse", chAddr, "--views", "all"}, &out, io.Discard); err != nil {
		t.Fatalf("replay: %v", err)
	}
	compare("after replay")
}
