package schwab

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab/schwabtest"
	"github.com/hedgeline/hedgeline/internal/testlog"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
)

const (
	appKey    = schwabtest.AppKey
	appSecret = schwabtest.AppSecret
	redirect  = schwabtest.RedirectURI
	hashA     = schwabtest.HashA
	hashB     = schwabtest.HashB
)

var (
	t0  = time.Date(2025, 8, 29, 17, 0, 0, 0, time.UTC)
	ctx = context.Background()
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// fakeSchwab is the schwabtest server on a fake clock set to t0, answering
// market hours for 2025-08-29 (open at t0).
type fakeSchwab struct {
	*schwabtest.Server
	clk *fakeClock
}

// marketDay is Schwab's answer for a trading day (regular 9:30-16:00 EDT).
const marketDay = `{"equity":{"EQ":{"date":"2025-08-29","marketType":"EQUITY","exchange":"NULL","category":"NULL","product":"EQ","productName":"equity","isOpen":true,"sessionHours":{"preMarket":[{"start":"2025-08-29T07:00:00-04:00","end":"2025-08-29T09:30:00-04:00"}],"regularMarket":[{"start":"2025-08-29T09:30:00-04:00","end":"2025-08-29T16:00:00-04:00"}],"postMarket":[{"start":"2025-08-29T16:00:00-04:00","end":"2025-08-29T20:00:00-04:00"}]}}}}`

func newFake(t *testing.T) *fakeSchwab {
	f := &fakeSchwab{Server: schwabtest.New(), clk: &fakeClock{t: t0}}
	f.Now = f.clk.Now
	f.MarketJSON = marketDay
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSchwab) app() App {
	return App{Key: appKey, Secret: appSecret, RedirectURI: redirect, BaseURL: f.URL}
}

func (f *fakeSchwab) tokens() Tokens {
	return Tokens{Access: brokerauth.Token(f.Access), AccessFetchedAt: t0, Refresh: brokerauth.Token(f.Refresh), RefreshFetchedAt: t0}
}

func (f *fakeSchwab) broker(t *testing.T, mod ...func(*Config)) *Broker {
	cfg := Config{App: f.app(), Tokens: f.tokens(), HTTP: f.Client(), Now: f.clk.Now, Log: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capture is a logger whose every line is kept, safe to read while the
// broker's goroutines log.
func capture() (*slog.Logger, *testlog.Buffer) {
	buf := new(testlog.Buffer)
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}
