package schwab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAuthorizeURL(t *testing.T) {
	a := App{Key: appKey, RedirectURI: "https://127.0.0.1:8182/cb?x=1"}
	want := "https://api.schwabapi.com/v1/oauth/authorize?client_id=APPKEY-1234567890&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182%2Fcb%3Fx%3D1"
	if got := a.AuthorizeURL(); got != want {
		t.Fatalf("AuthorizeURL = %s\nwant %s", got, want)
	}
	a.BaseURL = "http://127.0.0.1:1234/"
	if got := a.AuthorizeURL(); !strings.HasPrefix(got, "http://127.0.0.1:1234/v1/oauth/authorize?") {
		t.Fatalf("with base URL: %s", got)
	}
}

func TestParseCode(t *testing.T) {
	const code = "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE@"
	for _, in := range []string{
		"https://127.0.0.1:8182/?code=C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE%40&session=0b8c1b6a-5d3f-4c1e",
		"  https://127.0.0.1:8182?code=C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE%40\n",
		"C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE%40", // the code copied from the address bar
		"C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE@",
	} {
		got, err := ParseCode(in)
		if err != nil || got != code {
			t.Errorf("ParseCode(%q) = %q, %v; want %q", in, got, err, code)
		}
	}
	for in, want := range map[string]string{
		"":                                  "empty input",
		"https://127.0.0.1:8182/?session=x": "no code parameter",
		"https://127.0.0.1:8182/?error=access_denied": "refused: access_denied",
		"C0.bad%zz": "not valid URL encoding",
	} {
		if _, err := ParseCode(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCode(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestExchangeCode(t *testing.T) {
	f := newFake(t)
	o := OAuth{App: f.app(), HTTP: f.Client(), Now: f.clk.Now}
	code, err := ParseCode("https://127.0.0.1:8182/?code=C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE%40&session=s")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := o.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access != "ACCESS-TOKEN-1-xyz" || tok.Refresh != "REFRESH-TOKEN-qrs-987" || !tok.AccessFetchedAt.Equal(t0) || !tok.RefreshFetchedAt.Equal(t0) {
		t.Fatalf("tokens %q %q %s %s", string(tok.Access), string(tok.Refresh), tok.AccessFetchedAt, tok.RefreshFetchedAt)
	}
	req := f.TokenRequests[0]
	if req["grant_type"] != "authorization_code" || req["code"] != f.Code || req["redirect_uri"] != redirect || len(req) != 3 {
		t.Fatalf("token request form %v", req)
	}
	if _, err := o.Exchange(ctx, "C0.wrong@"); err == nil || !strings.Contains(err.Error(), "HTTP 400 invalid_request Bad authorization code") {
		t.Fatalf("bad code: %v", err)
	}
	bad := o
	bad.App.Secret = "wrong"
	if _, err := bad.Exchange(ctx, code); err == nil || !strings.Contains(err.Error(), "HTTP 401 invalid_client") {
		t.Fatalf("bad secret: %v", err)
	}
}

// TestRefreshSchedule: the access token is used as is until one minute
// before its 30 minutes, then refreshed (the refresh token kept), and once
// the refresh token is 7 days old every call fails with the re-auth
// message, without asking Schwab.
func TestRefreshSchedule(t *testing.T) {
	f := newFake(t)
	var stored []Tokens
	b := f.broker(t, func(c *Config) {
		c.OnRefresh = func(_ context.Context, tk Tokens) error { stored = append(stored, tk); return nil }
	})
	f.clk.Advance(28*time.Minute + 59*time.Second)
	if _, err := b.IsOpen(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.Count("POST /v1/oauth/token"); n != 0 {
		t.Fatalf("refreshed %d times at 28m59s", n)
	}
	f.clk.Advance(time.Second) // 29m: expires within a minute
	if _, err := b.IsOpen(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.Count("POST /v1/oauth/token"); n != 1 || len(stored) != 1 {
		t.Fatalf("at 29m: %d refreshes, %d stored; want 1", n, len(stored))
	}
	at := t0.Add(29 * time.Minute)
	if s := stored[0]; s.Access != "ACCESS-TOKEN-1-xyz" || !s.AccessFetchedAt.Equal(at) || s.Refresh != "REFRESH-TOKEN-qrs-987" || !s.RefreshFetchedAt.Equal(t0) {
		t.Fatalf("stored %+v", s)
	}
	if f.TokenRequests[0]["grant_type"] != "refresh_token" || f.TokenRequests[0]["refresh_token"] != f.Refresh {
		t.Fatalf("refresh form %v", f.TokenRequests[0])
	}
	f.clk.Advance(29 * time.Minute) // 58m: the new token is 29 min old
	b.IsOpen(ctx)
	if n := f.Count("POST /v1/oauth/token"); n != 2 {
		t.Fatalf("refreshes at 58m: %d, want 2", n)
	}

	f.clk.Set(t0.Add(7*24*time.Hour - 2*time.Minute)) // refresh still valid
	if _, err := b.IsOpen(ctx); err != nil {
		t.Fatalf("refresh token 2 minutes before expiry: %v", err)
	}
	f.clk.Set(t0.Add(7 * 24 * time.Hour))
	before := f.Count("POST /v1/oauth/token")
	f.clk.Advance(30 * time.Minute)
	_, err := b.IsOpen(ctx)
	if !errors.Is(err, ErrReauthenticate) || !strings.Contains(err.Error(), "hedgeline broker-auth login") || !strings.Contains(err.Error(), "expired at 2025-09-05T17:00:00Z") {
		t.Fatalf("after 7 days: %v", err)
	}
	if f.Count("POST /v1/oauth/token") != before {
		t.Fatal("asked Schwab with an expired refresh token")
	}
}

func TestRefreshTokenRefused(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	f.Refresh = "REFRESH-TOKEN-ROTATED" // Schwab no longer accepts ours
	f.clk.Advance(30 * time.Minute)
	_, err := b.IsOpen(ctx)
	if !errors.Is(err, ErrReauthenticate) || !strings.Contains(err.Error(), "refresh_token_authentication_error") {
		t.Fatalf("refused refresh: %v", err)
	}
}

func TestUnauthorizedRefreshesAndRetriesOnce(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	f.Revoke() // the server expired the token early
	open, err := b.IsOpen(ctx)
	if err != nil || !open {
		t.Fatalf("IsOpen after 401: %v, %v", open, err)
	}
	if n, r := f.Count("GET /marketdata"), f.Count("POST /v1/oauth/token"); n != 2 || r != 1 {
		t.Fatalf("%d market calls, %d refreshes; want 2 and 1", n, r)
	}
	if b.Tokens().Access != "ACCESS-TOKEN-1-xyz" {
		t.Fatal("refreshed token not kept")
	}

	// A token that is refused even fresh: one retry, then an error.
	f.Mu.Lock()
	f.Fail["GET /marketdata/v1/markets/equity"] = []int{401, 401, 401}
	f.Mu.Unlock()
	_, err = b.IsOpen(ctx)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401 again after refreshing") {
		t.Fatalf("second 401: %v", err)
	}
	if n := f.Count("GET /marketdata"); n != 4 {
		t.Fatalf("market calls %d, want 4 (no loop)", n)
	}
}

func TestTransientErrors(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	for _, status := range []int{429, 500, 502, 503} {
		f.Mu.Lock()
		f.Fail["GET /marketdata/v1/markets/equity"] = []int{status}
		f.Mu.Unlock()
		_, err := b.IsOpen(ctx)
		var te *TransientError
		if !errors.As(err, &te) {
			t.Fatalf("HTTP %d: %v is not transient", status, err)
		}
		if status == 429 && te.RetryAfter != 7*time.Second {
			t.Fatalf("429 retry after %s, want 7s", te.RetryAfter)
		}
	}

	// A timeout: the client gives up, the error is transient.
	f.Hang = make(chan struct{})
	defer close(f.Hang)
	hc := *f.Client()
	hc.Timeout = 50 * time.Millisecond
	bt := f.broker(t, func(c *Config) { c.HTTP = &hc })
	bt.accountHash = hashA
	_, err := bt.Status(ctx, "1004055538153")
	var te *TransientError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout: %v", err)
	}
	if strings.Contains(err.Error(), hashA) {
		t.Fatalf("timeout error names the account hash: %v", err)
	}
}
