package schwab

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
)

// fakeSleeper reports each sleep on slept, then waits for gate and
// advances the fake clock instead of waiting, so the test steps the loop.
type fakeSleeper struct {
	clk   *fakeClock
	slept chan time.Duration
	gate  chan struct{} // one receive per sleep
}

func (s *fakeSleeper) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case s.slept <- d:
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.gate:
	}
	s.clk.Advance(d)
	return nil
}

// TestRunRefresh: the loop sleeps until a minute before the access token
// expires, refreshes (OnRefresh sees the new token), and sleeps again; a
// refused refresh token stops trading with one error line however often
// trading is tried, and a new login (SetTokens) resumes it.
func TestRunRefresh(t *testing.T) {
	f := newFake(t)
	log, buf := capture()
	sl := &fakeSleeper{clk: f.clk, slept: make(chan time.Duration, 10), gate: make(chan struct{})}
	var mu sync.Mutex
	var stored []Tokens
	b := f.broker(t, func(c *Config) {
		c.Log, c.Sleep = log, sl.Sleep
		c.OnRefresh = func(_ context.Context, tk Tokens) error {
			mu.Lock()
			stored = append(stored, tk)
			mu.Unlock()
			return nil
		}
	})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- b.RunRefresh(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunRefresh: %v", err)
		}
	}()
	// step waits until the loop sleeps (and so is idle).
	step := func() time.Duration {
		t.Helper()
		select {
		case d := <-sl.slept:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("the loop did not sleep")
		}
		return 0
	}
	if d := step(); d != 29*time.Minute {
		t.Fatalf("first sleep %s, want 29m (a minute before the 30-minute expiry)", d)
	}
	if f.Count("POST /v1/oauth/token") != 0 {
		t.Fatal("refreshed early")
	}
	// The loop refreshes at t0+29m, then sleeps 29 minutes again.
	sl.gate <- struct{}{}
	if d := step(); d != 29*time.Minute {
		t.Fatalf("second sleep %s", d)
	}
	mu.Lock()
	if len(stored) != 1 || stored[0].Access != "ACCESS-TOKEN-1-xyz" || !stored[0].AccessFetchedAt.Equal(t0.Add(29*time.Minute)) {
		t.Fatalf("stored %+v", stored)
	}
	mu.Unlock()
	if b.Tokens().Access != "ACCESS-TOKEN-1-xyz" || f.Count("POST /v1/oauth/token") != 1 {
		t.Fatal("refreshed token not in use")
	}

	// Schwab refuses the refresh token from now on.
	f.SetRefresh("REFRESH-TOKEN-ROTATED")
	deadline := time.Now().Add(10 * time.Second)
	sl.gate <- struct{}{} // let the second sleep end: the refresh fails
	for b.Reauthenticate() == nil {
		if time.Now().After(deadline) {
			t.Fatal("refused refresh token did not stop trading")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tokenCalls := f.Count("POST /v1/oauth/token")
	for i := range 3 {
		_, err := b.Place(ctx, hedge("exec-"+string(rune('a'+i)), "GME", 1, market.Buy))
		if !errors.Is(err, ErrReauthenticate) || !strings.Contains(err.Error(), "hedgeline broker-auth login") {
			t.Fatalf("Place while stopped: %v", err)
		}
		if _, err := b.Status(ctx, "1004055538153"); !errors.Is(err, ErrReauthenticate) {
			t.Fatalf("Status while stopped: %v", err)
		}
	}
	if f.Count("POST /v1/oauth/token") != tokenCalls || f.Count("POST /trader") != 0 {
		t.Fatal("asked Schwab while stopped")
	}
	if n := strings.Count(buf.String(), "level=ERROR"); n != 1 {
		t.Fatalf("%d error lines, want 1 per state change:\n%s", n, buf.String())
	}

	// A new login: trading resumes, the loop schedules from the new token.
	login := f.clk.Now()
	f.Mu.Lock()
	f.Access = "ACCESS-TOKEN-LOGIN-xyz"
	f.Mu.Unlock()
	b.SetTokens(Tokens{Access: "ACCESS-TOKEN-LOGIN-xyz", AccessFetchedAt: login, Refresh: "REFRESH-TOKEN-ROTATED", RefreshFetchedAt: login})
	if d := step(); d != 29*time.Minute {
		t.Fatalf("sleep after login %s", d)
	}
	if _, err := b.Place(ctx, hedge("exec-z", "GME", 1, market.Buy)); err != nil {
		t.Fatalf("Place after login: %v", err)
	}
	if !strings.Contains(buf.String(), "trading resumes") {
		t.Fatalf("resume not logged:\n%s", buf.String())
	}
	// An older token (the broker's own refresh echoed late) is ignored.
	b.SetTokens(Tokens{Access: "ACCESS-OLD", AccessFetchedAt: t0, Refresh: "REFRESH-TOKEN-qrs-987", RefreshFetchedAt: t0})
	if b.Tokens().Access != "ACCESS-TOKEN-LOGIN-xyz" {
		t.Fatal("older tokens replaced newer ones")
	}
}
