// Package alpaca is a brokers.Broker for Alpaca's Trading API v2 (paper and
// live): market orders placed idempotently by client_order_id, order status
// by id or by client order id, and the market clock.
//
// Errors follow the brokers contract: a 4xx validation answer wraps
// brokers.ErrRejected; 404 is brokers.ErrNotFound; 429 is a *RateLimitError
// carrying the wait; 5xx, timeouts and network failures are transient; 401
// and 403 wrap ErrUnauthorized (transient for the order: bad keys do not make
// the order invalid, they stop all trading until fixed). The secret key is
// sent only in its header and never appears in a log line or an error.
package alpaca

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// Mode picks Alpaca's paper or live trading environment.
type Mode string

const (
	Paper Mode = "paper"
	Live  Mode = "live"
)

// ParseMode reads paper or live.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Paper, Live:
		return m, nil
	}
	return "", fmt.Errorf("alpaca mode %q: want paper or live", s)
}

// BaseURL is the Trading API address of the mode.
func (m Mode) BaseURL() string {
	if m == Live {
		return "https://api.alpaca.markets"
	}
	return "https://paper-api.alpaca.markets"
}

var (
	// ErrUnauthorized means Alpaca refused the keys (401) or their
	// permissions (403).
	ErrUnauthorized = errors.New("alpaca refused the API keys")
	// ErrUnknownStatus means Alpaca reported an order status this package
	// does not map. It is wrapped together with brokers.ErrRejected so the
	// order fails visibly, naming the status, instead of being guessed.
	ErrUnknownStatus = errors.New("unknown alpaca order status")
)

// RateLimitError is Alpaca's 429. It is transient: retry after RetryAfter
// (0 when Alpaca gave no hint).
type RateLimitError struct {
	RetryAfter time.Duration
	Message    string
}

func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("rate limited (429), retry after %s: %s", e.RetryAfter, e.Message)
	}
	return fmt.Sprintf("rate limited (429): %s", e.Message)
}

// APIError is any other non-2xx answer, with Alpaca's error body
// {"code": 40010001, "message": "..."}.
type APIError struct {
	StatusCode int
	Code       int
	Message    string
}

func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%d %s (code %d): %s", e.StatusCode, http.StatusText(e.StatusCode), e.Code, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Config configures a Broker. It is self-contained so the caller can build
// it from flags or env.
type Config struct {
	// BaseURL of the Trading API, e.g. Paper.BaseURL(), or a stand-in
	// server in tests. The trade_updates stream is at <BaseURL>/stream.
	BaseURL   string
	KeyID     string
	SecretKey string
	// HTTPClient (default: one with a 10 s timeout).
	HTTPClient *http.Client
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); it converts X-RateLimit-Reset
	// into a wait.
	Now func() time.Time
}

// String never shows the secret key.
func (c Config) String() string {
	return fmt.Sprintf("alpaca{base_url=%s key_id=%s secret_key=%s}", c.BaseURL, c.KeyID, redact(c.SecretKey))
}

// LogValue keeps the secret key out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("key_id", c.KeyID),
		slog.String("secret_key", redact(c.SecretKey)))
}

func redact(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "(redacted)"
}

// Validate reports every problem in c, joined.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base url %q: want http(s)://host", c.BaseURL))
	}
	if c.KeyID == "" {
		errs = append(errs, errors.New("key id is empty"))
	}
	if c.SecretKey == "" {
		errs = append(errs, errors.New("secret key is empty"))
	}
	return errors.Join(errs...)
}

// Broker talks to Alpaca's Trading API v2. It is safe for concurrent use.
type Broker struct {
	cfg  Config
	base string
	http *http.Client
	log  *slog.Logger
	// sleep waits in WaitUntilOpen (tests record it instead).
	sleep func(context.Context, time.Duration) error
}

var _ brokers.Broker = (*Broker)(nil)

// New validates cfg and builds the client. It makes no request.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("alpaca broker: invalid config: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Broker{
		cfg:   cfg,
		base:  strings.TrimRight(cfg.BaseURL, "/"),
		http:  cfg.HTTPClient,
		log:   log.With("component", "alpaca"),
		sleep: brokers.Sleep,
	}, nil
}

func (b *Broker) Kind() market.Broker { return market.Alpaca }

// Fractional is true: Alpaca accepts fractional market orders (day only).
func (b *Broker) Fractional() bool { return true }

// order is Alpaca's order object, the fields read.
type order struct {
	ID             string              `json:"id"`
	ClientOrderID  string              `json:"client_order_id"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      *time.Time          `json:"updated_at"`
	SubmittedAt    *time.Time          `json:"submitted_at"`
	FilledAt       *time.Time          `json:"filled_at"`
	Symbol         string              `json:"symbol"`
	Qty            decimal.NullDecimal `json:"qty"`
	FilledQty      decimal.NullDecimal `json:"filled_qty"`
	FilledAvgPrice decimal.NullDecimal `json:"filled_avg_price"`
	Side           string              `json:"side"`
	Status         string              `json:"status"`
}

type placeRequest struct {
	Symbol        string `json:"symbol"`
	Qty           string `json:"qty"`
	Side          string `json:"side"`
	Type          string `json:"type"`
	TimeInForce   string `json:"time_in_force"`
	ClientOrderID string `json:"client_order_id"`
}

// Place submits a market day order. When Alpaca answers that the client
// order id is already used (422 "client_order_id must be unique"), the first
// order is looked up and returned with Existing=true.
func (b *Broker) Place(ctx context.Context, o brokers.Order) (brokers.Placement, error) {
	if err := o.Validate(); err != nil {
		return brokers.Placement{}, fmt.Errorf("alpaca place %s: %w: %w", o.ClientOrderID, brokers.ErrRejected, err)
	}
	side := "buy"
	if o.Direction == market.Sell {
		side = "sell"
	}
	req := placeRequest{
		Symbol:        string(o.Symbol),
		Qty:           o.Shares.String(),
		Side:          side,
		Type:          "market",
		TimeInForce:   "day",
		ClientOrderID: o.ClientOrderID,
	}
	var got order
	err := b.do(ctx, http.MethodPost, "/v2/orders", req, &got)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(apiErr.Message, "client_order_id must be unique") {
		known, ferr := b.Find(ctx, o.ClientOrderID)
		if ferr != nil {
			return brokers.Placement{}, fmt.Errorf("alpaca place %s: client order id already used, looking the first order up: %w", o.ClientOrderID, ferr)
		}
		b.log.Info("order already placed", "client_order_id", o.ClientOrderID, "order_id", known.BrokerOrderID)
		return brokers.Placement{BrokerOrderID: known.BrokerOrderID, AcceptedAt: known.AcceptedAt, Existing: true}, nil
	}
	if err != nil {
		return brokers.Placement{}, fmt.Errorf("alpaca place %s: %w", o.ClientOrderID, b.classify(err))
	}
	if got.ID == "" {
		return brokers.Placement{}, fmt.Errorf("alpaca place %s: response has no order id", o.ClientOrderID)
	}
	b.log.Info("order placed", "client_order_id", o.ClientOrderID, "order_id", got.ID,
		"symbol", req.Symbol, "side", side, "qty", req.Qty, "status", got.Status)
	return brokers.Placement{BrokerOrderID: got.ID, AcceptedAt: acceptedAt(got)}, nil
}

func acceptedAt(o order) time.Time {
	if o.SubmittedAt != nil {
		return *o.SubmittedAt
	}
	return o.CreatedAt
}

// Status reads GET /v2/orders/{id}.
func (b *Broker) Status(ctx context.Context, brokerOrderID string) (brokers.OrderStatus, error) {
	if brokerOrderID == "" {
		return brokers.OrderStatus{}, fmt.Errorf("alpaca status: %w: empty order id", brokers.ErrNotFound)
	}
	var got order
	if err := b.do(ctx, http.MethodGet, "/v2/orders/"+url.PathEscape(brokerOrderID), nil, &got); err != nil {
		return brokers.OrderStatus{}, fmt.Errorf("alpaca status of order %s: %w", brokerOrderID, b.classify(err))
	}
	st, err := statusOf(got)
	if err != nil {
		return brokers.OrderStatus{}, fmt.Errorf("alpaca status of order %s: %w", brokerOrderID, err)
	}
	return st, nil
}

// Find reads GET /v2/orders:by_client_order_id.
func (b *Broker) Find(ctx context.Context, clientOrderID string) (brokers.KnownOrder, error) {
	var got order
	path := "/v2/orders:by_client_order_id?client_order_id=" + url.QueryEscape(clientOrderID)
	if err := b.do(ctx, http.MethodGet, path, nil, &got); err != nil {
		return brokers.KnownOrder{}, fmt.Errorf("alpaca find client order %s: %w", clientOrderID, b.classify(err))
	}
	st, err := statusOf(got)
	if err != nil {
		return brokers.KnownOrder{}, fmt.Errorf("alpaca find client order %s: %w", clientOrderID, err)
	}
	return brokers.KnownOrder{BrokerOrderID: got.ID, AcceptedAt: acceptedAt(got), Status: st}, nil
}

// stateOf maps every documented Alpaca order status. done_for_day,
// calculated and suspended stay submitted (upstream failed them): Alpaca
// documents them as pauses after which the order still fills, expires or is
// canceled, and failing an order that then fills would hedge twice.
var stateOf = map[string]brokers.State{
	"new":                  brokers.StateSubmitted,
	"accepted":             brokers.StateSubmitted,
	"pending_new":          brokers.StateSubmitted,
	"accepted_for_bidding": brokers.StateSubmitted,
	"partially_filled":     brokers.StateSubmitted,
	"pending_cancel":       brokers.StateSubmitted,
	"pending_replace":      brokers.StateSubmitted,
	"stopped":              brokers.StateSubmitted,
	"done_for_day":         brokers.StateSubmitted,
	"calculated":           brokers.StateSubmitted,
	"suspended":            brokers.StateSubmitted,
	"filled":               brokers.StateFilled,
	"canceled":             brokers.StateFailed,
	"expired":              brokers.StateFailed,
	"rejected":             brokers.StateFailed,
	"replaced":             brokers.StateFailed,
}

// statusOf maps an order object. A filled order must carry its average
// price: a fill at 0 would book a false PnL (an upstream quirk).
func statusOf(o order) (brokers.OrderStatus, error) {
	state, ok := stateOf[o.Status]
	if !ok {
		return brokers.OrderStatus{}, fmt.Errorf("%w: %w %q", brokers.ErrRejected, ErrUnknownStatus, o.Status)
	}
	st := brokers.OrderStatus{State: state, UpdatedAt: o.CreatedAt}
	if o.UpdatedAt != nil {
		st.UpdatedAt = *o.UpdatedAt
	}
	if o.FilledQty.Valid {
		st.FilledShares = o.FilledQty.Decimal
	}
	if o.FilledAvgPrice.Valid {
		st.AvgPrice = o.FilledAvgPrice.Decimal
	}
	switch state {
	case brokers.StateFilled:
		if !o.FilledAvgPrice.Valid || !o.FilledAvgPrice.Decimal.IsPositive() {
			return brokers.OrderStatus{}, fmt.Errorf("order is filled but has no filled_avg_price")
		}
		if !st.FilledShares.IsPositive() {
			return brokers.OrderStatus{}, fmt.Errorf("order is filled but filled_qty is %s", st.FilledShares)
		}
		if o.FilledAt != nil {
			st.UpdatedAt = *o.FilledAt
		}
	case brokers.StateFailed:
		st.Error = "alpaca order status: " + o.Status
	}
	return st, nil
}

// MarketClock is Alpaca's GET /v2/clock.
type MarketClock struct {
	Timestamp time.Time `json:"timestamp"`
	IsOpen    bool      `json:"is_open"`
	NextOpen  time.Time `json:"next_open"`
	NextClose time.Time `json:"next_close"`
}

// Clock reads the market clock and checks it is consistent: when open, the
// next close is after now; when closed, the next open is.
func (b *Broker) Clock(ctx context.Context) (MarketClock, error) {
	var c MarketClock
	if err := b.do(ctx, http.MethodGet, "/v2/clock", nil, &c); err != nil {
		return MarketClock{}, fmt.Errorf("alpaca clock: %w", b.classify(err))
	}
	if c.Timestamp.IsZero() || c.NextOpen.IsZero() || c.NextClose.IsZero() {
		return MarketClock{}, fmt.Errorf("alpaca clock: timestamp, next_open or next_close missing")
	}
	if c.IsOpen && !c.NextClose.After(c.Timestamp) {
		return MarketClock{}, fmt.Errorf("alpaca clock: open but next_close %s is not after timestamp %s", c.NextClose, c.Timestamp)
	}
	if !c.IsOpen && !c.NextOpen.After(c.Timestamp) {
		return MarketClock{}, fmt.Errorf("alpaca clock: closed but next_open %s is not after timestamp %s", c.NextOpen, c.Timestamp)
	}
	return c, nil
}

// IsOpen reports whether the market is open now.
func (b *Broker) IsOpen(ctx context.Context) (bool, error) {
	c, err := b.Clock(ctx)
	return c.IsOpen, err
}

// maxClosedWait caps one sleep of WaitUntilOpen, so a holiday or a clock
// correction is seen within a minute.
const maxClosedWait = time.Minute

// WaitUntilOpen blocks while the market is closed (re-reading the clock at
// next_open, at least once a minute) and returns how long the market stays
// open. A clock error is returned, not retried.
func (b *Broker) WaitUntilOpen(ctx context.Context) (time.Duration, error) {
	logged := false
	for {
		c, err := b.Clock(ctx)
		if err != nil {
			return 0, err
		}
		if c.IsOpen {
			return c.NextClose.Sub(c.Timestamp), nil
		}
		if !logged {
			b.log.Info("market closed, waiting for the open", "next_open", c.NextOpen)
			logged = true
		}
		if err := b.sleep(ctx, min(c.NextOpen.Sub(c.Timestamp), maxClosedWait)); err != nil {
			return 0, err
		}
	}
}

// classify wraps an HTTP failure into the brokers error contract.
func (b *Broker) classify(err error) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return err // network, timeout, rate limit, 5xx: transient
	}
	switch {
	case apiErr.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %w", brokers.ErrNotFound, err)
	case apiErr.StatusCode == http.StatusForbidden && apiErr.Code == 40310000:
		// 403 40310000 is "insufficient buying power": the order, not the
		// keys, is refused.
		return fmt.Errorf("%w: %w", brokers.ErrRejected, err)
	case apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (check the key id and secret key): %w", ErrUnauthorized, err)
	case apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusRequestTimeout:
		return fmt.Errorf("%w: %w", brokers.ErrRejected, err)
	}
	return err
}

// do sends one request and decodes a 2xx JSON answer into out.
func (b *Broker) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("APCA-API-KEY-ID", b.cfg.KeyID)
	req.Header.Set("APCA-API-SECRET-KEY", b.cfg.SecretKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading %d response: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s %s: %w", method, path, &RateLimitError{RetryAfter: b.retryAfter(resp.Header), Message: errorBody(raw).Message})
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := errorBody(raw)
		e.StatusCode = resp.StatusCode
		return fmt.Errorf("%s %s: %w", method, path, &e)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding %d response: %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// errorBody reads {"code":..., "message":...}, or keeps a short raw body.
func errorBody(raw []byte) APIError {
	var e APIError
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		e.Code, e.Message = body.Code, body.Message
		return e
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	e.Message = s
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date), else Alpaca's
// X-RateLimit-Reset (unix seconds).
func (b *Broker) retryAfter(h http.Header) time.Duration {
	now := b.cfg.Now()
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			if d := time.Unix(s, 0).Sub(now); d > 0 {
				return d
			}
		}
	}
	return 0
}

// Market reads the clock as a brokers.MarketState.
func (b *Broker) Market(ctx context.Context) (brokers.MarketState, error) {
	c, err := b.Clock(ctx)
	if err != nil {
		return brokers.MarketState{}, err
	}
	st := brokers.MarketState{Open: c.IsOpen, At: c.Timestamp}
	if !c.IsOpen {
		st.NextOpen = c.NextOpen
	}
	return st, nil
}
