package alpaca

import (
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hedgeline/hedgeline/brokers"
	"github.com/shopspring/decimal"
)

// fakeStream is Alpaca's /stream: auth, listen, then trade_updates in
// binary frames as the paper endpoint sends them. Each connection sends the
// events queued on it; closing drop ends the connection mid-stream.
type fakeStream struct {
	t        *testing.T
	mu       sync.Mutex
	conns    int
	received [][]byte // client messages, in order
	// events[i] are sent on connection i (0-based); a connection past the
	// list just stays open.
	events [][]string
	// dropAfter[i] closes connection i after its events (abnormally).
	dropAfter map[int]bool
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/stream" {
		http.NotFound(w, r)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	f.mu.Lock()
	n := f.conns
	f.conns++
	f.mu.Unlock()
	ctx := r.Context()
	read := func() map[string]any {
		_, data, err := c.Read(ctx)
		if err != nil {
			return nil
		}
		f.mu.Lock()
		f.received = append(f.received, data)
		f.mu.Unlock()
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		return m
	}
	send := func(s string) { _ = c.Write(ctx, websocket.MessageBinary, []byte(s)) }
	auth := read()
	if auth == nil {
		return
	}
	if auth["action"] != "auth" || auth["key"] != testKeyID || auth["secret"] != testSecret {
		send(`{"stream":"authorization","data":{"status":"unauthorized","action":"authenticate"}}`)
		return
	}
	send(`{"stream":"authorization","data":{"status":"authorized","action":"authenticate"}}`)
	listen := read()
	data, _ := listen["data"].(map[string]any)
	if listen["action"] != "listen" || data == nil {
		return
	}
	send(`{"stream":"listening","data":{"streams":["trade_updates"]}}`)
	f.mu.Lock()
	var evs []string
	if n < len(f.events) {
		evs = f.events[n]
	}
	drop := f.dropAfter[n]
	f.mu.Unlock()
	for _, e := range evs {
		send(e)
	}
	if drop {
		return // CloseNow: the connection dies without a close frame
	}
	<-ctx.Done()
}

// tradeEvent is a trade_updates message as documented: event, timestamp,
// price/qty/position_qty for fills, and the full order object.
func tradeEvent(event, orderID, status, filledQty string, avg any) string {
	o := documentedOrder(orderID, "exec-"+orderID[len(orderID)-3:], "AAPL", "2", "buy")
	o["status"] = status
	o["filled_qty"] = filledQty
	o["filled_avg_price"] = avg
	d := map[string]any{"event": event, "order": o, "timestamp": "2026-11-30T14:30:02.000001Z",
		"execution_id": "7922ab44-1ff3-4d0e-a3d2-5bd5a83c8ecb"}
	if event == "fill" || event == "partial_fill" {
		d["price"], d["qty"], d["position_qty"] = avg, filledQty, filledQty
	}
	buf, _ := json.Marshal(map[string]any{"stream": "trade_updates", "data": d})
	return string(buf)
}

func startStream(t *testing.T, f *fakeStream, opts StreamOptions, secret string) (<-chan Update, <-chan error, *testlog.Buffer) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sink := &testlog.Buffer{}
	b := newBroker(t, srv.URL, sink, func(c *Config) { c.SecretKey = secret })
	if !strings.HasPrefix(b.StreamURL(), "ws://127.0.0.1:") || !strings.HasSuffix(b.StreamURL(), "/stream") {
		t.Fatalf("stream url %s", b.StreamURL())
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Update, 16)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- b.Stream(ctx, opts, out)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return out, done, sink
}

func next(t *testing.T, out <-chan Update) Update {
	t.Helper()
	select {
	case u := <-out:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10 s")
	}
	return Update{}
}

func TestStreamDeliversOrderUpdates(t *testing.T) {
	id := "61e69015-8549-4bfd-b9c3-01e75843f001"
	f := &fakeStream{t: t, events: [][]string{{
		`{"stream":"account_updates","data":{}}`, // other streams are skipped
		tradeEvent("new", id, "new", "0", nil),
		tradeEvent("partial_fill", id, "partially_filled", "0.5", "187.1"),
		tradeEvent("fill", id, "filled", "2", "187.2345"),
		tradeEvent("canceled", id, "canceled", "0", nil),
		tradeEvent("rejected", id, "rejected", "0", nil),
		tradeEvent("expired", id, "expired", "0", nil),
	}}}
	out, _, _ := startStream(t, f, StreamOptions{}, testSecret)
	want := []struct {
		event string
		state brokers.State
	}{{"new", brokers.StateSubmitted}, {"partial_fill", brokers.StateSubmitted}, {"fill", brokers.StateFilled},
		{"canceled", brokers.StateFailed}, {"rejected", brokers.StateFailed}, {"expired", brokers.StateFailed}}
	for _, w := range want {
		u := next(t, out)
		if u.Err != nil || u.Event != w.event || u.Status.State != w.state || u.BrokerOrderID != id || u.ClientOrderID != "exec-001" {
			t.Fatalf("update %+v, want event %s state %s", u, w.event, w.state)
		}
		if !u.At.Equal(time.Date(2026, 11, 30, 14, 30, 2, 1000, time.UTC)) {
			t.Errorf("%s at %s, want the event timestamp", u.Event, u.At)
		}
		if w.event == "fill" && (!u.Status.AvgPrice.Equal(decimal.RequireFromString("187.2345")) || !u.Status.FilledShares.Equal(decimal.NewFromInt(2))) {
			t.Errorf("fill %s x %s", u.Status.FilledShares, u.Status.AvgPrice)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var listen map[string]any
	_ = json.Unmarshal(f.received[1], &listen)
	if got, _ := json.Marshal(listen); string(got) != `{"action":"listen","data":{"streams":["trade_updates"]}}` {
		t.Fatalf("listen message %s", got)
	}
}

func TestStreamBadOrdersFailVisibly(t *testing.T) {
	id := "61e69015-8549-4bfd-b9c3-01e75843f002"
	f := &fakeStream{t: t, events: [][]string{{
		tradeEvent("fill", id, "filled", "2", nil),
		tradeEvent("held", id, "held_for_review", "0", nil),
	}}}
	out, _, _ := startStream(t, f, StreamOptions{}, testSecret)
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
	id := "61e69015-8549-4bfd-b9c3-01e75843f003"
	f := &fakeStream{t: t,
		events:    [][]string{{tradeEvent("new", id, "new", "0", nil)}, {}, {tradeEvent("fill", id, "filled", "2", "10.5")}},
		dropAfter: map[int]bool{0: true, 1: true},
	}
	var mu sync.Mutex
	listening, disconnects := 0, 0
	out, _, sink := startStream(t, f, StreamOptions{
		MinBackoff:   10 * time.Millisecond,
		OnListening:  func() { mu.Lock(); listening++; mu.Unlock() },
		OnDisconnect: func(error) { mu.Lock(); disconnects++; mu.Unlock() },
	}, testSecret)
	if u := next(t, out); u.Event != "new" {
		t.Fatalf("first update %+v", u)
	}
	if u := next(t, out); u.Event != "fill" || u.Status.State != brokers.StateFilled {
		t.Fatalf("update after reconnect %+v", u)
	}
	mu.Lock()
	defer mu.Unlock()
	if listening != 3 || disconnects != 2 {
		t.Fatalf("listening %d times, %d disconnects; want 3 and 2", listening, disconnects)
	}
	if !strings.Contains(sink.String(), "reconnecting") || strings.Contains(sink.String(), testSecret) {
		t.Fatalf("logs: %s", sink.String())
	}
}

func TestStreamUnauthorizedStops(t *testing.T) {
	f := &fakeStream{t: t}
	_, done, sink := startStream(t, f, StreamOptions{MinBackoff: time.Millisecond}, "wrong-"+testSecret)
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns != 1 {
		t.Fatalf("%d connections, want 1 (no retry with refused keys)", f.conns)
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
