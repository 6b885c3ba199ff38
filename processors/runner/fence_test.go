package runner

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
)

// TestFailedEmitStopsLaterOutputs: the broker refuses the first output of
// a stage while the stage is already handling the next input. The stage
// restarts (Retry) and its outputs must reach the output partition in input
// order: none of a later input may land ahead of an earlier one's. Before
// the fence, the next input's output was sent after the failure (under the
// producer's new epoch), landed first, and a consumer relying on the
// partition's order (the position, for chain order) lost the earlier one.
func TestFailedEmitStopsLaterOutputs(t *testing.T) {
	b, err := kafka.Start(kafka.Config{Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	const in, out, n = "fence-in", "fence-out", 10
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, in, out); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The first produce to out fails as a full disk's does; the handler of
	// input 1 (already running then) returns once the producer has had the
	// time to learn of the failure.
	refused := make(chan struct{})
	var once sync.Once
	b.Cluster().Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: out, Err: kerr.UnknownServerError,
		When: func(kmsg.Request) bool { once.Do(func() { close(refused) }); return true },
	})
	var firstRun sync.Once
	st := Stage[int]{
		Group: "fence", Input: in, Outputs: []string{out},
		Handle: func(s int, in Input) (int, []Output, error) {
			if string(in.Value) == "1" {
				firstRun.Do(func() {
					select {
					case <-refused:
						time.Sleep(500 * time.Millisecond)
					case <-time.After(10 * time.Second):
					}
				})
			}
			return s + 1, []Output{{Topic: out, Key: in.Key, Value: in.Value}}, nil
		},
		Reject: func(in Input, reason error) (Output, error) { return Output{}, reason },
	}
	p, err := Build(st, Config{
		Kafka: kafkasec.Plaintext(b.Addr()), Partitions: 1, Replication: 1, Tuning: TestTuning(),
		Retry: func(err error) (string, bool) {
			return "refused", strings.Contains(err.Error(), "Unexpected (unknown?) server error")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// Read out until every input's output is there; note the order in
	// which each appeared first.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(out))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var order []string
	seen := map[string]bool{}
	for len(seen) < n {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("outputs seen so far, in order: %v: %v", order, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); !seen[v] {
				seen[v] = true
				order = append(order, v)
			}
		})
	}
	for i, v := range order {
		if v != strconv.Itoa(i) {
			t.Fatalf("outputs reached the partition out of input order (first copies): %v", order)
		}
	}
}
