package alpacatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hedgeline/hedgeline/brokers/alpaca/alpacatest"
	"github.com/shopspring/decimal"
)

const (
	keyID  = "PKFAKEKEY00000000001"
	secret = "fake-secret-0123456789"
)

// call sends one request with the given key headers ("" omits one) and
// returns the status and the decoded JSON body.
func call(t *testing.T, f *alpacatest.Server, method, path, body, id, key string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.Header.Set("APCA-API-KEY-ID", id)
	}
	if key != "" {
		req.Header.Set("APCA-API-SECRET-KEY", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

const placeBody = `{"symbol":"AAPL","qty":"2","side":"buy","type":"market","time_in_force":"day","client_order_id":"exec-1"}`

// The documented answers: keys checked (403 without the headers, 401 with
// wrong ones), the order object, 422 for a used client_order_id, 404 for
// unknown orders, lookups by id and by client order id.
func TestDocumentedShapes(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	if code, body := call(t, f, "GET", "/v2/clock", "", "", ""); code != 403 || body["message"] != "forbidden." {
		t.Errorf("no keys: %d %v", code, body)
	}
	if code, body := call(t, f, "GET", "/v2/clock", "", keyID, "wrong"); code != 401 || body["code"] != 40110000.0 ||
		body["message"] != "request is not authorized" {
		t.Errorf("wrong secret: %d %v", code, body)
	}
	code, o := call(t, f, "POST", "/v2/orders", placeBody, keyID, secret)
	if code != 200 || o["client_order_id"] != "exec-1" || o["qty"] != "2" || o["filled_qty"] != "0" ||
		o["filled_avg_price"] != nil || o["status"] != "accepted" || o["symbol"] != "AAPL" || o["side"] != "buy" {
		t.Fatalf("place: %d %v", code, o)
	}
	id := o["id"].(string)
	if code, body := call(t, f, "POST", "/v2/orders", placeBody, keyID, secret); code != 422 ||
		body["message"] != "client_order_id must be unique" || body["code"] != 40010001.0 {
		t.Errorf("duplicate: %d %v", code, body)
	}
	if code, body := call(t, f, "POST", "/v2/orders", strings.Replace(placeBody, `"2"`, `"-1"`, 1), keyID, secret); code != 422 {
		t.Errorf("negative qty: %d %v", code, body)
	}
	if err := f.Fill(id, decimal.RequireFromString("187.5")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/orders/" + id, "/v2/orders:by_client_order_id?client_order_id=exec-1"} {
		code, got := call(t, f, "GET", path, "", keyID, secret)
		if code != 200 || got["id"] != id || got["status"] != "filled" || got["filled_qty"] != "2" ||
			got["filled_avg_price"] != "187.5" || got["filled_at"] == nil {
			t.Errorf("GET %s: %d %v", path, code, got)
		}
	}
	for _, path := range []string{"/v2/orders/nope", "/v2/orders:by_client_order_id?client_order_id=nope"} {
		if code, body := call(t, f, "GET", path, "", keyID, secret); code != 404 || body["code"] != 40410000.0 {
			t.Errorf("GET %s: %d %v", path, code, body)
		}
	}
	if f.OrdersCreated() != 1 || f.PlaceAttempts("exec-1") != 3 || f.StatusGets() != 2 {
		t.Errorf("counters: %d orders, %d attempts, %d status gets", f.OrdersCreated(), f.PlaceAttempts("exec-1"), f.StatusGets())
	}
	if err := f.Fill(id, decimal.NewFromInt(1)); err == nil {
		t.Error("a filled order filled again")
	}
}

// The generated clock is consistent both ways and switches.
func TestClock(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	read := func() (open bool, ts, nextOpen, nextClose time.Time) {
		code, c := call(t, f, "GET", "/v2/clock", "", keyID, secret)
		if code != 200 {
			t.Fatalf("clock: %d", code)
		}
		parse := func(k string) time.Time {
			v, err := time.Parse(time.RFC3339Nano, c[k].(string))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			return v
		}
		return c["is_open"].(bool), parse("timestamp"), parse("next_open"), parse("next_close")
	}
	if open, ts, _, nc := read(); !open || !nc.After(ts) {
		t.Errorf("open clock: open=%v close %s at %s", open, nc, ts)
	}
	f.SetMarketClosed(5 * time.Second)
	if open, ts, no, _ := read(); open || !no.After(ts) {
		t.Errorf("closed clock: open=%v next_open %s at %s", open, no, ts)
	}
	f.SetMarketOpen()
	if open, _, _, _ := read(); !open {
		t.Error("not open again")
	}
}

// Automatic fills wait for the open, as day orders placed outside hours do.
func TestAutoFillWaitsForTheOpen(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	f.SetMarketClosed(time.Hour)
	f.FillAfterPlacement(0, func(alpacatest.Order) decimal.Decimal { return decimal.RequireFromString("10.25") })
	if code, _ := call(t, f, "POST", "/v2/orders", placeBody, keyID, secret); code != 200 {
		t.Fatalf("place: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.HeldFills() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the automatic fill was not held while closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if o, _ := f.OrderByClientID("exec-1"); o.Status == "filled" {
		t.Fatalf("closed market: order %+v filled", o)
	}
	f.SetMarketOpen()
	if o, _ := f.OrderByClientID("exec-1"); o.Status != "filled" || !o.FilledAvgPrice.Equal(decimal.RequireFromString("10.25")) {
		t.Fatalf("after the open: %+v", o)
	}
}

// A lost response: the order exists, the client got no answer.
func TestDropPlaceResponse(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	f.DropPlaceResponses(1)
	req, _ := http.NewRequest("POST", f.URL+"/v2/orders", strings.NewReader(placeBody))
	req.Header.Set("APCA-API-KEY-ID", keyID)
	req.Header.Set("APCA-API-SECRET-KEY", secret)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d", resp.StatusCode)
	}
	if o, ok := f.OrderByClientID("exec-1"); !ok || f.OrdersCreated() != 1 || o.Qty.String() != "2" {
		t.Fatalf("order %+v %v", o, ok)
	}
}

func TestQueuedFailures(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	f.RateLimitNext(1, "2")
	f.FailNext(1, 503)
	req := func() *http.Response {
		r, _ := http.NewRequest("GET", f.URL+"/v2/clock", nil)
		r.Header.Set("APCA-API-KEY-ID", keyID)
		r.Header.Set("APCA-API-SECRET-KEY", secret)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := req(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" {
		t.Errorf("429: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := req(); r.StatusCode != 503 {
		t.Errorf("503: %d", r.StatusCode)
	}
	if r := req(); r.StatusCode != 200 {
		t.Errorf("after the failures: %d", r.StatusCode)
	}
}

// The stream: both auth forms, listen, events, refusal, and down.
func TestStream(t *testing.T) {
	f := alpacatest.NewServer(t, keyID, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(f.URL, "http") + "/stream"
	dial := func(auth string) (*websocket.Conn, string) {
		c, _, err := websocket.Dial(ctx, ws, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(auth)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c, string(msg)
	}
	c, msg := dial(`{"action":"auth","key":"` + keyID + `","secret":"wrong"}`)
	if !strings.Contains(msg, `"status":"unauthorized"`) {
		t.Errorf("wrong secret: %s", msg)
	}
	c.CloseNow()
	c, msg = dial(`{"action":"authenticate","data":{"key_id":"` + keyID + `","secret_key":"` + secret + `"}}`)
	defer c.CloseNow()
	if msg != `{"stream":"authorization","data":{"action":"authenticate","status":"authorized"}}` {
		t.Fatalf("auth: %s", msg)
	}
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"action":"listen","data":{"streams":["trade_updates"]}}`))
	if typ, m, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || string(m) != `{"stream":"listening","data":{"streams":["trade_updates"]}}` {
		t.Fatalf("listen: %v %s %v", typ, m, err)
	}
	if err := f.WaitListening(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f.Push(`{"stream":"trade_updates","data":{"event":"x"}}`)
	if _, m, err := c.Read(ctx); err != nil || !strings.Contains(string(m), `"event":"x"`) {
		t.Fatalf("push: %s %v", m, err)
	}
	f.SetStreamDown(true)
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("connection alive after going down")
	}
	if _, _, err := websocket.Dial(ctx, ws, nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial while down: %v, want refused", err)
	}
	if f.StreamsAccepted() != 2 || f.Listening() != 1 {
		t.Errorf("%d accepted, %d listened", f.StreamsAccepted(), f.Listening())
	}
}
