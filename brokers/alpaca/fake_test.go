package alpaca

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	testKeyID  = "PKTESTKEYID0000000001"
	testSecret = "s3cr3t-Sh0uld-N3ver-Leak-9f8e7d6c5b4a"
)

// fakeAlpaca reproduces the Trading API v2 endpoints the broker uses, with
// Alpaca's documented JSON shapes (order objects with decimal strings and
// nulls, errors as {"code","message"}).
type fakeAlpaca struct {
	t  *testing.T
	mu sync.Mutex
	// orders by id, ids by client order id
	orders   map[string]map[string]any
	byClient map[string]string
	requests []recorded
	created  int
	// hook, when set, answers a request first (return true when handled).
	hook func(w http.ResponseWriter, r *http.Request, body []byte) bool
	// dropCreate closes the connection after creating the next order, so
	// the client never sees the answer.
	dropCreate bool
	clock      string
}

type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

func newFake(t *testing.T) (*fakeAlpaca, *httptest.Server) {
	f := &fakeAlpaca{t: t, orders: map[string]map[string]any{}, byClient: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

// documentedOrder is an order object as Alpaca returns it from POST
// /v2/orders (docs.alpaca.markets, "Create an Order" response).
func documentedOrder(id, clientID, symbol, qty, side string) map[string]any {
	return map[string]any{
		"id":               id,
		"client_order_id":  clientID,
		"created_at":       "2026-11-30T14:30:00.123456Z",
		"updated_at":       "2026-11-30T14:30:00.130000Z",
		"submitted_at":     "2026-11-30T14:30:00.125000Z",
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
		"qty":              qty,
		"filled_qty":       "0",
		"filled_avg_price": nil,
		"order_class":      "",
		"order_type":       "market",
		"type":             "market",
		"side":             side,
		"time_in_force":    "day",
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

func (f *fakeAlpaca) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	hook := f.hook
	f.mu.Unlock()
	if r.Header.Get("APCA-API-KEY-ID") != testKeyID || r.Header.Get("APCA-API-SECRET-KEY") != testSecret {
		apiError(w, http.StatusUnauthorized, 40110000, "request is not authorized")
		return
	}
	if hook != nil && hook(w, r, body) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/orders":
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			apiError(w, http.StatusUnprocessableEntity, 40010001, "invalid body")
			return
		}
		cid, _ := req["client_order_id"].(string)
		if _, dup := f.byClient[cid]; dup {
			apiError(w, http.StatusUnprocessableEntity, 40010001, "client_order_id must be unique")
			return
		}
		f.created++
		id := fmt.Sprintf("61e69015-8549-4bfd-b9c3-01e75843f%03d", f.created)
		o := documentedOrder(id, cid, req["symbol"].(string), req["qty"].(string), req["side"].(string))
		f.orders[id] = o
		f.byClient[cid] = id
		if f.dropCreate {
			f.dropCreate = false
			hj := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeJSON(w, http.StatusOK, o)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/orders:by_client_order_id":
		id, ok := f.byClient[r.URL.Query().Get("client_order_id")]
		if !ok {
			apiError(w, http.StatusNotFound, 40410000, "order not found")
			return
		}
		writeJSON(w, http.StatusOK, f.orders[id])
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/orders/"):
		o, ok := f.orders[strings.TrimPrefix(r.URL.Path, "/v2/orders/")]
		if !ok {
			apiError(w, http.StatusNotFound, 40410000, "order not found")
			return
		}
		writeJSON(w, http.StatusOK, o)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/clock":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(f.clock))
	default:
		apiError(w, http.StatusNotFound, 40410000, "endpoint not found")
	}
}

func (f *fakeAlpaca) setHook(h func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

func (f *fakeAlpaca) ordersCreated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

// set changes fields of a stored order, as Alpaca would as it executes.
func (f *fakeAlpaca) set(id string, kv map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range kv {
		f.orders[id][k] = v
	}
}

func (f *fakeAlpaca) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}
