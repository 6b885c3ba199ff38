package api

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/sinks"
)

// deadAddr is a local address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Parameters are checked before ClickHouse is touched, so these run without
// one: every bad parameter is a 400 naming it, unknown paths a JSON 404.
func TestBadRequests(t *testing.T) {
	srv, err := New(Config{ClickHouse: sinks.Config{Addr: deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, c := range []struct{ path, param string }{
		{"/api/pnl?from=yesterday", "from"},
		{"/api/pnl?to=2026-13-01", "to"},
		{"/api/pnl?from=2026-02-01&to=2026-01-01", "to"},
		{"/api/pnl?symbol=A%3BB", "symbol"},
		{"/api/pnl?symbl=AAPL", "symbl"},
		{"/api/pnl/history?bucket=1.5s", "bucket"},
		{"/api/pnl/history?bucket=0", "bucket"},
		{"/api/pnl/history?bucket=-1h", "bucket"},
		{"/api/pnl/history?bucket=400d", "bucket"},
		{"/api/trades?limit=0", "limit"},
		{"/api/trades?limit=x", "limit"},
		{"/api/orders?limit=100001", "limit"},
		{"/api/orders?status=Done", "status"},
		{"/api/positions?from=1&from=2", "from"},
		{"/api/health?ready=maybe", "ready"},
		{"/api/aggregates/Nope/x/events", "type"},
		{"/api/aggregates/Position/x/events?since=1", "since"},
	} {
		code, msg := get(t, hs.URL+c.path)
		if code != http.StatusBadRequest || !strings.Contains(msg, "parameter "+c.param+":") {
			t.Errorf("GET %s: %d %q, want 400 naming %s", c.path, code, msg, c.param)
		}
	}
	if code, msg := get(t, hs.URL+"/api/nosuch"); code != http.StatusNotFound || !strings.Contains(msg, "/api/nosuch") {
		t.Errorf("GET /api/nosuch: %d %q", code, msg)
	}
	resp, err := http.Post(hs.URL+"/api/pnl", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("POST /api/pnl: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	// Without --brokers the events endpoint says what is missing.
	if code, msg := get(t, hs.URL+"/api/aggregates/Position/AAPL/events"); code != http.StatusServiceUnavailable || !strings.Contains(msg, "--brokers") {
		t.Errorf("aggregate events without brokers: %d %q", code, msg)
	}
}

// The embedded document is OpenAPI 3 and describes exactly the routes.
func TestOpenAPIDocument(t *testing.T) {
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	for _, r := range Routes {
		if doc.Paths[r] == nil {
			t.Errorf("openapi.json lacks %s", r)
		}
	}
	if len(doc.Paths) != len(Routes) {
		t.Errorf("openapi.json has %d paths, the API %d", len(doc.Paths), len(Routes))
	}
}

// get returns the status and the error message of a JSON error body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e Error
	if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil {
		t.Errorf("GET %s: not a JSON error: %s", url, body)
	}
	return resp.StatusCode, e.Error
}

// The Trade schema names every field /api/trades returns (the gas cost
// fields included), and nothing else.
func TestOpenAPITradeSchema(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	props := doc.Components.Schemas["Trade"].Properties
	typ := reflect.TypeOf(sinks.Trade{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if props[name] == nil {
			t.Errorf("openapi.json's Trade lacks %s", name)
		}
		delete(props, name)
	}
	for name := range props {
		t.Errorf("openapi.json's Trade has %s, which sinks.Trade does not", name)
	}
}
