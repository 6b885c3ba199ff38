package schwab

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
)

// TestSecretsNeverLeak drives every path that logs or fails (login, a bad
// code, refreshes, a 401, a refused and an expired refresh token,
// rejections, transient errors, a server echoing the token in its error)
// with a logger that keeps every line, then searches all lines, all
// errors and every printed form of the tokens and config for the secrets.
func TestSecretsNeverLeak(t *testing.T) {
	f := newFake(t)
	log, buf := capture()
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	o := OAuth{App: f.app(), HTTP: f.Client(), Now: f.clk.Now}
	_, err := ParseCode("https://127.0.0.1:8182/?code=C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE%40%ZZ")
	note(err)
	_, err = o.Exchange(ctx, "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODX@")
	note(err)
	tok, err := o.Exchange(ctx, f.Code)
	if err != nil {
		t.Fatal(err)
	}
	var stored []Tokens
	b := f.broker(t, func(c *Config) {
		c.Log, c.Tokens = log, tok
		c.OnRefresh = func(_ context.Context, tk Tokens) error { stored = append(stored, tk); return nil }
	})
	_, err = b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
	note(err)
	f.Revoke()
	_, err = b.Status(ctx, "1004055538153")
	note(err)
	_, err = b.Place(ctx, hedge("exec-2", "NOSUCH", 1, market.Buy))
	note(err)
	f.Mu.Lock()
	f.Fail["GET order"] = []int{429, 503}
	f.Mu.Unlock()
	for range 2 {
		_, err = b.Status(ctx, "1004055538153")
		note(err)
	}
	f.LoseAnswer = 1
	_, err = b.Place(ctx, hedge("exec-3", "GME", 1, market.Buy))
	note(err)
	_, err = b.Place(ctx, hedge("exec-3", "GME", 1, market.Buy))
	note(err)
	f.clk.Advance(30 * time.Minute)
	_, err = b.IsOpen(ctx)
	note(err)

	// A server that echoes the tokens in its error bodies.
	echo := string(b.Tokens().Access) + " " + f.Refresh
	f.Mu.Lock()
	f.Fail["GET order"] = []int{400}
	f.Mu.Unlock()
	f.Echo = echo
	_, err = b.Status(ctx, "1004055538153")
	note(err)
	f.Echo = ""

	f.Refresh = "REFRESH-TOKEN-ROTATED-abc"
	f.clk.Advance(30 * time.Minute)
	_, err = b.IsOpen(ctx)
	note(err)
	f.clk.Advance(8 * 24 * time.Hour)
	_, err = b.IsOpen(ctx)
	note(err)
	if !errors.Is(err, ErrReauthenticate) {
		t.Fatalf("expired refresh token: %v", err)
	}
	_, err = New(Config{App: f.app()})
	note(err)

	var all strings.Builder
	all.WriteString(buf.String())
	for _, e := range errs {
		fmt.Fprintf(&all, "%v\n%+v\n%#v\n", e, e, e)
	}
	for _, v := range []any{tok, b.Tokens(), stored, b.cfg, f.app(), &b.cfg} {
		fmt.Fprintf(&all, "%v %+v %#v %s\n", v, v, v, v)
		log.Info("value", "v", v)
		slog.New(slog.NewJSONHandler(&all, nil)).Info("value", "v", v)
	}
	all.WriteString(buf.String())
	if _, err := json.Marshal(tok); err == nil {
		t.Error("Tokens marshal to JSON in plain text")
	}
	out := all.String()
	if len(errs) < 10 || len(stored) < 2 || !strings.Contains(out, "refreshed") {
		t.Fatalf("scenario did not run: %d errors, %d refreshes\n%s", len(errs), len(stored), out)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(appKey + ":" + appSecret))
	for _, secret := range []string{"ACCESS-TOKEN", "ACCESS-REVOKED", "REFRESH-TOKEN", appSecret, basic, "AUTHCODE", "AUTHCODX", "eyJ0eXAi"} {
		if strings.Contains(out, secret) {
			i := strings.Index(out, secret)
			t.Errorf("%q leaked: ...%s...", secret, out[max(0, i-200):min(len(out), i+100)])
		}
	}
}
