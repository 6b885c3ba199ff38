package schwab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
)

// Config configures a Broker.
type Config struct {
	App App
	// Tokens are the tokens to start with (from the broker-auth aggregate).
	Tokens Tokens
	// OnRefresh is called with the new tokens after every refresh, before
	// they are used, so the caller can store them (encrypted) through the
	// broker-auth aggregate. An error fails the call that needed them.
	OnRefresh func(context.Context, Tokens) error
	// AccountIndex picks the entry of /accounts/accountNumbers to trade in.
	AccountIndex int
	// Journal maps client order ids to Schwab order ids (see Place).
	// A fresh in-memory journal when nil.
	Journal Journal
	// ClockSkew widens the search for an order whose placement answer was
	// lost: orders entered from ClockSkew before the attempt (default 1m).
	ClockSkew time.Duration
	HTTP      *http.Client // http.DefaultClient when nil; set a Timeout
	Now       func() time.Time
	// Sleep waits d or until ctx ends (RunRefresh); a timer when nil.
	// Tests pass one that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	Log   *slog.Logger
}

// Broker is the Schwab Trader API behind brokers.Broker. Safe for
// concurrent use.
type Broker struct {
	cfg   Config
	oauth OAuth
	log   *slog.Logger

	mu          sync.Mutex // guards tokens, reauth, changed and accountHash
	tokens      Tokens
	accountHash string
	// reauth is the refusal of the refresh token (wrapping
	// ErrReauthenticate): every call fails with it, without asking Schwab,
	// until SetTokens brings a new login.
	reauth error
	// changed is closed (and replaced) by SetTokens.
	changed chan struct{}

	placeMu sync.Mutex // one Place at a time: the journal check-then-post
}

var _ brokers.Broker = (*Broker)(nil)

// New returns a Broker; it makes no call until the first request.
func New(cfg Config) (*Broker, error) {
	if cfg.App.Key == "" || cfg.App.Secret == "" {
		return nil, errors.New("schwab: app key and secret are required")
	}
	if cfg.Tokens.Refresh == "" {
		return nil, fmt.Errorf("schwab: not authenticated: %w", ErrReauthenticate)
	}
	if cfg.AccountIndex < 0 {
		return nil, fmt.Errorf("schwab: account index %d is negative", cfg.AccountIndex)
	}
	if cfg.Journal == nil {
		cfg.Journal = NewMemoryJournal()
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = time.Minute
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = brokers.Sleep
	}
	return &Broker{
		cfg:     cfg,
		oauth:   OAuth{App: cfg.App, HTTP: cfg.HTTP, Now: cfg.Now},
		log:     cfg.Log.With("broker", "schwab"),
		tokens:  cfg.Tokens,
		changed: make(chan struct{}),
	}, nil
}

func (*Broker) Kind() market.Broker { return market.Schwab }

// Fractional is false: the Trader API takes whole-share quantities only.
func (*Broker) Fractional() bool { return false }

// Tokens returns the current tokens (after any refresh).
func (b *Broker) Tokens() Tokens {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens
}

// accessToken returns a usable access token, refreshing it first when it
// expires within the margin (or force is set, after a 401).
func (b *Broker) accessToken(ctx context.Context, force bool, stale brokerauth.Token) (brokerauth.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reauth != nil {
		return "", b.reauth
	}
	now := b.cfg.Now()
	t := b.tokens
	// Another call refreshed since ours was refused: use its token.
	if force && t.Access != stale {
		return t.Access, nil
	}
	if !force && !t.NeedsRefresh(now) {
		return t.Access, nil
	}
	nt, err := b.oauth.Refresh(ctx, t)
	if err != nil {
		if errors.Is(err, ErrReauthenticate) {
			// Logged once: every call fails with it until a new login.
			b.reauth = err
			b.log.Error("schwab refresh token is no longer valid; trading stops until `hedgeline broker-auth login`", "err", err, "refresh_token_fetched_at", t.RefreshFetchedAt)
		}
		return "", err
	}
	if b.cfg.OnRefresh != nil {
		if err := b.cfg.OnRefresh(ctx, nt); err != nil {
			return "", fmt.Errorf("store refreshed schwab access token: %w", err)
		}
	}
	b.tokens = nt
	b.log.Info("schwab access token refreshed", "expires_at", nt.AccessFetchedAt.Add(brokerauth.AccessTokenLifetime))
	return nt.Access, nil
}

// SetTokens replaces the tokens with newer ones stored by the broker-auth
// aggregate: a new login (a newer refresh token) always wins and ends a
// re-authentication stop; an access token only when fetched later than
// the current one (the broker's own refresh coming back through the
// events topic changes nothing).
func (b *Broker) SetTokens(t Tokens) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.tokens
	login := t.RefreshFetchedAt.After(cur.RefreshFetchedAt) || t.Refresh != cur.Refresh && !t.RefreshFetchedAt.Before(cur.RefreshFetchedAt)
	newer := t.RefreshFetchedAt.Equal(cur.RefreshFetchedAt) && t.Refresh == cur.Refresh && t.AccessFetchedAt.After(cur.AccessFetchedAt)
	if t.Refresh == "" || t.Access == "" || !login && !newer {
		return
	}
	b.tokens = t
	close(b.changed)
	b.changed = make(chan struct{})
	if login && b.reauth != nil {
		b.reauth = nil
		b.log.Info("new schwab login picked up: trading resumes", "refresh_token_fetched_at", t.RefreshFetchedAt)
	}
}

// Reauthenticate returns the refusal that stopped trading (wrapping
// ErrReauthenticate), nil while the login is good.
func (b *Broker) Reauthenticate() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reauth
}

// refreshRetry is how long RunRefresh waits after a transient failure.
const refreshRetry = 10 * time.Second

// RunRefresh refreshes the access token brokerauth.RefreshMargin before it
// expires, so calls rarely wait for a refresh, until ctx ends. A refused
// or expired refresh token stops it (trading stops with it) until
// SetTokens brings a new login; a transient failure is retried after
// refreshRetry. It returns nil when ctx ends: it never stops the run.
func (b *Broker) RunRefresh(ctx context.Context) error {
	for ctx.Err() == nil {
		b.mu.Lock()
		t, stopped, changed := b.tokens, b.reauth != nil, b.changed
		b.mu.Unlock()
		if stopped {
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		due := t.AccessFetchedAt.Add(brokerauth.AccessTokenLifetime - brokerauth.RefreshMargin)
		if d := due.Sub(b.cfg.Now()); d > 0 {
			// Then look again: a call or a new login may have refreshed.
			_ = b.cfg.Sleep(ctx, d)
			continue
		}
		if _, err := b.accessToken(ctx, false, ""); err != nil && ctx.Err() == nil && !errors.Is(err, ErrReauthenticate) {
			b.log.Warn("schwab access token refresh failed; retrying", "err", err, "retry_in", refreshRetry)
			_ = b.cfg.Sleep(ctx, refreshRetry)
		}
	}
	return nil
}

// apiError is Schwab's error body: {"message": "...", "errors": ["..."]}.
type apiError struct {
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

func (e apiError) text() string {
	parts := []string{}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	parts = append(parts, e.Errors...)
	return strings.Join(parts, "; ")
}

// response is a completed call: status, headers, body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one API call with the bearer token. A 401 refreshes the access
// token and retries once. Network errors, timeouts, 429 and 5xx come back
// as *TransientError; other statuses are returned for the caller to map.
// name is the call as it appears in errors (no account hash, no token).
func (b *Broker) do(ctx context.Context, method, path, name string, body any) (response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return response{}, fmt.Errorf("%s: encode request: %w", name, err)
		}
	}
	tok, err := b.accessToken(ctx, false, "")
	if err != nil {
		return response{}, fmt.Errorf("%s: %w", name, err)
	}
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, b.cfg.App.base()+path, rd)
		if err != nil {
			return response{}, fmt.Errorf("%s: %w", name, err)
		}
		req.Header.Set("Authorization", "Bearer "+string(tok))
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := b.cfg.HTTP.Do(req)
		if err != nil {
			return response{}, fmt.Errorf("%s: %w", name, &TransientError{Err: scrubURLError(err)})
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return response{}, fmt.Errorf("%s: %w", name, &TransientError{Err: fmt.Errorf("read response: %w", err)})
		}
		if resp.StatusCode >= 400 {
			t := b.Tokens()
			data = scrub(data, string(tok), string(t.Access), string(t.Refresh), string(b.cfg.App.Secret))
		}
		r := response{status: resp.StatusCode, header: resp.Header, body: data}
		switch {
		case r.status == http.StatusUnauthorized && attempt == 0:
			if tok, err = b.accessToken(ctx, true, tok); err != nil {
				return response{}, fmt.Errorf("%s: after HTTP 401: %w", name, err)
			}
			continue
		case r.status == http.StatusUnauthorized:
			return response{}, fmt.Errorf("%s: HTTP 401 again after refreshing the access token: %s", name, r.errText())
		case r.status == http.StatusTooManyRequests || r.status >= 500:
			return response{}, fmt.Errorf("%s: %w", name, &TransientError{Err: fmt.Errorf("HTTP %d %s", r.status, r.errText()), RetryAfter: retryAfter(resp)})
		}
		return r, nil
	}
}

func (r response) errText() string {
	var e apiError
	if json.Unmarshal(r.body, &e) == nil && e.text() != "" {
		return e.text()
	}
	s := strings.TrimSpace(string(r.body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// rejectedOrFailed maps a 4xx answer: 400/403/422 are the broker refusing
// the request (permanent, ErrRejected), 404 is ErrNotFound.
func (r response) fail(name string) error {
	switch r.status {
	case http.StatusNotFound:
		return fmt.Errorf("%s: HTTP 404 %s: %w", name, r.errText(), brokers.ErrNotFound)
	case http.StatusBadRequest, http.StatusForbidden, http.StatusUnprocessableEntity:
		return fmt.Errorf("%s: HTTP %d %s: %w", name, r.status, r.errText(), brokers.ErrRejected)
	}
	return fmt.Errorf("%s: unexpected HTTP %d %s", name, r.status, r.errText())
}

// account returns the account hash (cached after the first lookup).
func (b *Broker) account(ctx context.Context) (string, error) {
	b.mu.Lock()
	h := b.accountHash
	b.mu.Unlock()
	if h != "" {
		return h, nil
	}
	const name = "schwab account lookup"
	r, err := b.do(ctx, http.MethodGet, "/trader/v1/accounts/accountNumbers", name, nil)
	if err != nil {
		return "", err
	}
	if r.status != http.StatusOK {
		return "", r.fail(name)
	}
	var accts []struct {
		AccountNumber string `json:"accountNumber"`
		HashValue     string `json:"hashValue"`
	}
	if err := json.Unmarshal(r.body, &accts); err != nil {
		return "", fmt.Errorf("%s: decode: %w", name, err)
	}
	if b.cfg.AccountIndex >= len(accts) {
		return "", fmt.Errorf("%s: account index %d, but the login has %d account(s)", name, b.cfg.AccountIndex, len(accts))
	}
	h = accts[b.cfg.AccountIndex].HashValue
	if h == "" {
		return "", fmt.Errorf("%s: account %d has an empty hashValue", name, b.cfg.AccountIndex)
	}
	b.mu.Lock()
	b.accountHash = h
	b.mu.Unlock()
	return h, nil
}
