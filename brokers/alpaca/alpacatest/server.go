// Package alpacatest is a stand-in for Alpaca's Trading API v2 and its
// trade_updates websocket, for tests of the alpaca client and of the
// pipeline hedging through it. It reproduces the documented shapes (order
// objects with decimal strings and nulls, errors as {"code","message"}, the
// stream's auth/listen handshake in binary frames) and lets a test steer
// what a real account does: the market clock, fills, cancels and
// rejections pushed over the stream, dropped connections, lost responses,
// rate limits and server errors. Every request is logged for assertions.
package alpacatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Server is a fake Alpaca account behind an httptest server. It is safe
// for concurrent use.
type Server struct {
	// URL is the Trading API base address (http://127.0.0.1:port); the
	// stream is at the same host, path /stream.
	URL       string
	KeyID     string
	SecretKey string

	srv *httptest.Server

	mu         sync.Mutex
	now        func() time.Time
	orders     map[string]map[string]any // by order id, as Alpaca renders them
	byClient   map[string]string         // client order id -> order id
	created    int
	position   map[string]decimal.Decimal // signed shares per symbol, for position_qty
	executions int
	requests   []Request
	hook       func(w http.ResponseWriter, r *http.Request, body []byte) bool
	answers    []answer // queued failures, answered before anything else
	dropNext   int      // create the next n orders, then close without an answer

	clockRaw   string        // a verbatim /v2/clock answer, when set
	open       bool          // otherwise: the generated clock's state
	nextOpenIn time.Duration // and, when closed, next_open from now

	autoFill      bool
	autoFillAfter time.Duration
	fillPrice     func(Order) decimal.Decimal
	timers        []*time.Timer
	atOpen        []func() // automatic fills held while the market is closed

	stream streamState
}

// Request is one HTTP request the server received.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

type answer struct {
	status int
	header http.Header
	body   any
}

// Order is the state of an order, decoded from its Alpaca object.
type Order struct {
	ID, ClientOrderID, Symbol, Side, Type, TimeInForce, Status string
	Qty, FilledQty, FilledAvgPrice                             decimal.Decimal // zero when null
}

// NewServer starts a fake account that accepts keyID and secretKey, with
// the market open and orders left accepted until the test fills them (see
// Fill, FillAfterPlacement). It is closed when the test ends.
func NewServer(tb testing.TB, keyID, secretKey string) *Server {
	tb.Helper()
	s := &Server{
		KeyID: keyID, SecretKey: secretKey,
		now:      time.Now,
		orders:   map[string]map[string]any{},
		byClient: map[string]string{},
		position: map[string]decimal.Decimal{},
		open:     true,
	}
	s.stream.conns = map[*streamConn]struct{}{}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops pending automatic fills, drops every stream and shuts the
// server down.
func (s *Server) Close() {
	s.mu.Lock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	s.DropStreams()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetNow replaces the clock stamping orders, events and the generated
// market clock (default time.Now).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// ---------------------------------------------------------------------------
// Knobs

// SetMarketOpen makes GET /v2/clock report the market open now, closing
// in an hour.
func (s *Server) SetMarketOpen() {
	s.mu.Lock()
	s.clockRaw, s.open = "", true
	held := s.atOpen
	s.atOpen = nil
	s.mu.Unlock()
	for _, fill := range held {
		fill()
	}
}

// SetMarketClosed makes GET /v2/clock report the market closed, with
// next_open nextOpenIn after each request's time: the market stays closed
// (and consistently so) until SetMarketOpen.
func (s *Server) SetMarketClosed(nextOpenIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockRaw, s.open, s.nextOpenIn = "", false, max(nextOpenIn, time.Second)
}

// SetClock makes GET /v2/clock answer raw verbatim ("" goes back to the
// generated clock).
func (s *Server) SetClock(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockRaw = raw
}

// FillAfterPlacement fills every order placed from now on after delay, in
// full at price(order); price nil turns automatic fills off. While the
// generated clock says closed, the fill waits for SetMarketOpen, as a
// market day order placed outside hours waits for the open.
func (s *Server) FillAfterPlacement(delay time.Duration, price func(Order) decimal.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoFill, s.autoFillAfter, s.fillPrice = price != nil, delay, price
}

// SetHook answers requests first (after the key check) when hook returns
// true; nil removes it.
func (s *Server) SetHook(hook func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// RateLimitNext answers the next n requests with 429 and, unless empty,
// Retry-After: retryAfter (seconds or an HTTP date).
func (s *Server) RateLimitNext(n int, retryAfter string) {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	s.queue(n, answer{status: http.StatusTooManyRequests, header: h,
		body: apiErr{Code: 42910000, Message: "rate limit exceeded"}})
}

// FailNext answers the next n requests with status (a 5xx), as Alpaca's
// gateway does: {"code","message"} for 500, a bare body otherwise.
func (s *Server) FailNext(n, status int) {
	var body any = apiErr{Code: 50010000, Message: "internal server error"}
	if status != http.StatusInternalServerError {
		body = http.StatusText(status)
	}
	s.queue(n, answer{status: status, body: body})
}

func (s *Server) queue(n int, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.answers = append(s.answers, a)
	}
}

// DropPlaceResponses makes the next n order creations happen, after which
// the connection is closed before the answer: the client does not learn
// that its order exists.
func (s *Server) DropPlaceResponses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// Set changes fields of an order's object verbatim, pushing nothing (see
// Fill and friends for what Alpaca does as an order executes).
func (s *Server) Set(orderID string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[orderID]
	if o == nil {
		panic("alpacatest: Set of unknown order " + orderID)
	}
	for k, v := range fields {
		o[k] = v
	}
}

// ---------------------------------------------------------------------------
// Order execution: each change updates the order object and pushes its
// trade_updates event to every listening stream.

// Fill fills what is left of an order at price (event fill).
func (s *Server) Fill(orderID string, price decimal.Decimal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.openOrder(orderID)
	if err != nil {
		return err
	}
	left := decOf(o["qty"]).Sub(decOf(o["filled_qty"]))
	return s.fillLocked(o, left, price)
}

// PartialFill fills qty more of an order at price (event partial_fill, or
// fill when that completes it).
func (s *Server) PartialFill(orderID string, qty, price decimal.Decimal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.openOrder(orderID)
	if err != nil {
		return err
	}
	if !qty.IsPositive() || qty.GreaterThan(decOf(o["qty"]).Sub(decOf(o["filled_qty"]))) {
		return fmt.Errorf("alpacatest: partial fill of %s shares of order %s: more than left or not positive", qty, orderID)
	}
	return s.fillLocked(o, qty, price)
}

// HeldFills is how many automatic fills wait for the market to open.
func (s *Server) HeldFills() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.atOpen)
}

func (s *Server) autoFillNow(id string, price decimal.Decimal) {
	s.mu.Lock()
	if !s.open {
		s.atOpen = append(s.atOpen, func() { s.autoFillNow(id, price) })
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	_ = s.Fill(id, price)
}

// Cancel cancels an open order (event canceled).
func (s *Server) Cancel(orderID string) error { return s.finish(orderID, "canceled", "canceled_at") }

// Expire expires an open order (event expired), as a day order at the close.
func (s *Server) Expire(orderID string) error { return s.finish(orderID, "expired", "expired_at") }

// Reject rejects an open order (event rejected).
func (s *Server) Reject(orderID string) error { return s.finish(orderID, "rejected", "failed_at") }

func (s *Server) finish(orderID, status, stampField string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.openOrder(orderID)
	if err != nil {
		return err
	}
	now := stamp(s.now())
	o["status"], o["updated_at"], o[stampField] = status, now, now
	s.pushLocked(tradeUpdate(status, o, now, nil))
	return nil
}

// openOrder is an order that can still change.
func (s *Server) openOrder(orderID string) (map[string]any, error) {
	o := s.orders[orderID]
	if o == nil {
		return nil, fmt.Errorf("alpacatest: no order %s", orderID)
	}
	switch o["status"] {
	case "filled", "canceled", "expired", "rejected", "replaced":
		return nil, fmt.Errorf("alpacatest: order %s is already %s", orderID, o["status"])
	}
	return o, nil
}

func (s *Server) fillLocked(o map[string]any, qty, price decimal.Decimal) error {
	if !price.IsPositive() {
		return fmt.Errorf("alpacatest: fill of order %s at %s: price must be positive", o["id"], price)
	}
	before := decOf(o["filled_qty"])
	filled := before.Add(qty)
	avg := price
	if before.IsPositive() {
		avg = decOf(o["filled_avg_price"]).Mul(before).Add(price.Mul(qty)).Div(filled)
	}
	now := stamp(s.now())
	o["filled_qty"], o["filled_avg_price"], o["updated_at"] = filled.String(), avg.String(), now
	event := "partial_fill"
	o["status"] = "partially_filled"
	if filled.Equal(decOf(o["qty"])) {
		event, o["status"], o["filled_at"] = "fill", "filled", now
	}
	sym := o["symbol"].(string)
	signed := qty
	if o["side"] == "sell" {
		signed = qty.Neg()
	}
	s.position[sym] = s.position[sym].Add(signed)
	s.executions++
	s.pushLocked(tradeUpdate(event, o, now, map[string]any{
		"price": price.String(), "qty": qty.String(), "position_qty": s.position[sym].String(),
		"execution_id": fmt.Sprintf("7922ab44-1ff3-4d0e-a3d2-%012d", s.executions),
	}))
	return nil
}

// tradeUpdate is a trade_updates message as documented: event, timestamp,
// the order object, and price/qty/position_qty for fills.
func tradeUpdate(event string, o map[string]any, at string, extra map[string]any) []byte {
	d := map[string]any{"event": event, "timestamp": at, "order": o}
	for k, v := range extra {
		d[k] = v
	}
	buf, err := json.Marshal(envelope{Stream: "trade_updates", Data: d})
	if err != nil {
		panic(err)
	}
	return buf
}

// ---------------------------------------------------------------------------
// Assertions

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is how many requests had method and exactly path.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// StatusGets is how many GET /v2/orders/{id} requests were received.
func (s *Server) StatusGets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v2/orders/") {
			n++
		}
	}
	return n
}

// PlaceAttempts is how many POST /v2/orders carried clientOrderID.
func (s *Server) PlaceAttempts(clientOrderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		var body struct {
			ClientOrderID string `json:"client_order_id"`
		}
		if r.Method == http.MethodPost && r.Path == "/v2/orders" &&
			json.Unmarshal(r.Body, &body) == nil && body.ClientOrderID == clientOrderID {
			n++
		}
	}
	return n
}

// OrdersCreated is how many orders the account holds.
func (s *Server) OrdersCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// Orders returns every order, oldest first.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.orders))
	for i := 1; i <= s.created; i++ {
		out = append(out, orderOf(s.orders[orderID(i)]))
	}
	return out
}

// OrderByClientID returns the order placed under clientOrderID.
func (s *Server) OrderByClientID(clientOrderID string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byClient[clientOrderID]
	if !ok {
		return Order{}, false
	}
	return orderOf(s.orders[id]), true
}

// Object returns a copy of an order's JSON object as Alpaca renders it.
func (s *Server) Object(orderID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	for k, v := range s.orders[orderID] {
		out[k] = v
	}
	return out
}

func orderOf(o map[string]any) Order {
	str := func(k string) string { v, _ := o[k].(string); return v }
	return Order{
		ID: str("id"), ClientOrderID: str("client_order_id"), Symbol: str("symbol"), Side: str("side"),
		Type: str("type"), TimeInForce: str("time_in_force"), Status: str("status"),
		Qty: decOf(o["qty"]), FilledQty: decOf(o["filled_qty"]), FilledAvgPrice: decOf(o["filled_avg_price"]),
	}
}

func decOf(v any) decimal.Decimal {
	s, _ := v.(string)
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// ---------------------------------------------------------------------------
// HTTP

type apiErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// WriteError answers Alpaca's error body {"code": code, "message": msg}.
func WriteError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiErr{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func orderID(n int) string { return fmt.Sprintf("61e69015-8549-4bfd-b9c3-%012d", n) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/stream" {
		s.serveStream(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	hook := s.hook
	var queued *answer
	if len(s.answers) > 0 {
		queued = &s.answers[0]
		s.answers = s.answers[1:]
	}
	s.mu.Unlock()
	// Alpaca: missing key headers are forbidden, wrong keys unauthorized.
	keyID, secret := r.Header.Get("APCA-API-KEY-ID"), r.Header.Get("APCA-API-SECRET-KEY")
	if keyID == "" || secret == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "forbidden."})
		return
	}
	if keyID != s.KeyID || secret != s.SecretKey {
		WriteError(w, http.StatusUnauthorized, 40110000, "request is not authorized")
		return
	}
	if queued != nil {
		for k, v := range queued.header {
			w.Header()[k] = v
		}
		if text, ok := queued.body.(string); ok {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(queued.status)
			_, _ = io.WriteString(w, "<html><body><h1>"+text+"</h1></body></html>")
			return
		}
		writeJSON(w, queued.status, queued.body)
		return
	}
	if hook != nil && hook(w, r, body) {
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/orders":
		s.place(w, body)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/orders:by_client_order_id":
		s.mu.Lock()
		id, ok := s.byClient[r.URL.Query().Get("client_order_id")]
		o := s.orders[id]
		s.mu.Unlock()
		s.writeOrder(w, o, ok)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/orders/"):
		s.mu.Lock()
		o, ok := s.orders[strings.TrimPrefix(r.URL.Path, "/v2/orders/")]
		s.mu.Unlock()
		s.writeOrder(w, o, ok)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/clock":
		s.clock(w)
	default:
		WriteError(w, http.StatusNotFound, 40410000, "endpoint not found")
	}
}

func (s *Server) writeOrder(w http.ResponseWriter, o map[string]any, ok bool) {
	if !ok {
		WriteError(w, http.StatusNotFound, 40410000, "order not found")
		return
	}
	s.mu.Lock()
	buf, err := json.Marshal(o) // under the lock: fills change it
	s.mu.Unlock()
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(append(buf, '\n'))
}

// place is POST /v2/orders for the fields hedgeline sends: a market or
// limit order with qty, side, time_in_force and a unique client_order_id.
func (s *Server) place(w http.ResponseWriter, body []byte) {
	var req struct {
		Symbol        string  `json:"symbol"`
		Qty           *string `json:"qty"`
		Notional      *string `json:"notional"`
		Side          string  `json:"side"`
		Type          string  `json:"type"`
		TimeInForce   string  `json:"time_in_force"`
		ClientOrderID string  `json:"client_order_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, 40010000, "request body format is invalid")
		return
	}
	var problem string
	switch {
	case req.Symbol == "":
		problem = "symbol is required"
	case req.Qty == nil && req.Notional == nil:
		problem = "qty or notional is required"
	case req.Qty != nil && !decOf(*req.Qty).IsPositive():
		problem = "qty must be > 0"
	case req.Side != "buy" && req.Side != "sell":
		problem = "invalid side"
	case req.Type != "market" && req.Type != "limit":
		problem = "invalid order type"
	case req.TimeInForce != "day" && req.TimeInForce != "gtc" && req.TimeInForce != "ioc" && req.TimeInForce != "fok":
		problem = "invalid time_in_force"
	case len(req.ClientOrderID) > 128:
		problem = "client_order_id must be no more than 128 characters"
	}
	if problem != "" {
		WriteError(w, http.StatusUnprocessableEntity, 40010001, problem)
		return
	}
	s.mu.Lock()
	if _, dup := s.byClient[req.ClientOrderID]; dup && req.ClientOrderID != "" {
		s.mu.Unlock()
		WriteError(w, http.StatusUnprocessableEntity, 40010001, "client_order_id must be unique")
		return
	}
	s.created++
	id := orderID(s.created)
	cid := req.ClientOrderID
	if cid == "" {
		cid = fmt.Sprintf("c0a6f7d2-5e1b-4c8a-9d3e-%012d", s.created) // Alpaca generates one
	}
	now := s.now()
	qty := ""
	if req.Qty != nil {
		qty = *req.Qty
	}
	o := documentedOrder(id, cid, req.Symbol, qty, req.Side, req.Type, req.TimeInForce, now)
	s.orders[id] = o
	s.byClient[cid] = id
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	if s.autoFill {
		price, after := s.fillPrice, s.autoFillAfter
		placed := orderOf(o)
		s.timers = append(s.timers, time.AfterFunc(after, func() { s.autoFillNow(id, price(placed)) }))
	}
	answer, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	s.mu.Unlock()

	if drop {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	} else {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(append(answer, '\n'))
	}
	// Routed to the exchange: the order is new, as the stream says.
	s.mu.Lock()
	defer s.mu.Unlock()
	if o["status"] == "accepted" {
		at := stamp(s.now())
		o["status"], o["updated_at"] = "new", at
		s.pushLocked(tradeUpdate("new", o, at, nil))
	}
}

// documentedOrder is an order object as POST /v2/orders returns it
// (docs.alpaca.markets, "Create an Order" response).
func documentedOrder(id, clientID, symbol, qty, side, typ, tif string, now time.Time) map[string]any {
	var q any
	if qty != "" {
		q = qty
	}
	return map[string]any{
		"id":               id,
		"client_order_id":  clientID,
		"created_at":       stamp(now),
		"updated_at":       stamp(now.Add(6544 * time.Microsecond)),
		"submitted_at":     stamp(now.Add(1544 * time.Microsecond)),
		"filled_at":        nil,
		"expired_at":       nil,
		"canceled_at":      nil,
		"failed_at":        nil,
		"replaced_at":      nil,
		"replaced_by":      nil,
		"replaces":         nil,
		"asset_id":         "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
		"symbol":           symbol,
		"asset_class":      "us_equity",
		"notional":         nil,
		"qty":              q,
		"filled_qty":       "0",
		"filled_avg_price": nil,
		"order_class":      "",
		"order_type":       typ,
		"type":             typ,
		"side":             side,
		"time_in_force":    tif,
		"limit_price":      nil,
		"stop_price":       nil,
		"status":           "accepted",
		"extended_hours":   false,
		"legs":             nil,
		"trail_percent":    nil,
		"trail_price":      nil,
		"hwm":              nil,
	}
}

// newYork is the offset Alpaca's clock answers in (EST; the fake ignores
// daylight saving time).
var newYork = time.FixedZone("EST", -5*60*60)

func (s *Server) clock(w http.ResponseWriter) {
	s.mu.Lock()
	raw, open, nextOpenIn, now := s.clockRaw, s.open, s.nextOpenIn, s.now().In(newYork)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if raw != "" {
		_, _ = io.WriteString(w, raw)
		return
	}
	c := map[string]any{"timestamp": now.Format(time.RFC3339Nano), "is_open": open}
	if open {
		c["next_open"] = now.Add(24 * time.Hour).Format(time.RFC3339)
		c["next_close"] = now.Add(time.Hour).Format(time.RFC3339)
	} else {
		c["next_open"] = now.Add(nextOpenIn).Format(time.RFC3339Nano)
		c["next_close"] = now.Add(nextOpenIn + 6*time.Hour + 30*time.Minute).Format(time.RFC3339Nano)
	}
	_ = json.NewEncoder(w).Encode(c)
}
