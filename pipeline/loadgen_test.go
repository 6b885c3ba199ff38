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

	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/feed"
	"github.com/hedgeline/hedgeline/topics"
)

type loadgenResult struct {
	Produced     int            `json:"produced"`
	ResumedAfter *feed.ChainPos `json:"resumed_after"`
	Outcome      *feed.Report   `json:"outcome"`
}

type ingestResult struct {
	Produced int          `json:"produced"`
	Outcome  *feed.Report `json:"outcome"`
}

// TestSourcesContinueAndReportRefusals runs the sources as a user does
// against one stack: the sample ingested, then loadgen twice. The second
// loadgen continues after the chain position already recorded, so every
// fill of both runs reaches its position and none is refused. A run forced
// to overlap (--resume=false, another seed) and the sample ingested again
// exit with an error and report what was refused or dropped, and why.
func TestSourcesContinueAndReportRefusals(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kafka := []string{"--brokers", addr, "--partitions", fmt.Sprint(testPartitions)}
	// run runs the command cmd with the stack's flags, then args (flags
	// before a PATH: Go's flag parsing stops at the first argument).
	run := func(v any, cmd []string, args ...string) error {
		t.Helper()
		args = append(append(append(cmd, kafka...), "--json", "--wait", "90s"), args...)
		var out bytes.Buffer
		err := dispatch(ctx, args, &out, io.Discard)
		if jerr := json.Unmarshal(out.Bytes(), v); jerr != nil {
			t.Fatalf("%v: output is not JSON (%v; err %v): %s", args, jerr, err, out.String())
		}
		return err
	}

	ingestCmd, loadgenCmd := []string{"ingest", "file"}, []string{"loadgen"}
	var sample ingestResult
	if err := run(&sample, ingestCmd, kitSamplePath); err != nil || sample.Outcome == nil || sample.Outcome.Accepted != 60 {
		t.Fatalf("first ingest of the sample: %v, %+v", err, sample.Outcome)
	}
	const n = 1500
	var first, second loadgenResult
	if err := run(&first, loadgenCmd, "--fills", fmt.Sprint(n), "--symbols", "6", "--seed", "1"); err != nil {
		t.Fatalf("first loadgen: %v, %+v", err, first.Outcome)
	}
	if err := run(&second, loadgenCmd, "--fills", fmt.Sprint(n), "--symbols", "6", "--seed", "1"); err != nil {
		t.Fatalf("second loadgen: %v, %+v", err, second.Outcome)
	}
	for i, r := range []loadgenResult{first, second} {
		if r.Outcome == nil || r.Outcome.Accepted != n || r.Outcome.Refused != 0 || r.Outcome.AlreadyRecorded != 0 || r.ResumedAfter == nil {
			t.Errorf("loadgen run %d: resumed after %+v, outcome %+v, want all %d accepted after the chain already recorded", i+1, r.ResumedAfter, r.Outcome, n)
		}
	}
	if first.ResumedAfter != nil && second.ResumedAfter != nil && !first.ResumedAfter.Before(*second.ResumedAfter) {
		t.Errorf("second run resumed after %+v, not after the first run's start %+v", second.ResumedAfter, first.ResumedAfter)
	}

	// Every fill of both runs (and the sample) reached its position once.
	evs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.PositionEvents))
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]bool{}
	for _, e := range evs {
		if e.EventType == (position.OnChainOrderFilled{}).EventType() {
			applied[e.CorrelationID] = true // fill:<trade id>
		}
	}
	if len(applied) != 60+2*n {
		t.Errorf("positions applied %d distinct fills, want %d", len(applied), 60+2*n)
	}
	if r := kitReadTopic(t, addr, topics.PositionRejections); len(r) != 0 {
		t.Errorf("%d position rejections after two loadgen runs", len(r))
	}

	var overlap loadgenResult
	err = run(&overlap, loadgenCmd, "--fills", "200", "--symbols", "6", "--seed", "2", "--resume=false")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("overlapping loadgen: err %v, want an error naming the refusals", err)
	}
	if o := overlap.Outcome; o == nil || o.Refused == 0 || o.Accepted+o.Refused != 200 || len(o.Reasons) == 0 {
		t.Errorf("overlapping loadgen: outcome %+v, want its refusals counted with reasons", o)
	} else {
		t.Logf("overlapping loadgen: %+v", *o)
	}

	var again ingestResult
	err = run(&again, ingestCmd, kitSamplePath)
	if err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Errorf("sample ingested again: err %v, want an error naming the fills already recorded", err)
	}
	if o := again.Outcome; o == nil || o.AlreadyRecorded != 60 || o.Accepted != 0 {
		t.Errorf("sample ingested again: outcome %+v, want all 60 already recorded", o)
	}
	p.check(t)
}
