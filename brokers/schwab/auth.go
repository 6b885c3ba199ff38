package schwab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/processors/brokerauth"
)

// DefaultBaseURL is Schwab's API host (DOMAIN s.8.2).
const DefaultBaseURL = "https://api.schwabapi.com"

// ErrReauthenticate means the refresh token has expired or was refused:
// only a new login helps, so trading must stop until then.
var ErrReauthenticate = errors.New("schwab refresh token expired or revoked: re-authenticate with `hedgeline broker-auth login`")

// App is a registered Schwab app: its key, secret and callback URL.
type App struct {
	Key         string
	Secret      brokerauth.Token // prints as [redacted]
	RedirectURI string
	BaseURL     string // DefaultBaseURL when empty
}

func (a App) base() string {
	if a.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(a.BaseURL, "/")
}

// AuthorizeURL is where the user logs in and approves the app; Schwab then
// redirects the browser to RedirectURI with ?code=....
func (a App) AuthorizeURL() string {
	q := url.Values{"client_id": {a.Key}, "redirect_uri": {a.RedirectURI}}
	return a.base() + "/v1/oauth/authorize?" + q.Encode()
}

// ParseCode takes what the user pasted after the login, either the whole
// redirected URL or the bare code, and returns the authorization code.
// Schwab's codes end in "%40" ("@") in the URL; the code is unescaped.
func ParseCode(pasted string) (string, error) {
	s := strings.TrimSpace(pasted)
	if s == "" {
		return "", errors.New("empty input: paste the redirected URL or its code parameter")
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "?") || strings.Contains(s, "code=") {
		u, err := url.Parse(s)
		if err != nil {
			// Not wrapped: url.Error repeats the URL, code included.
			return "", errors.New("the pasted redirected URL does not parse as a URL")
		}
		q := u.Query()
		if e := q.Get("error"); e != "" {
			return "", fmt.Errorf("the login was refused: %s", e)
		}
		code := q.Get("code")
		if code == "" {
			return "", errors.New("redirected URL has no code parameter")
		}
		return code, nil
	}
	code, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("code is not valid URL encoding: %w", err)
	}
	return code, nil
}

// Tokens is a pair of OAuth tokens and when each was fetched. Both tokens
// print as [redacted].
type Tokens struct {
	Access           brokerauth.Token
	AccessFetchedAt  time.Time
	Refresh          brokerauth.Token
	RefreshFetchedAt time.Time
}

// state reuses the broker-auth aggregate's lifetime rules (access 30 min,
// refresh 7 days, refresh 1 min early), so the two cannot drift apart.
func (t Tokens) state() brokerauth.State {
	return brokerauth.State{AccessTokenFetchedAt: t.AccessFetchedAt, RefreshTokenFetchedAt: t.RefreshFetchedAt}
}

// NeedsRefresh reports whether the access token has expired or expires
// within brokerauth.RefreshMargin of now.
func (t Tokens) NeedsRefresh(now time.Time) bool {
	return t.Access == "" || t.state().NeedsRefresh(now)
}

// RefreshExpired reports whether the refresh token is past its 7 days.
func (t Tokens) RefreshExpired(now time.Time) bool {
	return t.Refresh == "" || t.state().RefreshExpired(now)
}

// OAuth exchanges codes and refresh tokens at POST /v1/oauth/token.
type OAuth struct {
	App  App
	HTTP *http.Client // http.DefaultClient when nil
	Now  func() time.Time
}

func (o OAuth) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o OAuth) client() *http.Client {
	if o.HTTP == nil {
		return http.DefaultClient
	}
	return o.HTTP
}

// Exchange trades an authorization code for a new token pair.
func (o OAuth) Exchange(ctx context.Context, code string) (Tokens, error) {
	if code == "" {
		return Tokens{}, errors.New("schwab token exchange: empty authorization code")
	}
	at := o.now()
	r, err := o.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.App.RedirectURI}})
	if err != nil {
		return Tokens{}, fmt.Errorf("schwab token exchange: %w", err)
	}
	if r.RefreshToken == "" {
		return Tokens{}, errors.New("schwab token exchange: response has no refresh_token")
	}
	return Tokens{Access: r.AccessToken, AccessFetchedAt: at, Refresh: r.RefreshToken, RefreshFetchedAt: at}, nil
}

// Refresh gets a new access token with t's refresh token. The refresh token
// and its fetch time are kept (Schwab's refresh token lives 7 days from the
// login, whatever it answers). An expired refresh token, or one Schwab
// refuses, gives an error wrapping ErrReauthenticate.
func (o OAuth) Refresh(ctx context.Context, t Tokens) (Tokens, error) {
	at := o.now()
	if t.RefreshExpired(at) {
		return Tokens{}, fmt.Errorf("refresh token fetched at %s expired at %s: %w",
			t.RefreshFetchedAt.UTC().Format(time.RFC3339), t.RefreshFetchedAt.Add(brokerauth.RefreshTokenLifetime).UTC().Format(time.RFC3339), ErrReauthenticate)
	}
	r, err := o.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(t.Refresh)}})
	if err != nil {
		return Tokens{}, fmt.Errorf("schwab token refresh: %w", err)
	}
	t.Access, t.AccessFetchedAt = r.AccessToken, at
	return t, nil
}

type tokenResponse struct {
	AccessToken  brokerauth.Token `json:"access_token"`
	RefreshToken brokerauth.Token `json:"refresh_token"`
	TokenType    string           `json:"token_type"`
	ExpiresIn    int              `json:"expires_in"`
}

// token posts the form with the app's Basic credentials. Errors name the
// HTTP status and Schwab's error code, never the request or the tokens.
func (o OAuth) token(ctx context.Context, form url.Values) (tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.App.base()+"/v1/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, err
	}
	req.SetBasicAuth(o.App.Key, string(o.App.Secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.client().Do(req)
	if err != nil {
		return tokenResponse{}, &TransientError{Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tokenResponse{}, &TransientError{Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		body = scrub(body, string(o.App.Secret), form.Get("code"), url.QueryEscape(form.Get("code")), form.Get("refresh_token"))
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		msg := fmt.Errorf("HTTP %d %s %s", resp.StatusCode, e.Error, e.Description)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return tokenResponse{}, &TransientError{Err: msg, RetryAfter: retryAfter(resp)}
		case form.Get("grant_type") == "refresh_token":
			// 400 invalid_grant / 401: the refresh token is dead.
			return tokenResponse{}, fmt.Errorf("%w: %w", msg, ErrReauthenticate)
		default:
			return tokenResponse{}, msg
		}
	}
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return tokenResponse{}, fmt.Errorf("decode token response: %w", err)
	}
	if r.AccessToken == "" {
		return tokenResponse{}, errors.New("token response has no access_token")
	}
	return r, nil
}

// MarshalJSON refuses: tokens are stored only encrypted, through the
// broker-auth aggregate, never as plain JSON.
func (Tokens) MarshalJSON() ([]byte, error) {
	return nil, errors.New("schwab tokens are not serialized in plain text: store them through the broker-auth aggregate")
}

// LogValue logs when the tokens were fetched, never the tokens.
func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("access_fetched_at", t.AccessFetchedAt), slog.Time("refresh_fetched_at", t.RefreshFetchedAt))
}

type appJSON struct {
	Key         string `json:"key"`
	Secret      string `json:"secret"`
	RedirectURI string `json:"redirect_uri"`
	BaseURL     string `json:"base_url,omitempty"`
}

// MarshalJSON redacts the secret.
func (a App) MarshalJSON() ([]byte, error) {
	return json.Marshal(appJSON{Key: a.Key, Secret: a.Secret.String(), RedirectURI: a.RedirectURI, BaseURL: a.BaseURL})
}

// LogValue redacts the secret.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", a.Key), slog.String("redirect_uri", a.RedirectURI), slog.String("base_url", a.base()))
}
