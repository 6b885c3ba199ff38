package schwab

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/brokerauth"
)

const (
	appKey    = "APPKEY-1234567890"
	appSecret = "APPSECRET-s3cr3t-abcdef"
	redirect  = "https://127.0.0.1:8182"
	hashA     = "E5B3F5C2A1D4HASH0"
	hashB     = "0FF1CEHASH2"
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

// fakeSchwab reproduces the Schwab endpoints of DOMAIN s.8.2 with the
// documented request and response shapes.
type fakeSchwab struct {
	t   *testing.T
	srv *httptest.Server
	clk *fakeClock

	mu       sync.Mutex
	access   string // the access token the API accepts
	refresh  string // the refresh token the token endpoint accepts
	code     string // the authorization code it accepts (decoded)
	nAccess  int
	orders   map[string]map[string]any // id -> Schwab Order JSON
	order    []string                  // ids in entry order
	nextID   int64
	calls    []string // "METHOD path" of every request
	bodies   []string // bodies of POST .../orders
	tokenReq []map[string]string

	// hooks
	next       map[string][]int // "METHOD path-kind" -> statuses to answer instead
	loseAnswer int              // create the order but answer 500 this many times
	location   func(hash, id string) string
	marketJSON string
	hang       chan struct{} // when set, order status blocks until closed
	srvEcho    string        // when set, injected failures echo it in their body
}

func newFake(t *testing.T) *fakeSchwab {
	f := &fakeSchwab{t: t, clk: &fakeClock{t: t0}, access: "ACCESS-TOKEN-0-xyz", refresh: "REFRESH-TOKEN-qrs-987",
		code: "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE@", orders: map[string]map[string]any{}, nextID: 1004055538153, next: map[string][]int{}}
	f.location = func(hash, id string) string { return f.srv.URL + "/trader/v1/accounts/" + hash + "/orders/" + id }
	f.marketJSON = `{"equity":{"EQ":{"date":"2025-08-29","marketType":"EQUITY","exchange":"NULL","category":"NULL","product":"EQ","productName":"equity","isOpen":true,"sessionHours":{"preMarket":[{"start":"2025-08-29T07:00:00-04:00","end":"2025-08-29T09:30:00-04:00"}],"regularMarket":[{"start":"2025-08-29T09:30:00-04:00","end":"2025-08-29T16:00:00-04:00"}],"postMarket":[{"start":"2025-08-29T16:00:00-04:00","end":"2025-08-29T20:00:00-04:00"}]}}}}`
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSchwab) app() App {
	return App{Key: appKey, Secret: appSecret, RedirectURI: redirect, BaseURL: f.srv.URL}
}

func (f *fakeSchwab) tokens() Tokens {
	return Tokens{Access: brokerauth.Token(f.access), AccessFetchedAt: t0, Refresh: brokerauth.Token(f.refresh), RefreshFetchedAt: t0}
}

func (f *fakeSchwab) broker(t *testing.T, mod ...func(*Config)) *Broker {
	cfg := Config{App: f.app(), Tokens: f.tokens(), HTTP: f.srv.Client(), Now: f.clk.Now, Log: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fakeSchwab) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// revoke makes the API refuse the current access token (as after a
// server-side expiry) until the client refreshes.
func (f *fakeSchwab) revoke() { f.mu.Lock(); f.access = "ACCESS-REVOKED"; f.mu.Unlock() }

func writeJSON(w http.ResponseWriter, status int, v string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, v)
}

func (f *fakeSchwab) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	path := r.URL.Path
	if path == "/v1/oauth/token" {
		f.token(w, r, body)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.access {
		writeJSON(w, 401, `{"errors":[{"id":"6c5b1c6e","status":"401","title":"Unauthorized","detail":"Client not authorized"}]}`)
		return
	}
	kind := r.Method + " " + path
	if strings.HasPrefix(path, "/trader/v1/accounts/") && path != "/trader/v1/accounts/accountNumbers" {
		kind = r.Method + " orders"
		if strings.Count(path, "/") == 6 {
			kind = r.Method + " order"
		}
	}
	if q := f.next[kind]; len(q) > 0 {
		f.next[kind] = q[1:]
		if q[0] == 429 {
			w.Header().Set("Retry-After", "7")
		}
		writeJSON(w, q[0], `{"message":"fake failure `+f.srvEcho+`","errors":["injected"]}`)
		return
	}
	switch {
	case r.Method == "GET" && path == "/trader/v1/accounts/accountNumbers":
		writeJSON(w, 200, `[{"accountNumber":"12345678","hashValue":"`+hashA+`"},{"accountNumber":"87654321","hashValue":"`+hashB+`"}]`)
	case r.Method == "GET" && path == "/marketdata/v1/markets":
		if r.URL.Query().Get("markets") != "equity" {
			writeJSON(w, 400, `{"message":"markets is required"}`)
			return
		}
		writeJSON(w, 200, f.marketJSON)
	case kind == "POST orders":
		f.place(w, path, body)
	case kind == "GET orders":
		f.list(w, r)
	case kind == "GET order":
		if f.hang != nil {
			h := f.hang
			f.mu.Unlock()
			select {
			case <-h:
			case <-r.Context().Done():
			}
			f.mu.Lock()
			return
		}
		id := path[strings.LastIndex(path, "/")+1:]
		o, ok := f.orders[id]
		if !ok || !strings.Contains(path, "/"+hashA+"/") {
			writeJSON(w, 404, `{"message":"Order not found","errors":["order `+id+` not found"]}`)
			return
		}
		b, _ := json.Marshal(o)
		writeJSON(w, 200, string(b))
	default:
		writeJSON(w, 404, `{"message":"no such endpoint"}`)
	}
}

func (f *fakeSchwab) token(w http.ResponseWriter, r *http.Request, body []byte) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(appKey+":"+appSecret))
	if r.Method != "POST" || r.Header.Get("Authorization") != want || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, 401, `{"error":"invalid_client","error_description":"Unauthorized"}`)
		return
	}
	form, _ := parseForm(string(body))
	f.tokenReq = append(f.tokenReq, form)
	switch form["grant_type"] {
	case "authorization_code":
		if form["code"] != f.code || form["redirect_uri"] != redirect {
			writeJSON(w, 400, `{"error":"invalid_request","error_description":"Bad authorization code"}`)
			return
		}
	case "refresh_token":
		if form["refresh_token"] != f.refresh {
			writeJSON(w, 400, `{"error":"refresh_token_authentication_error","error_description":"Failed refresh token authentication"}`)
			return
		}
	default:
		writeJSON(w, 400, `{"error":"unsupported_grant_type"}`)
		return
	}
	f.nAccess++
	f.access = fmt.Sprintf("ACCESS-TOKEN-%d-xyz", f.nAccess)
	writeJSON(w, 200, fmt.Sprintf(`{"expires_in":1800,"token_type":"Bearer","scope":"api","refresh_token":%q,"access_token":%q,"id_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.ID"}`, f.refresh, f.access))
}

func parseForm(s string) (map[string]string, error) {
	m := map[string]string{}
	q, err := url.ParseQuery(s)
	for k, v := range q {
		m[k] = v[0]
	}
	return m, err
}

func (f *fakeSchwab) place(w http.ResponseWriter, path string, body []byte) {
	f.bodies = append(f.bodies, string(body))
	hash := strings.Split(path, "/")[4]
	var req struct {
		OrderType         string `json:"orderType"`
		Session           string `json:"session"`
		Duration          string `json:"duration"`
		OrderStrategyType string `json:"orderStrategyType"`
		Legs              []struct {
			Instruction string          `json:"instruction"`
			Quantity    json.Number     `json:"quantity"`
			Instrument  json.RawMessage `json:"instrument"`
		} `json:"orderLegCollection"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&req); err != nil || len(req.Legs) != 1 {
		writeJSON(w, 400, `{"message":"A validation error occurred while processing the request.","errors":["bad order"]}`)
		return
	}
	var inst struct{ Symbol, AssetType string }
	json.Unmarshal(req.Legs[0].Instrument, &inst)
	if inst.Symbol == "NOSUCH" {
		writeJSON(w, 400, `{"message":"A validation error occurred while processing the request.","errors":["Symbol NOSUCH is not valid"]}`)
		return
	}
	id := fmt.Sprint(f.nextID)
	f.nextID++
	qty, _ := req.Legs[0].Quantity.Float64()
	f.orders[id] = map[string]any{
		"session": req.Session, "duration": req.Duration, "orderType": req.OrderType, "complexOrderStrategyType": "NONE",
		"quantity": qty, "filledQuantity": 0.0, "remainingQuantity": qty, "requestedDestination": "AUTO", "destinationLinkName": "AutoRoute",
		"orderLegCollection": []any{map[string]any{"orderLegType": "EQUITY", "legId": 1, "instrument": map[string]any{"assetType": "EQUITY", "cusip": "36467W109", "symbol": inst.Symbol, "instrumentId": 4430271},
			"instruction": req.Legs[0].Instruction, "positionEffect": "OPENING", "quantity": qty}},
		"orderStrategyType": "SINGLE", "orderId": f.nextID - 1, "cancelable": true, "editable": false, "status": "WORKING",
		"enteredTime": f.clk.Now().Format("2006-01-02T15:04:05-0700"), "tag": "API_TDAM:App", "accountNumber": 12345678,
	}
	f.order = append(f.order, id)
	if f.loseAnswer > 0 {
		f.loseAnswer--
		writeJSON(w, 502, `<html>Bad Gateway</html>`)
		return
	}
	if loc := f.location(hash, id); loc != "" {
		w.Header().Set("Location", loc)
	}
	w.WriteHeader(201)
}

func (f *fakeSchwab) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := time.Parse(listTime, q.Get("fromEnteredTime"))
	to, err2 := time.Parse(listTime, q.Get("toEnteredTime"))
	if err1 != nil || err2 != nil {
		writeJSON(w, 400, `{"message":"fromEnteredTime and toEnteredTime are required in yyyy-MM-dd'T'HH:mm:ss.SSSZ"}`)
		return
	}
	out := []any{}
	for i := len(f.order) - 1; i >= 0; i-- { // newest first, like Schwab
		o := f.orders[f.order[i]]
		at, _ := parseTime(o["enteredTime"].(string))
		if !at.Before(from) && !at.After(to) {
			out = append(out, o)
		}
	}
	b, _ := json.Marshal(out)
	writeJSON(w, 200, string(b))
}

// fill marks order id filled by the given legs (price, qty) at closeTime.
func (f *fakeSchwab) setOrder(id string, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range fields {
		f.orders[id][k] = v
	}
}

// capture is a logger whose every line is kept.
func capture() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
