package alpaca

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/alpaca/alpacatest"
	"github.com/hedgeline/hedgeline/internal/testlog"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// eventTime is the fake's clock in the stream tests: every event carries
// it as its timestamp.
var eventTime = time.Date(2026, 11, 30, 14, 30, 2, 1000, time.UTC)

// startStream runs b.Stream against f until the test ends.
func startStream(t *testing.T, f *alpacatest.Server, opts StreamOptions, secret string) (*Broker, <-chan Update, <-chan error, *testlog.Buffer) {
	t.Helper()
	sink := &testlog.Buffer{}
	b := newBroker(t, f.URL, sink, func(c *Config) { c.SecretKey = secret })
	if !strings.HasPrefix(b.StreamURL(), "ws://127.0.0.1:") || !strings.HasSuffix(b.StreamURL(), "/stream") {
		t.Fatalf("stream url %s", b.StreamURL())
	}
	out := make(chan Update, 16)
	done := runUntilCleanup(t, func(ctx context.Context) error { return b.Stream(ctx, opts, out) })
	return b, out, done, sink
}

// runUntilCleanup runs f in a goroutine, canceled and waited for when the
// test ends; its error arrives on the channel.
func runUntilCleanup(t *testing.T, f func(context.Context) error) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- f(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return done
}

func next[U any](t *testing.T, out <-chan U) U {
	t.Helper()
	select {
	case u := <-out:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10 s")
	}
	var zero U
	return zero
}

func listening(t *testing.T, f *alpacatest.Server, n int) {
	t.Helper()
	if err := f.WaitListening(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// rawEvent is a trade_updates message about the fake's order id with its
// object's fields changed.
func rawEvent(t *testing.T, f *alpacatest.Server, event, id string, fields map[string]any) string {
	t.Helper()
	o := f.Object(id)
	for k, v := range fields {
		o[k] = v
	}
	buf, err := json.Marshal(map[string]any{"stream": "trade_updates",
		"data": map[string]any{"event": event, "timestamp": "2026-11-30T14:30:02.000001Z", "order": o}})
	if err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

func TestStreamDeliversOrderUpdates(t *testing.T) {
	f := newFake(t)
	f.SetNow(func() time.Time { return eventTime })
	b, out, _, _ := startStream(t, f, StreamOptions{}, testSecret)
	listening(t, f, 1)
	ctx := context.Background()
	place := func(cid string) string {
		p, err := b.Place(ctx, hedge(cid, "2", market.Buy))
		if err != nil {
			t.Fatal(err)
		}
		return p.BrokerOrderID
	}
	f.Push(`{"stream":"account_updates","data":{}}`) // other streams are skipped
	filled := place("exec-fill")
	if err := f.PartialFill(filled, decimal.RequireFromString("0.5"), decimal.RequireFromString("187.1")); err != nil {
		t.Fatal(err)
	}
	if err := f.Fill(filled, decimal.RequireFromString("187.3")); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"exec-fill": filled}
	for cid, finish := range map[string]func(string) error{"exec-cancel": f.Cancel, "exec-reject": f.Reject, "exec-expire": f.Expire} {
		ids[cid] = place(cid)
		if err := finish(ids[cid]); err != nil {
			t.Fatal(err)
		}
	}
	type wantEv struct {
		cid, event string
		state      brokers.State
	}
	want := []wantEv{
		{"exec-fill", "new", brokers.StateSubmitted}, {"exec-fill", "partial_fill", brokers.StateSubmitted},
		{"exec-fill", "fill", brokers.StateFilled},
	}
	got := map[string][]Update{}
	for range 3 + 2*3 {
		u := next(t, out)
		got[u.ClientOrderID] = append(got[u.ClientOrderID], u)
	}
	for cid, final := range map[string]string{"exec-cancel": "canceled", "exec-reject": "rejected", "exec-expire": "expired"} {
		want = append(want, wantEv{cid, "new", brokers.StateSubmitted}, wantEv{cid, final, brokers.StateFailed})
	}
	seen := map[string]int{}
	for _, w := range want {
		i := seen[w.cid]
		seen[w.cid]++
		if i >= len(got[w.cid]) {
			t.Fatalf("%s: no update %d (%s)", w.cid, i, w.event)
		}
		u := got[w.cid][i]
		if u.Err != nil || u.Event != w.event || u.Status.State != w.state || u.BrokerOrderID != ids[w.cid] {
			t.Fatalf("%s update %d: %+v, want event %s state %s", w.cid, i, u, w.event, w.state)
		}
		if !u.At.Equal(eventTime) {
			t.Errorf("%s at %s, want the event timestamp", u.Event, u.At)
		}
		if w.state == brokers.StateFailed && !strings.Contains(u.Status.Error, w.event) {
			t.Errorf("%s: failure reason %q does not name the status", w.cid, u.Status.Error)
		}
	}
	fill := got["exec-fill"][2]
	// 0.5 at 187.1 then 1.5 at 187.3: the average is 187.25.
	if !fill.Status.AvgPrice.Equal(decimal.RequireFromString("187.25")) || !fill.Status.FilledShares.Equal(decimal.NewFromInt(2)) {
		t.Errorf("fill %s x %s, want 2 x 187.25", fill.Status.FilledShares, fill.Status.AvgPrice)
	}
	msgs := f.StreamMessages()
	var listen map[string]any
	_ = json.Unmarshal(msgs[1], &listen)
	if got, _ := json.Marshal(listen); string(got) != `{"action":"listen","data":{"streams":["trade_updates"]}}` {
		t.Fatalf("listen message %s", got)
	}
}

func TestStreamBadOrdersFailVisibly(t *testing.T) {
	f := newFake(t)
	b, out, _, _ := startStream(t, f, StreamOptions{}, testSecret)
	listening(t, f, 1)
	p, err := b.Place(context.Background(), hedge("exec-bad", "2", market.Buy))
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, out); u.Event != "new" {
		t.Fatalf("first update %+v", u)
	}
	f.Push(rawEvent(t, f, "fill", p.BrokerOrderID, map[string]any{"status": "filled", "filled_qty": "2", "filled_avg_price": nil}))
	f.Push(rawEvent(t, f, "held", p.BrokerOrderID, map[string]any{"status": "held_for_review"}))
	if u := next(t, out); u.Err == nil || !strings.Contains(u.Err.Error(), "filled_avg_price") || u.Status.State != "" {
		t.Fatalf("fill without price: %+v, want an error", u)
	}
	if u := next(t, out); !errors.Is(u.Err, ErrUnknownStatus) || !errors.Is(u.Err, brokers.ErrRejected) || !strings.Contains(u.Err.Error(), "held_for_review") {
		t.Fatalf("unknown status: %+v, want ErrUnknownStatus naming it", u)
	}
}

// The stream drops mid-stream: the client reconnects, authenticates and
// listens again, and receives what the new connection sends; OnListening
// fires on each connection so the caller can reconcile by polling.
func TestStreamReconnectsAfterDrop(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	listened, disconnects := 0, 0
	b, out, _, sink := startStream(t, f, StreamOptions{
		MinBackoff:   10 * time.Millisecond,
		OnListening:  func() { mu.Lock(); listened++; mu.Unlock() },
		OnDisconnect: func(error) { mu.Lock(); disconnects++; mu.Unlock() },
	}, testSecret)
	listening(t, f, 1)
	p, err := b.Place(context.Background(), hedge("exec-drop", "2", market.Buy))
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, out); u.Event != "new" {
		t.Fatalf("first update %+v", u)
	}
	f.DropStreams()
	listening(t, f, 2)
	f.DropStreams()
	listening(t, f, 3)
	if err := f.Fill(p.BrokerOrderID, decimal.RequireFromString("10.5")); err != nil {
		t.Fatal(err)
	}
	if u := next(t, out); u.Event != "fill" || u.Status.State != brokers.StateFilled {
		t.Fatalf("update after reconnect %+v", u)
	}
	mu.Lock()
	defer mu.Unlock()
	if listened != 3 || disconnects != 2 {
		t.Fatalf("listening %d times, %d disconnects; want 3 and 2", listened, disconnects)
	}
	if !strings.Contains(sink.String(), "reconnecting") || strings.Contains(sink.String(), testSecret) {
		t.Fatalf("logs: %s", sink.String())
	}
}

func TestStreamUnauthorizedStops(t *testing.T) {
	f := newFake(t)
	_, _, done, sink := startStream(t, f, StreamOptions{MinBackoff: time.Millisecond}, "wrong-"+testSecret)
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), testSecret) {
			t.Fatalf("stream ended with %v, want ErrUnauthorized without the secret", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream kept going with refused keys")
	}
	if strings.Contains(sink.String(), testSecret) {
		t.Fatal("secret in logs")
	}
	if n := f.StreamsAccepted(); n != 1 {
		t.Fatalf("%d connections, want 1 (no retry with refused keys)", n)
	}
}

func TestStreamURLFollowsScheme(t *testing.T) {
	for base, want := range map[string]string{
		"https://paper-api.alpaca.markets": "wss://paper-api.alpaca.markets/stream",
		"http://127.0.0.1:8080/":           "ws://127.0.0.1:8080/stream",
	} {
		b, err := New(Config{BaseURL: base, KeyID: "k", SecretKey: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.StreamURL(); got != want {
			t.Errorf("%s -> %s, want %s", base, got, want)
		}
	}
}

// Updates is the brokers.Streamer face of Stream: events mapped to
// brokers.Update (errors kept), listening(true) on every connection that
// listens, listening(false) on every drop, and a refused key ends it.
func TestUpdatesImplementsStreamer(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	var s brokers.Streamer = b
	var mu sync.Mutex
	var states []bool
	out := make(chan brokers.Update, 16)
	runUntilCleanup(t, func(ctx context.Context) error {
		return s.Updates(ctx, out, func(on bool) { mu.Lock(); states = append(states, on); mu.Unlock() })
	})
	listening(t, f, 1)
	p, err := b.Place(context.Background(), hedge("exec-upd", "3", market.Sell))
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, out); u.ClientOrderID != "exec-upd" || u.BrokerOrderID != p.BrokerOrderID || u.Err != nil || u.Status.State != brokers.StateSubmitted {
		t.Fatalf("new: %+v", u)
	}
	f.DropStreams()
	listening(t, f, 2)
	if err := f.Fill(p.BrokerOrderID, decimal.RequireFromString("99.125")); err != nil {
		t.Fatal(err)
	}
	u := next(t, out)
	if u.ClientOrderID != "exec-upd" || u.BrokerOrderID != p.BrokerOrderID || u.Err != nil || u.Status.State != brokers.StateFilled ||
		!u.Status.AvgPrice.Equal(decimal.RequireFromString("99.125")) || !u.Status.FilledShares.Equal(decimal.NewFromInt(3)) {
		t.Fatalf("fill: %+v", u)
	}
	f.Push(rawEvent(t, f, "fill", p.BrokerOrderID, map[string]any{"filled_avg_price": nil}))
	f.Push(rawEvent(t, f, "held", p.BrokerOrderID, map[string]any{"status": "held_for_review"}))
	if u := next(t, out); u.Err == nil || !strings.Contains(u.Err.Error(), "filled_avg_price") || u.ClientOrderID != "exec-upd" || u.Status.State != "" {
		t.Fatalf("fill without a price: %+v, want Err", u)
	}
	if u := next(t, out); !errors.Is(u.Err, ErrUnknownStatus) || u.BrokerOrderID != p.BrokerOrderID {
		t.Fatalf("unknown status: %+v, want Err", u)
	}
	mu.Lock()
	if got := states; len(got) != 3 || !got[0] || got[1] || !got[2] {
		t.Errorf("listening calls %v, want [true false true]", got)
	}
	mu.Unlock()

	bad := newBroker(t, f.URL, nil, func(c *Config) { c.SecretKey = "wrong-" + testSecret })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bad.Updates(ctx, out, nil); !errors.Is(err, ErrUnauthorized) || ctx.Err() != nil {
		t.Fatalf("refused keys: Updates returned %v, want ErrUnauthorized at once", err)
	}
}
