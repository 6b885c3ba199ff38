package sinks

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplayWhileLive: a replay runs while the live projectors keep going
// and new events keep arriving; afterwards every view equals a reference
// database projected once from scratch, row for row.
func TestReplayWhileLive(t *testing.T) {
	db := testDB(t)
	addr := startKafka(t)
	s := newScenario(t)
	cl := producer(t, addr)
	var later []*kgo.Record
	for _, topic := range scenarioTopics {
		all := clone(s.all(topic))
		half := len(all) / 2
		produce(t, cl, all[:half]...)
		later = append(later, all[half:]...)
	}
	live := runAll(t, db, addr, Options{}) // keeps running through the replay

	var progress []ReplayProgress
	var mu sync.Mutex
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		time.Sleep(50 * time.Millisecond) // let the rebuild start first
		produce(t, cl, later...)
	}()
	err := Replay(testCtx(t), db, kafkasec.Plaintext(addr), ReplayOptions{
		KafkaOpts: []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)},
		Progress: func(p ReplayProgress) {
			mu.Lock()
			progress = append(progress, p)
			mu.Unlock()
		},
	})
	<-produced // before any Fatal: the producer goroutine reports through t
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range live {
		r.waitCommitted(t, addr, time.Minute)
	}
	// The replay may have ended before the last events; the live projectors
	// wrote them into the swapped-in tables.
	ref := testDB(t)
	runAll(t, ref, addr, Options{Group: "reference"})
	want := checksums(t, ref)
	got := checksums(t, db)
	for table, w := range want {
		if got[table] != w {
			t.Errorf("%s after replay: %+v, reference %+v", table, got[table], w)
		}
	}
	checkScenario(t, db, s)
	mu.Lock()
	defer mu.Unlock()
	if len(progress) == 0 || progress[len(progress)-1].Done != progress[len(progress)-1].Total {
		t.Errorf("progress not reported to completion: %+v", progress)
	}
	if n := countRows(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_replay'"); n != 0 {
		t.Errorf("%d shadow tables left", n)
	}
}

func TestSelectProjections(t *testing.T) {
	ps, err := SelectProjections([]string{"positions", "hedge_view", "metrics_pnl"})
	if err != nil || len(ps) != 2 || ps[0].Name() != "positions" || ps[1].Name() != "pnl" {
		t.Fatalf("got %v %v", ps, err)
	}
	if ps, err := SelectProjections([]string{"all"}); err != nil || len(ps) != len(Projections()) {
		t.Fatalf("all: %v %v", ps, err)
	}
	if _, err := SelectProjections([]string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown view: %v", err)
	}
}
