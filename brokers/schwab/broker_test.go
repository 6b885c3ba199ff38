package schwab

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

func hedge(id, sym string, shares int64, d market.Direction) brokers.Order {
	return brokers.Order{ClientOrderID: id, Symbol: market.Symbol(sym), Shares: decimal.NewFromInt(shares), Direction: d}
}

func TestPlaceRequestAndLocation(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	p, err := b.Place(ctx, hedge("exec-1", "GME", 3, market.Buy))
	if err != nil {
		t.Fatal(err)
	}
	if p.BrokerOrderID != "1004055538153" || p.Existing || !p.AcceptedAt.Equal(t0) {
		t.Fatalf("placement %+v", p)
	}
	want := `{"orderType":"MARKET","session":"NORMAL","duration":"DAY","orderStrategyType":"SINGLE","orderLegCollection":[{"instruction":"BUY","quantity":3,"instrument":{"symbol":"GME","assetType":"EQUITY"}}]}`
	if f.Bodies[0] != want {
		t.Fatalf("body\n%s\nwant\n%s", f.Bodies[0], want)
	}
	if f.Calls[1] != "POST /trader/v1/accounts/"+hashA+"/orders" {
		t.Fatalf("calls %v", f.Calls)
	}
	// A relative Location is read too; a sell says SELL.
	f.Location = func(hash, id string) string { return "/trader/v1/accounts/" + hash + "/orders/" + id }
	if p, err := b.Place(ctx, hedge("exec-2", "GME", 1, market.Sell)); err != nil || p.BrokerOrderID != "1004055538154" {
		t.Fatalf("relative Location: %+v, %v", p, err)
	}
	if !strings.Contains(f.Bodies[1], `"instruction":"SELL","quantity":1`) {
		t.Fatalf("sell body %s", f.Bodies[1])
	}
}

func TestAccountIndex(t *testing.T) {
	f := newFake(t)
	b := f.broker(t, func(c *Config) { c.AccountIndex = 1 })
	if _, err := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy)); err != nil {
		t.Fatal(err)
	}
	if f.Calls[1] != "POST /trader/v1/accounts/"+hashB+"/orders" {
		t.Fatalf("calls %v", f.Calls)
	}
	b.Place(ctx, hedge("exec-2", "GME", 1, market.Buy))
	if n := f.Count("GET /trader/v1/accounts/accountNumbers"); n != 1 {
		t.Fatalf("account looked up %d times, want once", n)
	}
	b = f.broker(t, func(c *Config) { c.AccountIndex = 2 })
	if _, err := b.Place(ctx, hedge("exec-3", "GME", 1, market.Buy)); err == nil || !strings.Contains(err.Error(), "account index 2, but the login has 2 account(s)") {
		t.Fatalf("index 2: %v", err)
	}
}

func TestBadLocation(t *testing.T) {
	for name, loc := range map[string]func(hash, id string) string{
		"missing":     func(string, string) string { return "" },
		"not numeric": func(h, _ string) string { return "/trader/v1/accounts/" + h + "/orders/abc" },
		"other path":  func(_, id string) string { return "/trader/v1/accounts/OTHER/orders/" + id },
		"no id":       func(h, _ string) string { return "/trader/v1/accounts/" + h + "/orders/" },
	} {
		f := newFake(t)
		f.Location = loc
		b := f.broker(t)
		_, err := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
		var te *TransientError
		if !errors.As(err, &te) || errors.Is(err, brokers.ErrRejected) {
			t.Errorf("%s: %v: want a transient error", name, err)
			continue
		}
		// The retry finds the order the bad answer was about.
		f.Location = func(h, id string) string { return "/trader/v1/accounts/" + h + "/orders/" + id }
		p, err := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
		if err != nil || !p.Existing || p.BrokerOrderID != "1004055538153" || len(f.Orders) != 1 {
			t.Errorf("%s: retry %+v, %v, %d orders", name, p, err, len(f.Orders))
		}
	}
}

func TestPlaceIdempotent(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	first, _ := b.Place(ctx, hedge("exec-1", "GME", 2, market.Buy))
	f.clk.Advance(time.Minute)
	again, err := b.Place(ctx, hedge("exec-1", "GME", 2, market.Buy))
	if err != nil || !again.Existing || again.BrokerOrderID != first.BrokerOrderID || !again.AcceptedAt.Equal(first.AcceptedAt) {
		t.Fatalf("again %+v, %v; first %+v", again, err, first)
	}
	if n := f.Count("POST /trader"); n != 1 {
		t.Fatalf("%d orders posted", n)
	}
	if _, err := b.Place(ctx, hedge("exec-1", "GME", 3, market.Buy)); !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "already used for BUY 2 GME") {
		t.Fatalf("same id, other order: %v", err)
	}
}

// TestLostAnswer: Schwab accepts the order but the answer is lost (502).
// The retry, by this process or another sharing the journal, finds it in
// the orders list instead of placing a second one; two lost identical
// orders are matched one to one.
func TestLostAnswer(t *testing.T) {
	f := newFake(t)
	j := NewMemoryJournal()
	b := f.broker(t, func(c *Config) { c.Journal = j })
	// An identical order entered before our attempt must not be adopted.
	f.clk.Advance(-5 * time.Minute)
	b.Place(ctx, hedge("earlier", "GME", 1, market.Buy))
	j.byID = map[string]Entry{}
	j.claimed = map[string]string{} // as if placed by hand
	f.clk.Advance(5 * time.Minute)

	f.LoseAnswer = 2
	for _, id := range []string{"exec-1", "exec-2"} {
		_, err := b.Place(ctx, hedge(id, "GME", 1, market.Buy))
		var te *TransientError
		if !errors.As(err, &te) || errors.Is(err, brokers.ErrRejected) {
			t.Fatalf("%s lost answer: %v", id, err)
		}
		f.clk.Advance(time.Second)
	}
	if len(f.Orders) != 3 {
		t.Fatalf("%d orders at Schwab", len(f.Orders))
	}
	k, err := f.broker(t, func(c *Config) { c.Journal = j }).Find(ctx, "exec-2")
	if err != nil || (k.BrokerOrderID != "1004055538154" && k.BrokerOrderID != "1004055538155") || k.Status.State != brokers.StateSubmitted {
		t.Fatalf("Find exec-2: %+v, %v", k, err)
	}
	p, err := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
	if err != nil || !p.Existing || (p.BrokerOrderID != "1004055538154" && p.BrokerOrderID != "1004055538155") || p.BrokerOrderID == k.BrokerOrderID {
		t.Fatalf("retry exec-1: %+v, %v; exec-2 has %s", p, err, k.BrokerOrderID)
	}
	if len(f.Orders) != 3 || f.Count("POST /trader") != 3 {
		t.Fatalf("%d orders, %d posts: the retry placed again", len(f.Orders), f.Count("POST /trader"))
	}
	// A post that never reached Schwab: the retry finds nothing and places.
	f.Mu.Lock()
	f.Fail["POST orders"] = []int{503}
	f.Mu.Unlock()
	if _, err := b.Place(ctx, hedge("exec-3", "GME", 1, market.Buy)); err == nil {
		t.Fatal("503 not an error")
	}
	if p, err := b.Place(ctx, hedge("exec-3", "GME", 1, market.Buy)); err != nil || p.Existing || len(f.Orders) != 4 {
		t.Fatalf("retry after 503: %+v, %v, %d orders", p, err, len(f.Orders))
	}
	if _, err := b.Find(ctx, "never"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("Find unknown: %v", err)
	}
}

func TestPlaceRejected(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	_, err := b.Place(ctx, hedge("exec-1", "NOSUCH", 1, market.Buy))
	if !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "HTTP 400 A validation error occurred while processing the request.; Symbol NOSUCH is not valid") {
		t.Fatalf("400: %v", err)
	}
	posts := f.Count("POST /trader")
	// The same id again: the rejection is repeated, nothing is posted or
	// searched, and Find knows no order.
	if _, err := b.Place(ctx, hedge("exec-1", "NOSUCH", 1, market.Buy)); !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "rejected earlier: HTTP 400") {
		t.Fatalf("retry of a rejected order: %v", err)
	}
	if _, err := b.Find(ctx, "exec-1"); !errors.Is(err, brokers.ErrNotFound) {
		t.Fatalf("Find rejected: %v", err)
	}
	if f.Count("GET /trader/v1/accounts/"+hashA+"/orders") != 0 {
		t.Fatal("searched the orders list for a rejected order")
	}
	frac := hedge("exec-2", "GME", 1, market.Buy)
	frac.Shares = decimal.RequireFromString("0.5")
	if _, err := b.Place(ctx, frac); !errors.Is(err, brokers.ErrRejected) || !strings.Contains(err.Error(), "0.5 shares is not a whole number") {
		t.Fatalf("fractional: %v", err)
	}
	if _, err := b.Place(ctx, brokers.Order{ClientOrderID: "x", Symbol: "GME", Shares: decimal.NewFromInt(1), Direction: "Hold"}); !errors.Is(err, brokers.ErrRejected) {
		t.Fatalf("invalid: %v", err)
	}
	if f.Count("POST /trader") != posts {
		t.Fatal("an invalid order was sent")
	}
	f.Mu.Lock()
	f.Fail["POST orders"] = []int{403, 422}
	f.Mu.Unlock()
	for _, id := range []string{"exec-3", "exec-4"} {
		if _, err := b.Place(ctx, hedge(id, "GME", 1, market.Buy)); !errors.Is(err, brokers.ErrRejected) {
			t.Fatalf("403/422: %v", err)
		}
	}
}

// gme is the filled-order response of DOMAIN s.6.6 item 5, with the other
// fields of a Schwab Order around it.
const gme = `{"session":"NORMAL","duration":"DAY","orderType":"MARKET","complexOrderStrategyType":"NONE","quantity":1.0,"filledQuantity":1.0,"remainingQuantity":0.0,"requestedDestination":"AUTO","destinationLinkName":"ETMM","orderLegCollection":[{"orderLegType":"EQUITY","legId":1,"instrument":{"assetType":"EQUITY","cusip":"36467W109","symbol":"GME","instrumentId":4430271},"instruction":"BUY","positionEffect":"OPENING","quantity":1.0}],"orderStrategyType":"SINGLE","orderId":1004055538153,"cancelable":false,"editable":false,"status":"FILLED","enteredTime":"2025-08-29T17:15:17+0000","closeTime":"2025-08-29T17:15:18+0000","tag":"API_TDAM:App","accountNumber":12345678,"orderActivityCollection":[{"activityType":"EXECUTION","activityId":95512265692,"executionType":"FILL","quantity":1.0,"orderRemainingQuantity":0.0,"executionLegs":[{"legId":1,"quantity":1.0,"mismarkedQuantity":0.0,"price":22.7299,"time":"2025-08-29T17:15:18+0000","instrumentId":4430271}]}]}`

func TestGMEVector(t *testing.T) {
	f := newFake(t)
	var o map[string]any
	json.Unmarshal([]byte(gme), &o)
	f.Orders["1004055538153"] = o
	s, err := f.broker(t).Status(ctx, "1004055538153")
	if err != nil {
		t.Fatal(err)
	}
	closeAt := time.Date(2025, 8, 29, 17, 15, 18, 0, time.UTC)
	if s.State != brokers.StateFilled || !s.FilledShares.Equal(decimal.NewFromInt(1)) || !s.AvgPrice.Equal(decimal.RequireFromString("22.7299")) || !s.UpdatedAt.Equal(closeAt) {
		t.Fatalf("status %+v", s)
	}
	if c := s.AvgPrice.Mul(decimal.NewFromInt(100)).Round(0); !c.Equal(decimal.NewFromInt(2273)) {
		t.Fatalf("price cents %s, want 2273", c)
	}
}

func legs(ls ...[2]string) []any {
	var out []any
	for _, l := range ls {
		out = append(out, map[string]any{"activityType": "EXECUTION", "executionType": "FILL",
			"executionLegs": []any{map[string]any{"legId": 1, "quantity": json.Number(l[0]), "price": json.Number(l[1]), "time": "2025-08-29T17:15:18+0000"}}})
	}
	return out
}

// TestWeightedAverage: 3 @ 10.00 and 1 @ 14.00 average 11.00 (the plain
// mean of the prices would be 12); a partial fill is reported while
// working; a FILLED order must carry legs matching filledQuantity and a
// closeTime.
func TestWeightedAverage(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	p, _ := b.Place(ctx, hedge("exec-1", "GME", 4, market.Buy))
	id := p.BrokerOrderID
	f.SetOrder(id, map[string]any{"filledQuantity": 3, "orderActivityCollection": legs([2]string{"3", "10.00"})})
	s, err := b.Status(ctx, id)
	if err != nil || s.State != brokers.StateSubmitted || !s.FilledShares.Equal(decimal.NewFromInt(3)) || !s.AvgPrice.Equal(decimal.NewFromInt(10)) {
		t.Fatalf("partial: %+v, %v", s, err)
	}
	f.SetOrder(id, map[string]any{"status": "FILLED", "filledQuantity": 4, "closeTime": "2025-08-29T17:15:19+0000",
		"orderActivityCollection": legs([2]string{"3", "10.00"}, [2]string{"1", "14.00"})})
	s, err = b.Status(ctx, id)
	if err != nil || s.State != brokers.StateFilled || !s.AvgPrice.Equal(decimal.NewFromInt(11)) || !s.FilledShares.Equal(decimal.NewFromInt(4)) {
		t.Fatalf("filled: %+v, %v", s, err)
	}
	for name, fields := range map[string]map[string]any{
		"no legs":       {"orderActivityCollection": []any{}},
		"legs short":    {"filledQuantity": 5},
		"no closeTime":  {"closeTime": ""},
		"closeTime bad": {"closeTime": "29/08/2025 17:15"},
		"zero price":    {"orderActivityCollection": legs([2]string{"4", "0"})},
	} {
		f.SetOrder(id, map[string]any{"status": "FILLED", "filledQuantity": 4, "closeTime": "2025-08-29T17:15:19+0000",
			"orderActivityCollection": legs([2]string{"3", "10.00"}, [2]string{"1", "14.00"})})
		f.SetOrder(id, fields)
		if s, err := b.Status(ctx, id); err == nil {
			t.Errorf("%s: %+v, want an error", name, s)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	want := map[string]brokers.State{
		"FILLED": brokers.StateFilled, "CANCELED": brokers.StateFailed, "REJECTED": brokers.StateFailed,
		"EXPIRED": brokers.StateFailed, "REPLACED": brokers.StateFailed,
	}
	for _, s := range []string{"AWAITING_PARENT_ORDER", "AWAITING_CONDITION", "AWAITING_STOP_CONDITION", "AWAITING_MANUAL_REVIEW",
		"ACCEPTED", "AWAITING_UR_OUT", "PENDING_ACTIVATION", "PENDING_REVIEW", "QUEUED", "WORKING", "PENDING_CANCEL",
		"PENDING_REPLACE", "NEW", "AWAITING_RELEASE_TIME", "PENDING_ACKNOWLEDGEMENT", "PENDING_RECALL"} {
		want[s] = brokers.StateSubmitted
	}
	if len(want) != len(states) {
		t.Fatalf("test covers %d statuses, the mapping has %d", len(want), len(states))
	}
	f := newFake(t)
	b := f.broker(t)
	p, _ := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
	for status, st := range want {
		fields := map[string]any{"status": status, "closeTime": "2025-08-29T17:20:00+0000", "statusDescription": "", "filledQuantity": 0, "orderActivityCollection": []any{}}
		if st == brokers.StateFilled {
			fields["filledQuantity"] = 1
			fields["orderActivityCollection"] = legs([2]string{"1", "22.7299"})
		}
		if status == "REJECTED" {
			fields["statusDescription"] = "Insufficient buying power"
		}
		f.SetOrder(p.BrokerOrderID, fields)
		s, err := b.Status(ctx, p.BrokerOrderID)
		if err != nil || s.State != st {
			t.Errorf("%s: %+v, %v; want %s", status, s, err, st)
			continue
		}
		if st == brokers.StateFailed && !strings.Contains(s.Error, "Schwab order status "+status) {
			t.Errorf("%s: error %q", status, s.Error)
		}
	}
	f.SetOrder(p.BrokerOrderID, map[string]any{"status": "REJECTED", "statusDescription": "Insufficient buying power"})
	if s, _ := b.Status(ctx, p.BrokerOrderID); s.Error != "Schwab order status REJECTED: Insufficient buying power" {
		t.Errorf("rejected reason %q", s.Error)
	}
	for _, status := range []string{"UNKNOWN", "PARTIALLY_FILLED", ""} {
		f.SetOrder(p.BrokerOrderID, map[string]any{"status": status})
		_, err := b.Status(ctx, p.BrokerOrderID)
		if !errors.Is(err, ErrUnknownStatus) || !strings.Contains(err.Error(), fmt.Sprintf("status %q", status)) {
			t.Errorf("status %q: %v", status, err)
		}
	}
}

func TestStatusNotFound(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	for _, id := range []string{"999", "../accountNumbers", ""} {
		if _, err := b.Status(ctx, id); !errors.Is(err, brokers.ErrNotFound) {
			t.Errorf("Status(%q): %v", id, err)
		}
	}
}

func TestIsOpen(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	if open, err := b.IsOpen(ctx); err != nil || !open {
		t.Fatalf("trading day: %v, %v", open, err)
	}
	f.MarketJSON = `{"equity":{"equity":{"date":"2025-08-30","marketType":"EQUITY","product":"equity","isOpen":false}}}`
	if open, err := b.IsOpen(ctx); err != nil || open {
		t.Fatalf("weekend: %v, %v", open, err)
	}
	f.MarketJSON = `{"equity":{"EQ":{"date":"2025-08-29","isOpen":false}}}`
	if open, err := b.IsOpen(ctx); err != nil || open {
		t.Fatalf("after the close: %v, %v", open, err)
	}
	for _, body := range []string{`{}`, `{"equity":{"EQ":{"date":"2025-08-29"}}}`, `{"equity":{"A":{"isOpen":true},"B":{"isOpen":true}}}`} {
		f.MarketJSON = body
		if _, err := b.IsOpen(ctx); err == nil || !strings.Contains(err.Error(), "no equity.EQ.isOpen") {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// TestMarketHours: open only inside the regular session of a trading day
// (the America/New_York offsets in the timestamps are honoured); before
// the open NextOpen is the day's start; a closed day is closed.
func TestMarketHours(t *testing.T) {
	f := newFake(t)
	b := f.broker(t)
	open := time.Date(2025, 8, 29, 13, 30, 0, 0, time.UTC) // 09:30 EDT
	for _, tc := range []struct {
		at       time.Time
		open     bool
		nextOpen time.Time
	}{
		{open.Add(-time.Second), false, open},
		{open, true, time.Time{}},
		{t0, true, time.Time{}},
		{open.Add(6*time.Hour + 30*time.Minute - time.Second), true, time.Time{}},
		{open.Add(6*time.Hour + 30*time.Minute + 0), false, time.Time{}}, // 16:00 EDT: closed, next open unknown
	} {
		f.clk.Set(tc.at)
		m, err := b.Market(ctx)
		if err != nil || m.Open != tc.open || !m.NextOpen.Equal(tc.nextOpen) || !m.At.Equal(tc.at) {
			t.Errorf("at %s: %+v, %v; want open %v next %s", tc.at, m, err, tc.open, tc.nextOpen)
		}
	}
	if n := f.Count("GET /marketdata/v1/markets/equity"); n != 5 {
		t.Fatalf("%d market hours calls on the documented path", n)
	}
	f.clk.Set(t0)
	f.MarketJSON = `{"equity":{"equity":{"date":"2025-08-30","marketType":"EQUITY","product":"equity","isOpen":false}}}`
	if m, err := b.Market(ctx); err != nil || m.Open || !m.NextOpen.IsZero() {
		t.Fatalf("weekend: %+v, %v", m, err)
	}
	f.MarketJSON = strings.Replace(marketDay, `"start":"2025-08-29T09:30:00-04:00","end":"2025-08-29T16:00:00-04:00"`, `"start":"09:30","end":"16:00"`, 1)
	if _, err := b.Market(ctx); err == nil || !strings.Contains(err.Error(), "regularMarket[0]") {
		t.Fatalf("bad session times: %v", err)
	}
}
