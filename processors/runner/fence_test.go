package runner

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

const fenceIn, fenceOut = "fence-in", "fence-out"

// fenceBroker starts an embedded broker with fenceIn and fenceOut (one
// partition each) and inputs "0".."n-1" on fenceIn, keyed by key.
func fenceBroker(ctx context.Context, t *testing.T, n int, key func(i int) string) *kafka.Broker {
	t.Helper()
	b, err := kafka.Start(kafka.Config{Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, fenceIn, fenceOut); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: fenceIn, Key: []byte(key(i)), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// fenceRun runs st against b until the test ends, restarting it (Retry)
// after the refusals the tests inject (kerr.UnknownServerError).
func fenceRun(ctx context.Context, t *testing.T, b *kafka.Broker, st Stage[int], tuning Tuning) {
	t.Helper()
	p, err := Build(st, Config{
		Kafka: kafkasec.Plaintext(b.Addr()), Partitions: 1, Replication: 1, Tuning: tuning,
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
	t.Cleanup(func() { stop(); <-done })
}

// fenceOutputs reads fenceOut until every input's output is there and
// returns them in the order in which each appeared first.
func fenceOutputs(ctx context.Context, t *testing.T, b *kafka.Broker, n int) []string {
	t.Helper()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(fenceOut))
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
	return order
}

// echo emits each input's value to fenceOut.
func echo(s int, in Input) (int, []Output, error) {
	return s + 1, []Output{{Topic: fenceOut, Key: in.Key, Value: in.Value}}, nil
}

func refuse(in Input, reason error) (Output, error) { return Output{}, reason }

// TestFailedEmitStopsLaterOutputs: the broker refuses the first output of
// a stage while the stage is already handling the next input. The stage
// restarts (Retry) and its outputs must reach the output partition in input
// order: none of a later input may land ahead of an earlier one's. Before
// the fence, the next input's output was sent after the failure (under the
// producer's new epoch), landed first, and a consumer relying on the
// partition's order (the position, for chain order) lost the earlier one.
func TestFailedEmitStopsLaterOutputs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 10
	b := fenceBroker(ctx, t, n, func(i int) string { return "k" + strconv.Itoa(i) })

	// The first produce to out fails as a full disk's does; the handler of
	// input 1 (already running then) returns once the producer has had the
	// time to learn of the failure.
	refused := make(chan struct{})
	var once sync.Once
	b.Cluster().Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: fenceOut, Err: kerr.UnknownServerError,
		When: func(kmsg.Request) bool { once.Do(func() { close(refused) }); return true },
	})
	var firstRun sync.Once
	fenceRun(ctx, t, b, Stage[int]{
		Group: "fence", Input: fenceIn, Outputs: []string{fenceOut}, Reject: refuse,
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
			return echo(s, in)
		},
	}, TestTuning())

	order := fenceOutputs(ctx, t, b, n)
	for i, v := range order {
		if v != strconv.Itoa(i) {
			t.Fatalf("outputs reached the partition out of input order (first copies): %v", order)
		}
	}
}

// TestFailedEmitReleasesAWaitingInput: an input of a key whose window of
// unacknowledged outputs is full (Tuning.MaxPending) waits for an earlier
// input to be acknowledged. When that earlier input's output is refused,
// goka reports the failure only between two inputs, never to the one that
// waits: the input waited forever, and the stage neither handled anything
// more nor restarted (a full disk stalled the pipeline for good). The
// failure must end the wait and restart the stage, which then emits every
// output.
func TestFailedEmitReleasesAWaitingInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// One key: input 0 is its first, 1 the one output its window of one
	// holds, and 2 waits until 0 and 1 are acknowledged.
	const n = 4
	b := fenceBroker(ctx, t, n, func(int) string { return "k" })

	// The first produce to out (it carries input 0's output) is held until
	// input 2 has begun, so the failure comes while 2 waits; then it is
	// refused as a full disk's produce is.
	waiting := make(chan struct{})
	var held atomic.Bool
	b.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == fenceOut && held.CompareAndSwap(false, true) {
				b.Cluster().SleepControl(func() {
					select {
					case <-waiting:
					case <-ctx.Done():
					}
				})
			}
		}
		return nil, nil, false
	})
	b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: fenceOut, Err: kerr.UnknownServerError})
	var once sync.Once
	tuning := TestTuning()
	tuning.MaxPending = 1
	fenceRun(ctx, t, b, Stage[int]{
		Group: "fence-wait", Input: fenceIn, Outputs: []string{fenceOut}, Reject: refuse, Handle: echo,
		// Admit runs just before the wait for the window.
		Admit: func(_ context.Context, in Input) {
			if string(in.Value) == "2" {
				once.Do(func() { close(waiting) })
			}
		},
	}, tuning)

	fenceOutputs(ctx, t, b, n)
}
