package alpaca

import (
	"fmt"
	"github.com/hedgeline/hedgeline/internal/testlog"

	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/alpaca/alpacatest"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

const (
	testKeyID  = "PKTESTKEYID0000000001"
	testSecret = "s3cr3t-Sh0uld-N3ver-Leak-9f8e7d6c5b4a"
)

func newFake(t *testing.T) *alpacatest.Server { return alpacatest.NewServer(t, testKeyID, testSecret) }

func newBroker(t *testing.T, baseURL string, sink *testlog.Buffer, mutate ...func(*Config)) *Broker {
	t.Helper()
	if sink == nil {
		sink = &testlog.Buffer{}
	}
	cfg := Config{
		BaseURL:    baseURL,
		KeyID:      testKeyID,
		SecretKey:  testSecret,
		HTTPClient: &http.Client{Timeout: 2 * time.Second},
		Logger:     slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hedge(cid string, shares string, dir market.Direction) brokers.Order {
	return brokers.Order{ClientOrderID: cid, Symbol: "AAPL", Shares: decimal.RequireFromString(shares), Direction: dir}
}

func TestPlaceSendsDocumentedRequest(t *testing.T) {
	for _, tc := range []struct {
		shares string
		dir    market.Direction
		side   string
	}{{"3", market.Buy, "buy"}, {"0.125", market.Sell, "sell"}} {
		f := newFake(t)
		b := newBroker(t, f.URL, nil)
		cid := "0b9a3c5e-2f0d-4c61-9a49-6f7c1c2d3e4f"
		p, err := b.Place(context.Background(), hedge(cid, tc.shares, tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		if p.Existing || p.BrokerOrderID == "" {
			t.Fatalf("placement %+v", p)
		}
		obj := f.Object(p.BrokerOrderID)
		if want, _ := time.Parse(time.RFC3339Nano, obj["submitted_at"].(string)); !p.AcceptedAt.Equal(want) || obj["submitted_at"] == obj["created_at"] {
			t.Errorf("accepted at %s, want submitted_at %s (not created_at %s)", p.AcceptedAt, want, obj["created_at"])
		}
		r := f.Requests()[0]
		if r.Method != "POST" || r.Path != "/v2/orders" {
			t.Fatalf("request %s %s", r.Method, r.Path)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"symbol": "AAPL", "qty": tc.shares, "side": tc.side, "type": "market",
			"time_in_force": "day", "client_order_id": cid}
		if len(body) != len(want) {
			t.Errorf("body %s, want exactly %v", r.Body, want)
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("body[%s] = %v, want %v (body %s)", k, body[k], v, r.Body)
			}
		}
	}
}

func TestPlaceTwiceReturnsFirstOrder(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	o := hedge("exec-1", "2", market.Buy)
	first, err := b.Place(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Place(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Existing || second.BrokerOrderID != first.BrokerOrderID || !second.AcceptedAt.Equal(first.AcceptedAt) {
		t.Fatalf("second place %+v, want the first %+v with Existing", second, first)
	}
	if f.OrdersCreated() != 1 {
		t.Fatalf("alpaca created %d orders, want 1", f.OrdersCreated())
	}
	if f.Count("GET", "/v2/orders:by_client_order_id") != 1 {
		t.Fatal("second place did not look the order up by client order id")
	}
}

// A place whose response is lost: the retry with the same client order id
// returns the order created by the first attempt, not a second order.
func TestPlaceLostResponseRetryCreatesNoSecondOrder(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	f.DropPlaceResponses(1)
	o := hedge("exec-lost", "1", market.Sell)
	_, err := b.Place(context.Background(), o)
	if err == nil {
		t.Fatal("place with a dropped response succeeded")
	}
	if errors.Is(err, brokers.ErrRejected) {
		t.Fatalf("a lost response must be transient, got %v", err)
	}
	p, err := b.Place(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Existing || f.OrdersCreated() != 1 {
		t.Fatalf("retry: %+v, %d orders created", p, f.OrdersCreated())
	}
}

func TestStatusMapsEveryAlpacaStatus(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	p, err := b.Place(context.Background(), hedge("exec-st", "4", market.Buy))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]brokers.State{
		"new": brokers.StateSubmitted, "partially_filled": brokers.StateSubmitted,
		"filled": brokers.StateFilled, "done_for_day": brokers.StateSubmitted,
		"canceled": brokers.StateFailed, "expired": brokers.StateFailed,
		"replaced": brokers.StateFailed, "pending_cancel": brokers.StateSubmitted,
		"pending_replace": brokers.StateSubmitted, "accepted": brokers.StateSubmitted,
		"pending_new": brokers.StateSubmitted, "accepted_for_bidding": brokers.StateSubmitted,
		"stopped": brokers.StateSubmitted, "rejected": brokers.StateFailed,
		"suspended": brokers.StateSubmitted, "calculated": brokers.StateSubmitted,
	}
	if len(want) != 16 || len(stateOf) != 16 {
		t.Fatalf("want all 16 documented statuses mapped, table has %d", len(stateOf))
	}
	for status, state := range want {
		f.Set(p.BrokerOrderID, map[string]any{"status": status, "filled_qty": "4", "filled_avg_price": "187.2345",
			"filled_at": "2026-11-30T14:30:01.5Z"})
		got, err := b.Status(context.Background(), p.BrokerOrderID)
		if err != nil {
			t.Fatalf("%s: %v", status, err)
		}
		if got.State != state {
			t.Errorf("%s -> %s, want %s", status, got.State, state)
		}
		if state == brokers.StateFailed && !strings.Contains(got.Error, status) {
			t.Errorf("%s: failure reason %q does not name the status", status, got.Error)
		}
		if state == brokers.StateFilled {
			if !got.AvgPrice.Equal(decimal.RequireFromString("187.2345")) || !got.FilledShares.Equal(decimal.NewFromInt(4)) {
				t.Errorf("filled at %s x %s", got.FilledShares, got.AvgPrice)
			}
			if !got.UpdatedAt.Equal(time.Date(2026, 11, 30, 14, 30, 1, 500000000, time.UTC)) {
				t.Errorf("filled updated at %s, want filled_at", got.UpdatedAt)
			}
		}
	}
}

func TestUnknownStatusFailsVisibly(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	p, _ := b.Place(context.Background(), hedge("exec-unk", "1", market.Buy))
	f.Set(p.BrokerOrderID, map[string]any{"status": "held_for_review"})
	_, err := b.Status(context.Background(), p.BrokerOrderID)
	if !errors.Is(err, ErrUnknownStatus) || !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), `"held_for_review"`) {
		t.Fatalf("status error %v: want ErrUnknownStatus and ErrRejected naming the status", err)
	}
	if _, err := b.Find(context.Background(), "exec-unk"); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("find error %v, want ErrUnknownStatus", err)
	}
}

func TestFilledWithoutAveragePriceIsAnError(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	p, _ := b.Place(context.Background(), hedge("exec-noprice", "1", market.Buy))
	for _, price := range []any{nil, "0"} {
		f.Set(p.BrokerOrderID, map[string]any{"status": "filled", "filled_qty": "1", "filled_avg_price": price})
		st, err := b.Status(context.Background(), p.BrokerOrderID)
		if err == nil || !strings.Contains(err.Error(), "filled_avg_price") {
			t.Fatalf("filled_avg_price %v: status %+v, err %v; want an error, never a fill at 0", price, st, err)
		}
		if errors.Is(err, brokers.ErrRejected) {
			t.Fatalf("a missing price must not fail the order (it filled): %v", err)
		}
	}
}

func TestFind(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	p, _ := b.Place(context.Background(), hedge("exec/find+1", "1", market.Buy))
	k, err := b.Find(context.Background(), "exec/find+1")
	if err != nil {
		t.Fatal(err)
	}
	if k.BrokerOrderID != p.BrokerOrderID || k.Status.State != brokers.StateSubmitted {
		t.Fatalf("found %+v", k)
	}
	if _, err := b.Find(context.Background(), "never-placed"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("find unknown: %v, want ErrNotFound", err)
	}
	if _, err := b.Status(context.Background(), "00000000-0000-0000-0000-000000000000"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("status unknown: %v, want ErrNotFound", err)
	}
}

func TestRateLimitCarriesTheWait(t *testing.T) {
	f := newFake(t)
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	b := newBroker(t, f.URL, nil, func(c *Config) { c.Now = func() time.Time { return now } })
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{{"3", 3 * time.Second}, {now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second}, {"", 0}} {
		f.RateLimitNext(1, tc.value)
		_, err := b.Status(context.Background(), "61e69015-8549-4bfd-b9c3-000000000001")
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != tc.want || errors.Is(err, brokers.ErrRejected) {
			t.Fatalf("Retry-After %q: err %v, want a transient RateLimitError of %s", tc.value, err, tc.want)
		}
	}
	for _, tc := range []struct {
		header, value string
		want          time.Duration
	}{
		{"Retry-After", "3", 3 * time.Second},
		{"Retry-After", now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{"X-RateLimit-Reset", "1796050805", 5 * time.Second}, // now + 5 s in unix seconds
	} {
		f.SetHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set(tc.header, tc.value)
			alpacatest.WriteError(w, http.StatusTooManyRequests, 42910000, "rate limit exceeded")
			return true
		})
		_, err := b.Place(context.Background(), hedge("exec-rl", "1", market.Buy))
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != tc.want {
			t.Fatalf("%s: %s: err %v, want a RateLimitError of %s", tc.header, tc.value, err, tc.want)
		}
		if errors.Is(err, brokers.ErrRejected) {
			t.Fatalf("429 must be transient: %v", err)
		}
	}
	if now.Add(5*time.Second).Unix() != 1796050805 {
		t.Fatal("test vector: X-RateLimit-Reset is not now+5s")
	}
}

func TestTransientAndPermanentErrors(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} })
	release := make(chan struct{})
	defer close(release)
	for _, status := range []int{500, 502, 503} {
		f.FailNext(1, status)
		_, err := b.Place(context.Background(), hedge("exec-5xx", "1", market.Buy))
		if err == nil || errors.Is(err, brokers.ErrRejected) || errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), fmt.Sprint(status)) {
			t.Errorf("%d: %v, want a transient error naming the status", status, err)
		}
	}
	if _, err := b.Place(context.Background(), hedge("exec-5xx", "1", market.Buy)); err != nil || f.PlaceAttempts("exec-5xx") != 4 || f.OrdersCreated() != 1 {
		t.Fatalf("after the 5xx: %v, %d attempts, %d orders; want one order on the 4th attempt", err, f.PlaceAttempts("exec-5xx"), f.OrdersCreated())
	}
	for _, tc := range []struct {
		name     string
		answer   func(w http.ResponseWriter)
		rejected bool
		unauth   bool
	}{
		{"timeout", func(w http.ResponseWriter) { <-release }, false, false},
		{"422 validation", func(w http.ResponseWriter) { alpacatest.WriteError(w, 422, 40010001, "qty must be > 0") }, true, false},
		{"400 bad request", func(w http.ResponseWriter) { alpacatest.WriteError(w, 400, 40010000, "request body format is invalid") }, true, false},
		{"403 buying power", func(w http.ResponseWriter) {
			alpacatest.WriteError(w, 403, 40310000, "insufficient buying power")
		}, true, false},
		{"403 forbidden", func(w http.ResponseWriter) { alpacatest.WriteError(w, 403, 40310100, "forbidden") }, false, true},
	} {
		f.SetHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool { tc.answer(w); return true })
		_, err := b.Place(context.Background(), hedge("exec-err", "1", market.Buy))
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if errors.Is(err, brokers.ErrRejected) != tc.rejected || errors.Is(err, ErrUnauthorized) != tc.unauth {
			t.Errorf("%s: %v: rejected=%v unauthorized=%v, want %v %v", tc.name, err,
				errors.Is(err, brokers.ErrRejected), errors.Is(err, ErrUnauthorized), tc.rejected, tc.unauth)
		}
	}
}

func TestBadKeysAreAClearErrorWithoutTheKeys(t *testing.T) {
	f := newFake(t)
	sink := &testlog.Buffer{}
	b := newBroker(t, f.URL, sink, func(c *Config) { c.SecretKey = "wrong-" + testSecret })
	_, err := b.Place(context.Background(), hedge("exec-auth", "1", market.Buy))
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, brokers.ErrRejected) {
		t.Fatalf("401: %v, want ErrUnauthorized, not ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("401 error %q: want the status, never the secret", err)
	}
}

func TestClock(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	// The documented GET /v2/clock response.
	f.SetClock(`{"timestamp":"2026-11-30T10:15:00.123456789-05:00","is_open":true,"next_open":"2026-12-01T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`)
	c, err := b.Clock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsOpen || !c.NextClose.Equal(time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)) {
		t.Fatalf("clock %+v", c)
	}
	f.SetClock(`{"timestamp":"2026-11-28T12:00:00-05:00","is_open":false,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`)
	if open, err := b.IsOpen(context.Background()); err != nil || open {
		t.Fatalf("closed market: open=%v err=%v", open, err)
	}
	f.SetClock(`{"timestamp":"2026-11-30T17:00:00-05:00","is_open":true,"next_open":"2026-12-01T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`)
	if _, err := b.Clock(context.Background()); err == nil || !strings.Contains(err.Error(), "next_close") {
		t.Fatalf("open with a past close: %v, want an error", err)
	}
	f.SetClock(`{"timestamp":"2026-11-30T17:00:00-05:00","is_open":false,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-12-01T16:00:00-05:00"}`)
	if _, err := b.Clock(context.Background()); err == nil || !strings.Contains(err.Error(), "next_open") {
		t.Fatalf("closed with a past open: %v, want an error", err)
	}
}

func TestConfig(t *testing.T) {
	if m, err := ParseMode("live"); err != nil || m.BaseURL() != "https://api.alpaca.markets" {
		t.Fatalf("live: %v %v", m, err)
	}
	if m, err := ParseMode("paper"); err != nil || m.BaseURL() != "https://paper-api.alpaca.markets" {
		t.Fatalf("paper: %v %v", m, err)
	}
	if _, err := ParseMode("prod"); err == nil || !strings.Contains(err.Error(), `"prod"`) {
		t.Fatalf("bad mode: %v", err)
	}
	_, err := New(Config{BaseURL: "ftp://x", SecretKey: testSecret})
	if err == nil || !strings.Contains(err.Error(), "base url") || !strings.Contains(err.Error(), "key id is empty") {
		t.Fatalf("invalid config: %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("config error shows the secret")
	}
}

// Every log line, every error and every rendering of the config, over all
// the paths above, is searched for the secret.
func TestSecretNeverInLogsOrErrors(t *testing.T) {
	f := newFake(t)
	sink := &testlog.Buffer{}
	b := newBroker(t, f.URL, sink)
	var errs []error
	ctx := context.Background()
	keep := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	p, err := b.Place(ctx, hedge("exec-s1", "1", market.Buy))
	keep(p, err)
	keep(b.Place(ctx, hedge("exec-s1", "1", market.Buy)))
	keep(b.Place(ctx, hedge("", "-1", "Hold")))
	keep(b.Status(ctx, "missing"))
	keep(b.Find(ctx, "missing"))
	f.Set(p.BrokerOrderID, map[string]any{"status": "filled", "filled_qty": "1"})
	keep(b.Status(ctx, p.BrokerOrderID))
	for _, code := range []int{401, 403, 422, 429, 500} {
		f.SetHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			alpacatest.WriteError(w, code, code*100000, "refused")
			return true
		})
		keep(b.Place(ctx, hedge("exec-s2", "1", market.Buy)))
		keep(b.Clock(ctx))
	}
	f.SetHook(nil)
	bad := newBroker(t, f.URL, sink, func(c *Config) { c.KeyID = "wrong" })
	keep(bad.Place(ctx, hedge("exec-s3", "1", market.Buy)))
	cfg := b.cfg
	slog.New(slog.NewTextHandler(sink, nil)).Info("config", "alpaca", cfg)
	if len(errs) < 10 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	var all strings.Builder
	for _, e := range errs {
		all.WriteString(e.Error() + "\n")
	}
	all.WriteString(sink.String())
	all.WriteString(cfg.String())
	if strings.Contains(all.String(), testSecret) {
		t.Fatalf("the secret key leaked:\n%s", all.String())
	}
	if !strings.Contains(sink.String(), "order placed") || !strings.Contains(sink.String(), "(redacted)") {
		t.Fatalf("log capture did not see the broker's lines:\n%s", sink.String())
	}
}

// Market closed: WaitUntilOpen sleeps until next_open (capped at a minute)
// and returns only once the clock reports open, with the time to the close.
func TestWaitUntilOpen(t *testing.T) {
	f := newFake(t)
	b := newBroker(t, f.URL, nil)
	clocks := []string{
		`{"timestamp":"2026-11-30T09:29:30-05:00","is_open":false,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`,
		`{"timestamp":"2026-11-30T09:30:00.5-05:00","is_open":true,"next_open":"2026-12-01T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`,
	}
	f.SetClock(`{"timestamp":"2026-11-28T12:00:00-05:00","is_open":false,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`)
	var slept []time.Duration
	b.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		f.SetClock(clocks[0])
		clocks = clocks[1:]
		return nil
	}
	left, err := b.WaitUntilOpen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(slept) != 2 || slept[0] != time.Minute || slept[1] != 30*time.Second {
		t.Fatalf("slept %v, want [1m 30s]", slept)
	}
	if want := 6*time.Hour + 29*time.Minute + 59*time.Second + 500*time.Millisecond; left != want {
		t.Fatalf("open for %s, want %s", left, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.SetClock(`{"timestamp":"2026-11-28T12:00:00-05:00","is_open":false,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-11-30T16:00:00-05:00"}`)
	b.sleep = brokers.Sleep
	if _, err := b.WaitUntilOpen(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
}
