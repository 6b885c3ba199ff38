// Package schwabtest is a fake Charles Schwab API for tests: the OAuth
// token endpoint, the Trader API account, order and order-list calls and
// market hours, with the request and response shapes of DOMAIN s.8.2
// (Schwab's documented examples), error injection and request counters.
//
// Fields are exported so tests can script the server; lock Mu around any
// change made while requests may be in flight.
package schwabtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // market hours are America/New_York wherever the tests run

	"github.com/shopspring/decimal"
)

// Defaults of a new Server.
const (
	AppKey      = "APPKEY-1234567890"
	AppSecret   = "APPSECRET-s3cr3t-abcdef"
	RedirectURI = "https://127.0.0.1:8182"
	HashA       = "E5B3F5C2A1D4HASH0"
	HashB       = "0FF1CEHASH2"
	// Code is the authorization code the server accepts (decoded: Schwab
	// codes end in "@", "%40" in the redirected URL).
	Code         = "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE@"
	FirstOrderID = 1004055538153
)

// Leg is one execution of a fill.
type Leg struct {
	Qty, Price decimal.Decimal
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	URL string
	srv *httptest.Server

	Mu sync.Mutex
	// Now is the server's clock (enteredTime, closeTime, market hours).
	Now func() time.Time
	// AppKey and AppSecret are the Basic credentials the token endpoint
	// wants.
	AppKey, AppSecret, RedirectURI string
	// Access is the access token the API accepts, Refresh the refresh
	// token the token endpoint accepts, Code the authorization code.
	Access, Refresh, Code string
	// NAccess counts the access tokens issued (ACCESS-TOKEN-<n>-xyz).
	NAccess int
	// Orders are Schwab Order objects by order id; OrderIDs in entry order.
	Orders   map[string]map[string]any
	OrderIDs []string
	NextID   int64
	// Calls is "METHOD path" of every request; Bodies the bodies of the
	// order posts; TokenRequests the forms posted to the token endpoint.
	Calls         []string
	Bodies        []string
	TokenRequests []map[string]string
	// Fail maps a request kind to HTTP statuses answered instead, one per
	// request: "METHOD path" for fixed paths (GET
	// /marketdata/v1/markets/equity, GET
	// /trader/v1/accounts/accountNumbers, POST /v1/oauth/token), "POST
	// orders", "GET orders" (list) and "GET order" (status).
	Fail map[string][]int
	// LoseAnswer creates the order but answers 502 this many times.
	LoseAnswer int
	// Location makes the Location header of a placed order ("" for none).
	Location func(hash, id string) string
	// MarketJSON is the market hours answer; empty: an open trading day
	// whose regular session spans Now (see OpenDay).
	MarketJSON string
	// Hang, when set, makes order status requests block until it closes.
	Hang chan struct{}
	// Echo is put in the body of injected failures (a server echoing a
	// token back).
	Echo string
	// AutoFill, when set, fills each placed order at its first status
	// request with the legs it returns (FILLED, closeTime now).
	AutoFill func(symbol, instruction string, qty decimal.Decimal) []Leg
}

// New starts a server with the defaults above, on the wall clock.
func New() *Server {
	s := &Server{
		Now: time.Now, AppKey: AppKey, AppSecret: AppSecret, RedirectURI: RedirectURI,
		Access: "ACCESS-TOKEN-0-xyz", Refresh: "REFRESH-TOKEN-qrs-987", Code: Code,
		Orders: map[string]map[string]any{}, NextID: FirstOrderID, Fail: map[string][]int{},
	}
	s.Location = func(hash, id string) string { return s.URL + "/trader/v1/accounts/" + hash + "/orders/" + id }
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Count is how many requests started with prefix ("POST /v1/oauth/token").
func (s *Server) Count(prefix string) int {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	n := 0
	for _, c := range s.Calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// FailNext answers the next requests of kind with statuses (see Fail).
func (s *Server) FailNext(kind string, statuses ...int) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.Fail[kind] = append(s.Fail[kind], statuses...)
}

// Revoke makes the API refuse the current access token (as after a
// server-side expiry) until the client refreshes.
func (s *Server) Revoke() { s.Mu.Lock(); s.Access = "ACCESS-REVOKED"; s.Mu.Unlock() }

// SetRefresh changes the refresh token the token endpoint accepts (and
// hands out at the next login): the old one is refused from now on.
func (s *Server) SetRefresh(tok string) { s.Mu.Lock(); s.Refresh = tok; s.Mu.Unlock() }

// SetOrder overwrites fields of order id.
func (s *Server) SetOrder(id string, fields map[string]any) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	for k, v := range fields {
		s.Orders[id][k] = v
	}
}

// Order returns a copy of order id's JSON object.
func (s *Server) Order(id string) (map[string]any, bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	o, ok := s.Orders[id]
	if !ok {
		return nil, false
	}
	c := make(map[string]any, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c, true
}

// PlacedOrders returns the ids of every order placed, in entry order.
func (s *Server) PlacedOrders() []string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return append([]string(nil), s.OrderIDs...)
}

// Fill marks order id FILLED by legs at closeTime now.
func (s *Server) Fill(id string, legs ...Leg) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.fill(id, legs)
}

func (s *Server) fill(id string, legs []Leg) {
	total := decimal.Zero
	for _, l := range legs {
		total = total.Add(l.Qty)
	}
	at := s.Now().UTC().Format(timeLayout)
	o := s.Orders[id]
	o["status"] = "FILLED"
	o["filledQuantity"] = json.Number(total.String())
	o["remainingQuantity"] = json.Number("0")
	o["closeTime"] = at
	o["cancelable"] = false
	o["orderActivityCollection"] = Activities(at, legs...)
}

// Activities is an orderActivityCollection with one EXECUTION per leg.
func Activities(at string, legs ...Leg) []any {
	out := make([]any, 0, len(legs))
	for i, l := range legs {
		out = append(out, map[string]any{
			"activityType": "EXECUTION", "activityId": 95512265692 + i, "executionType": "FILL",
			"quantity": json.Number(l.Qty.String()), "orderRemainingQuantity": 0,
			"executionLegs": []any{map[string]any{"legId": 1, "quantity": json.Number(l.Qty.String()), "mismarkedQuantity": 0,
				"price": json.Number(l.Price.String()), "time": at, "instrumentId": 4430271}},
		})
	}
	return out
}

// timeLayout is Schwab's order time format.
const timeLayout = "2006-01-02T15:04:05-0700"

// listTime is the fromEnteredTime/toEnteredTime format.
const listTime = "2006-01-02T15:04:05.000Z"

var newYork = func() *time.Location {
	l, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}()

// OpenDay is a market hours answer for the day of now (New York time)
// whose regular session runs from start to end.
func OpenDay(now, start, end time.Time) string {
	f := func(t time.Time) string { return t.In(newYork).Format("2006-01-02T15:04:05-07:00") }
	day := now.In(newYork).Format("2006-01-02")
	return `{"equity":{"EQ":{"date":"` + day + `","marketType":"EQUITY","exchange":"NULL","category":"NULL","product":"EQ","productName":"equity","isOpen":true,` +
		`"sessionHours":{"preMarket":[{"start":"` + f(start.Add(-150*time.Minute)) + `","end":"` + f(start) + `"}],` +
		`"regularMarket":[{"start":"` + f(start) + `","end":"` + f(end) + `"}],` +
		`"postMarket":[{"start":"` + f(end) + `","end":"` + f(end.Add(4*time.Hour)) + `"}]}}}}`
}

// ClosedDay is the answer for a day without a session (weekend, holiday).
func ClosedDay(now time.Time) string {
	return `{"equity":{"equity":{"date":"` + now.In(newYork).Format("2006-01-02") + `","marketType":"EQUITY","product":"equity","isOpen":false}}}`
}

func writeJSON(w http.ResponseWriter, status int, v string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	s.Calls = append(s.Calls, r.Method+" "+r.URL.Path)
	path := r.URL.Path
	kind := r.Method + " " + path
	if strings.HasPrefix(path, "/trader/v1/accounts/") && path != "/trader/v1/accounts/accountNumbers" {
		kind = r.Method + " orders"
		if strings.Count(path, "/") == 6 {
			kind = r.Method + " order"
		}
	}
	if q := s.Fail[kind]; len(q) > 0 {
		s.Fail[kind] = q[1:]
		if q[0] == 429 {
			w.Header().Set("Retry-After", "7")
		}
		writeJSON(w, q[0], `{"message":"fake failure `+s.Echo+`","errors":["injected"]}`)
		return
	}
	if path == "/v1/oauth/token" {
		s.token(w, r, body)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Access {
		writeJSON(w, 401, `{"errors":[{"id":"6c5b1c6e","status":"401","title":"Unauthorized","detail":"Client not authorized"}]}`)
		return
	}
	switch {
	case r.Method == "GET" && path == "/trader/v1/accounts/accountNumbers":
		writeJSON(w, 200, `[{"accountNumber":"12345678","hashValue":"`+HashA+`"},{"accountNumber":"87654321","hashValue":"`+HashB+`"}]`)
	case r.Method == "GET" && path == "/marketdata/v1/markets/equity":
		if d := r.URL.Query().Get("date"); d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				writeJSON(w, 400, `{"errors":[{"status":"400","title":"Bad Request","detail":"date must be yyyy-MM-dd"}]}`)
				return
			}
		}
		m := s.MarketJSON
		if m == "" {
			now := s.Now()
			m = OpenDay(now, now.Add(-time.Hour), now.Add(time.Hour))
		}
		writeJSON(w, 200, m)
	case kind == "POST orders":
		s.place(w, path, body)
	case kind == "GET orders":
		s.list(w, r)
	case kind == "GET order":
		if s.Hang != nil {
			h := s.Hang
			s.Mu.Unlock()
			select {
			case <-h:
			case <-r.Context().Done():
			}
			s.Mu.Lock()
			return
		}
		id := path[strings.LastIndex(path, "/")+1:]
		o, ok := s.Orders[id]
		if !ok || !strings.Contains(path, "/"+HashA+"/") && !strings.Contains(path, "/"+HashB+"/") {
			writeJSON(w, 404, `{"message":"Order not found","errors":["order `+id+` not found"]}`)
			return
		}
		if s.AutoFill != nil && o["status"] == "WORKING" {
			leg := o["orderLegCollection"].([]any)[0].(map[string]any)
			qty, _ := decimal.NewFromString(fmt.Sprint(leg["quantity"]))
			s.fill(id, s.AutoFill(leg["instrument"].(map[string]any)["symbol"].(string), leg["instruction"].(string), qty))
		}
		b, _ := json.Marshal(o)
		writeJSON(w, 200, string(b))
	default:
		writeJSON(w, 404, `{"message":"no such endpoint"}`)
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.AppKey+":"+s.AppSecret))
	if r.Method != "POST" || r.Header.Get("Authorization") != want || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, 401, `{"error":"invalid_client","error_description":"Unauthorized"}`)
		return
	}
	form := map[string]string{}
	q, _ := url.ParseQuery(string(body))
	for k, v := range q {
		form[k] = v[0]
	}
	s.TokenRequests = append(s.TokenRequests, form)
	switch form["grant_type"] {
	case "authorization_code":
		if form["code"] != s.Code || form["redirect_uri"] != s.RedirectURI {
			writeJSON(w, 400, `{"error":"invalid_request","error_description":"Bad authorization code"}`)
			return
		}
	case "refresh_token":
		if form["refresh_token"] != s.Refresh {
			writeJSON(w, 400, `{"error":"refresh_token_authentication_error","error_description":"Failed refresh token authentication"}`)
			return
		}
	default:
		writeJSON(w, 400, `{"error":"unsupported_grant_type"}`)
		return
	}
	s.NAccess++
	s.Access = fmt.Sprintf("ACCESS-TOKEN-%d-xyz", s.NAccess)
	writeJSON(w, 200, fmt.Sprintf(`{"expires_in":1800,"token_type":"Bearer","scope":"api","refresh_token":%q,"access_token":%q,"id_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.ID"}`, s.Refresh, s.Access))
}

func (s *Server) place(w http.ResponseWriter, path string, body []byte) {
	s.Bodies = append(s.Bodies, string(body))
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
	id := fmt.Sprint(s.NextID)
	s.NextID++
	qty := req.Legs[0].Quantity
	s.Orders[id] = map[string]any{
		"session": req.Session, "duration": req.Duration, "orderType": req.OrderType, "complexOrderStrategyType": "NONE",
		"quantity": qty, "filledQuantity": json.Number("0"), "remainingQuantity": qty, "requestedDestination": "AUTO", "destinationLinkName": "AutoRoute",
		"orderLegCollection": []any{map[string]any{"orderLegType": "EQUITY", "legId": 1, "instrument": map[string]any{"assetType": "EQUITY", "cusip": "36467W109", "symbol": inst.Symbol, "instrumentId": 4430271},
			"instruction": req.Legs[0].Instruction, "positionEffect": "OPENING", "quantity": qty}},
		"orderStrategyType": "SINGLE", "orderId": s.NextID - 1, "cancelable": true, "editable": false, "status": "WORKING",
		"enteredTime": s.Now().UTC().Format(timeLayout), "tag": "API_TDAM:App", "accountNumber": 12345678,
	}
	s.OrderIDs = append(s.OrderIDs, id)
	if s.LoseAnswer > 0 {
		s.LoseAnswer--
		writeJSON(w, 502, `<html>Bad Gateway</html>`)
		return
	}
	if loc := s.Location(hash, id); loc != "" {
		w.Header().Set("Location", loc)
	}
	w.WriteHeader(201)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := time.Parse(listTime, q.Get("fromEnteredTime"))
	to, err2 := time.Parse(listTime, q.Get("toEnteredTime"))
	if err1 != nil || err2 != nil {
		writeJSON(w, 400, `{"message":"fromEnteredTime and toEnteredTime are required in yyyy-MM-dd'T'HH:mm:ss.SSSZ"}`)
		return
	}
	out := []any{}
	for i := len(s.OrderIDs) - 1; i >= 0; i-- { // newest first, like Schwab
		o := s.Orders[s.OrderIDs[i]]
		at, _ := time.Parse(timeLayout, o["enteredTime"].(string))
		if !at.Before(from) && !at.After(to) {
			out = append(out, o)
		}
	}
	b, _ := json.Marshal(out)
	writeJSON(w, 200, string(b))
}
