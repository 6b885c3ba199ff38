package trademanager

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The trade manager must wait while the positions have Limit commands of a
// partition unprocessed, and go on once they commit past them.
func TestBacklogHoldsTheTradeManagerAtTheLimit(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "cmds"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "cmds", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBacklog(BacklogConfig{Admin: adm, Topic: "cmds", Group: "positions", Limit: 4, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)

	b.Admit(ctx, 0) // an empty partition admits at once
	admitted := make(chan struct{})
	go func() {
		b.Admit(ctx, 1) // 5 unprocessed, limit 4
		close(admitted)
	}()
	select {
	case <-admitted:
		t.Fatal("admitted with 5 commands unprocessed at a limit of 4")
	case <-time.After(300 * time.Millisecond): // several refreshes
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "cmds", Partition: 1, At: 3})
	if _, err := adm.CommitOffsets(ctx, "positions", offs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-admitted:
	case <-time.After(5 * time.Second):
		t.Fatal("still held after the positions committed 3 of 5")
	}
	if _, err := NewBacklog(BacklogConfig{Admin: adm, Topic: "cmds", Group: "positions"}); err == nil {
		t.Fatal("a zero limit and interval must be refused")
	}
}
