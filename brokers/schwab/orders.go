package schwab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// ErrUnknownStatus marks an order status this package does not map: the
// order's outcome is unknown and must be looked at, never guessed.
var ErrUnknownStatus = errors.New("unknown schwab order status")

// states maps every status of Schwab's order status enum. UNKNOWN (also
// in the enum) and anything not listed is an error (ErrUnknownStatus).
var states = map[string]brokers.State{
	"AWAITING_PARENT_ORDER":   brokers.StateSubmitted,
	"AWAITING_CONDITION":      brokers.StateSubmitted,
	"AWAITING_STOP_CONDITION": brokers.StateSubmitted,
	"AWAITING_MANUAL_REVIEW":  brokers.StateSubmitted,
	"ACCEPTED":                brokers.StateSubmitted,
	"AWAITING_UR_OUT":         brokers.StateSubmitted,
	"PENDING_ACTIVATION":      brokers.StateSubmitted,
	"PENDING_REVIEW":          brokers.StateSubmitted,
	"QUEUED":                  brokers.StateSubmitted,
	"WORKING":                 brokers.StateSubmitted,
	"NEW":                     brokers.StateSubmitted,
	"AWAITING_RELEASE_TIME":   brokers.StateSubmitted,
	"PENDING_ACKNOWLEDGEMENT": brokers.StateSubmitted,
	"PENDING_RECALL":          brokers.StateSubmitted,
	"PENDING_CANCEL":          brokers.StateSubmitted, // may still fill
	"PENDING_REPLACE":         brokers.StateSubmitted, // may still fill
	"FILLED":                  brokers.StateFilled,
	"CANCELED":                brokers.StateFailed,
	"REJECTED":                brokers.StateFailed,
	"EXPIRED":                 brokers.StateFailed,
	// Replaced by another order (edited by hand at Schwab): this one is
	// dead and the replacement is not ours to follow.
	"REPLACED": brokers.StateFailed,
}

// order is the part of Schwab's Order object read here.
type order struct {
	OrderID           json.Number     `json:"orderId"`
	Status            string          `json:"status"`
	OrderType         string          `json:"orderType"`
	Quantity          decimal.Decimal `json:"quantity"`
	FilledQuantity    decimal.Decimal `json:"filledQuantity"`
	RemainingQuantity decimal.Decimal `json:"remainingQuantity"`
	EnteredTime       string          `json:"enteredTime"`
	CloseTime         string          `json:"closeTime"`
	StatusDescription string          `json:"statusDescription"`
	OrderLegs         []struct {
		Instruction string          `json:"instruction"`
		Quantity    decimal.Decimal `json:"quantity"`
		Instrument  struct {
			Symbol string `json:"symbol"`
		} `json:"instrument"`
	} `json:"orderLegCollection"`
	Activities []struct {
		ActivityType  string `json:"activityType"`
		ExecutionLegs []struct {
			Quantity decimal.Decimal `json:"quantity"`
			Price    decimal.Decimal `json:"price"`
			Time     string          `json:"time"`
		} `json:"executionLegs"`
	} `json:"orderActivityCollection"`
}

// parseTime reads Schwab's "2025-08-29T17:15:17+0000" (and RFC 3339).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q is not in Schwab's format 2006-01-02T15:04:05-0700", s)
}

// status maps o to the brokers package. The average price is weighted
// over every execution leg: Σ(price·qty)/Σqty. A FILLED order must have
// execution legs totalling its filledQuantity and a closeTime.
func (o order) status(now time.Time) (brokers.OrderStatus, error) {
	st, ok := states[o.Status]
	if !ok {
		return brokers.OrderStatus{}, fmt.Errorf("order %s: status %q: %w", o.OrderID, o.Status, ErrUnknownStatus)
	}
	var qty, notional decimal.Decimal
	var last time.Time
	for _, a := range o.Activities {
		for _, l := range a.ExecutionLegs {
			if !l.Quantity.IsPositive() || !l.Price.IsPositive() {
				return brokers.OrderStatus{}, fmt.Errorf("order %s: execution leg with quantity %s at price %s", o.OrderID, l.Quantity, l.Price)
			}
			qty = qty.Add(l.Quantity)
			notional = notional.Add(l.Price.Mul(l.Quantity))
			if t, err := parseTime(l.Time); err == nil && t.After(last) {
				last = t
			}
		}
	}
	s := brokers.OrderStatus{State: st, FilledShares: o.FilledQuantity, UpdatedAt: now}
	if qty.IsPositive() {
		s.AvgPrice = notional.Div(qty)
		s.UpdatedAt = last
	}
	if !qty.Equal(o.FilledQuantity) {
		return brokers.OrderStatus{}, fmt.Errorf("order %s (%s): execution legs total %s shares, filledQuantity is %s", o.OrderID, o.Status, qty, o.FilledQuantity)
	}
	if st == brokers.StateFilled && !qty.IsPositive() {
		return brokers.OrderStatus{}, fmt.Errorf("order %s: FILLED without any execution leg: no fill price", o.OrderID)
	}
	if st.Terminal() {
		if o.CloseTime == "" {
			if st == brokers.StateFilled {
				return brokers.OrderStatus{}, fmt.Errorf("order %s: FILLED without closeTime", o.OrderID)
			}
		} else {
			t, err := parseTime(o.CloseTime)
			if err != nil {
				return brokers.OrderStatus{}, fmt.Errorf("order %s: closeTime: %w", o.OrderID, err)
			}
			s.UpdatedAt = t
		}
	}
	if st == brokers.StateFailed {
		s.Error = "Schwab order status " + o.Status
		if o.StatusDescription != "" {
			s.Error += ": " + o.StatusDescription
		}
	}
	return s, nil
}

// placeBody is the market order of DOMAIN s.8.2.
type placeBody struct {
	OrderType         string     `json:"orderType"`
	Session           string     `json:"session"`
	Duration          string     `json:"duration"`
	OrderStrategyType string     `json:"orderStrategyType"`
	OrderLegs         []placeLeg `json:"orderLegCollection"`
}

type placeLeg struct {
	Instruction string      `json:"instruction"`
	Quantity    json.Number `json:"quantity"` // a JSON number; decimal.Decimal marshals as a string
	Instrument  struct {
		Symbol    string `json:"symbol"`
		AssetType string `json:"assetType"`
	} `json:"instrument"`
}

func instruction(d market.Direction) string {
	if d == market.Buy {
		return "BUY"
	}
	return "SELL"
}

// Place submits o as a DAY market order in the regular session.
//
// Idempotency (Schwab keeps no client order id): before posting, the
// client order id is recorded in the Journal with the order and the time.
//   - a journal entry with a Schwab order id: that order is returned
//     (Existing), nothing is posted;
//   - an entry without one (an earlier post whose answer was lost, or that
//     failed): the account's orders entered since the first attempt (minus
//     ClockSkew) are searched for the same symbol, instruction and quantity
//     not yet claimed by another client order id; the earliest is adopted
//     (Existing). Only when none matches is the order posted again.
//     Identical market orders are fungible, so when several attempts lost
//     their answers each gets a distinct order, not necessarily its own.
//
// Limits: it is exactly as durable as the Journal (the in-memory one
// forgets on restart); an identical order entered by hand or by another
// program in that window is indistinguishable and may be adopted; an
// order Schwab accepted but does not list yet is posted twice.
func (b *Broker) Place(ctx context.Context, o brokers.Order) (brokers.Placement, error) {
	if err := o.Validate(); err != nil {
		return brokers.Placement{}, fmt.Errorf("schwab place %s: %w: %w", o.ClientOrderID, brokers.ErrRejected, err)
	}
	if !o.Shares.IsInteger() {
		return brokers.Placement{}, fmt.Errorf("schwab place %s: %s shares is not a whole number (Schwab takes whole shares): %w", o.ClientOrderID, o.Shares, brokers.ErrRejected)
	}
	b.placeMu.Lock()
	defer b.placeMu.Unlock()
	name := "schwab place " + o.ClientOrderID
	e, ok, err := b.cfg.Journal.Get(o.ClientOrderID)
	if err != nil {
		return brokers.Placement{}, fmt.Errorf("%s: journal: %w", name, err)
	}
	want := Entry{ClientOrderID: o.ClientOrderID, Symbol: string(o.Symbol), Instruction: instruction(o.Direction), Quantity: o.Shares, AttemptedAt: b.cfg.Now()}
	if ok {
		if e.Symbol != want.Symbol || e.Instruction != want.Instruction || !e.Quantity.Equal(want.Quantity) {
			return brokers.Placement{}, fmt.Errorf("%s: already used for %s %s %s, now %s %s %s: %w", name, e.Instruction, e.Quantity, e.Symbol, want.Instruction, want.Quantity, want.Symbol, brokers.ErrRejected)
		}
		if e.BrokerOrderID != "" {
			return brokers.Placement{BrokerOrderID: e.BrokerOrderID, AcceptedAt: e.AcceptedAt, Existing: true}, nil
		}
		if e.Rejected != "" {
			return brokers.Placement{}, fmt.Errorf("%s: rejected earlier: %s: %w", name, e.Rejected, brokers.ErrRejected)
		}
		found, err := b.search(ctx, e)
		if err != nil {
			return brokers.Placement{}, fmt.Errorf("%s: look for the earlier attempt: %w", name, err)
		}
		if found != nil {
			b.log.Info("schwab order of an earlier attempt found in the account's orders", "client_order_id", o.ClientOrderID, "order_id", found.BrokerOrderID)
			return brokers.Placement{BrokerOrderID: found.BrokerOrderID, AcceptedAt: found.AcceptedAt, Existing: true}, nil
		}
	} else {
		e = want
		if err := b.cfg.Journal.Put(e); err != nil {
			return brokers.Placement{}, fmt.Errorf("%s: journal: %w", name, err)
		}
	}
	hash, err := b.account(ctx)
	if err != nil {
		return brokers.Placement{}, fmt.Errorf("%s: %w", name, err)
	}
	leg := placeLeg{Instruction: e.Instruction, Quantity: json.Number(o.Shares.String())}
	leg.Instrument.Symbol, leg.Instrument.AssetType = string(o.Symbol), "EQUITY"
	body := placeBody{OrderType: "MARKET", Session: "NORMAL", Duration: "DAY", OrderStrategyType: "SINGLE", OrderLegs: []placeLeg{leg}}
	r, err := b.do(ctx, http.MethodPost, "/trader/v1/accounts/"+url.PathEscape(hash)+"/orders", name, body)
	if err != nil {
		return brokers.Placement{}, err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		err := r.fail(name)
		if errors.Is(err, brokers.ErrRejected) {
			e.Rejected = fmt.Sprintf("HTTP %d %s", r.status, r.errText())
			if jerr := b.cfg.Journal.Put(e); jerr != nil {
				return brokers.Placement{}, fmt.Errorf("%w (journal: %v)", err, jerr)
			}
		}
		return brokers.Placement{}, err
	}
	id, err := orderIDFromLocation(r.header.Get("Location"), hash)
	if err != nil {
		// Accepted, but we cannot tell which order it is: transient, so
		// the retry searches the orders list for it.
		return brokers.Placement{}, fmt.Errorf("%s: HTTP %d: %w", name, r.status, &TransientError{Err: err})
	}
	e.BrokerOrderID, e.AcceptedAt = id, b.cfg.Now()
	if err := b.cfg.Journal.Put(e); err != nil {
		return brokers.Placement{}, fmt.Errorf("%s: order %s placed, journal: %w", name, id, err)
	}
	return brokers.Placement{BrokerOrderID: id, AcceptedAt: e.AcceptedAt}, nil
}

// orderIDFromLocation takes the order id from
// /trader/v1/accounts/{hash}/orders/{orderId} (absolute or relative).
func orderIDFromLocation(loc, hash string) (string, error) {
	if loc == "" {
		return "", errors.New("order accepted without a Location header: order id unknown")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", errors.New("the Location header does not parse as a URL")
	}
	parts := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	n := len(parts)
	if n < 3 || parts[n-2] != "orders" || parts[n-3] != hash || !isOrderID(parts[n-1]) {
		return "", errors.New("the Location header is not .../accounts/{account}/orders/{numeric order id}")
	}
	return parts[n-1], nil
}

func isOrderID(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Status reads GET /trader/v1/accounts/{hash}/orders/{orderId}.
func (b *Broker) Status(ctx context.Context, brokerOrderID string) (brokers.OrderStatus, error) {
	o, err := b.get(ctx, brokerOrderID)
	if err != nil {
		return brokers.OrderStatus{}, err
	}
	s, err := o.status(b.cfg.Now())
	if err != nil {
		return brokers.OrderStatus{}, fmt.Errorf("schwab order status: %w", err)
	}
	return s, nil
}

func (b *Broker) get(ctx context.Context, id string) (order, error) {
	name := "schwab order status " + id
	if !isOrderID(id) {
		return order{}, fmt.Errorf("%s: not a Schwab order id (digits): %w", name, brokers.ErrNotFound)
	}
	hash, err := b.account(ctx)
	if err != nil {
		return order{}, fmt.Errorf("%s: %w", name, err)
	}
	r, err := b.do(ctx, http.MethodGet, "/trader/v1/accounts/"+url.PathEscape(hash)+"/orders/"+id, name, nil)
	if err != nil {
		return order{}, err
	}
	if r.status != http.StatusOK {
		return order{}, r.fail(name)
	}
	var o order
	if err := json.Unmarshal(r.body, &o); err != nil {
		return order{}, fmt.Errorf("%s: decode: %w", name, err)
	}
	return o, nil
}

// Find looks clientOrderID up in the journal, and for an attempt whose
// answer was lost, in the account's orders (as Place does).
func (b *Broker) Find(ctx context.Context, clientOrderID string) (brokers.KnownOrder, error) {
	name := "schwab find " + clientOrderID
	b.placeMu.Lock()
	e, ok, err := b.cfg.Journal.Get(clientOrderID)
	if err == nil && ok && e.BrokerOrderID == "" && e.Rejected == "" {
		var found *Entry
		if found, err = b.search(ctx, e); found != nil {
			e = *found
		}
	}
	b.placeMu.Unlock()
	if err != nil {
		return brokers.KnownOrder{}, fmt.Errorf("%s: %w", name, err)
	}
	if !ok || e.BrokerOrderID == "" {
		return brokers.KnownOrder{}, fmt.Errorf("%s: %w", name, brokers.ErrNotFound)
	}
	s, err := b.Status(ctx, e.BrokerOrderID)
	if err != nil {
		return brokers.KnownOrder{}, fmt.Errorf("%s: %w", name, err)
	}
	return brokers.KnownOrder{BrokerOrderID: e.BrokerOrderID, AcceptedAt: e.AcceptedAt, Status: s}, nil
}

// listTime is the fromEnteredTime/toEnteredTime format.
const listTime = "2006-01-02T15:04:05.000Z"

// search looks for e's order among the account's orders entered since its
// first attempt; the earliest unclaimed match is recorded in the journal
// and returned, nil if none. The caller holds placeMu.
func (b *Broker) search(ctx context.Context, e Entry) (*Entry, error) {
	const name = "schwab order list"
	hash, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	now := b.cfg.Now()
	q := url.Values{
		"fromEnteredTime": {e.AttemptedAt.Add(-b.cfg.ClockSkew).UTC().Format(listTime)},
		"toEnteredTime":   {now.Add(b.cfg.ClockSkew).UTC().Format(listTime)},
		"maxResults":      {"3000"},
	}
	r, err := b.do(ctx, http.MethodGet, "/trader/v1/accounts/"+url.PathEscape(hash)+"/orders?"+q.Encode(), name, nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, r.fail(name)
	}
	var list []order
	if err := json.Unmarshal(r.body, &list); err != nil {
		return nil, fmt.Errorf("%s: decode: %w", name, err)
	}
	var best *Entry
	var bestAt time.Time
	for _, o := range list {
		if o.OrderType != "MARKET" || len(o.OrderLegs) != 1 {
			continue
		}
		l := o.OrderLegs[0]
		if l.Instrument.Symbol != e.Symbol || l.Instruction != e.Instruction || !l.Quantity.Equal(e.Quantity) {
			continue
		}
		at, err := parseTime(o.EnteredTime)
		if err != nil || at.Before(e.AttemptedAt.Add(-b.cfg.ClockSkew)) {
			continue
		}
		id := o.OrderID.String()
		if _, claimed, err := b.cfg.Journal.ClaimedBy(id); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		} else if claimed {
			continue
		}
		if best == nil || at.Before(bestAt) {
			c := e
			c.BrokerOrderID, c.AcceptedAt = id, at
			best, bestAt = &c, at
		}
	}
	if best != nil {
		if err := b.cfg.Journal.Put(*best); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	return best, nil
}

// marketHours is the answer of GET /marketdata/v1/markets/equity.
type marketHours struct {
	Equity map[string]struct {
		Date         string `json:"date"`
		IsOpen       *bool  `json:"isOpen"`
		SessionHours struct {
			RegularMarket []struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"regularMarket"`
		} `json:"sessionHours"`
	} `json:"equity"`
}

// Market reads GET /marketdata/v1/markets/equity (DOMAIN s.8.2): the
// market is open when the day is a trading day (isOpen) and now falls in
// one of its sessionHours.regularMarket [start, end) windows (timestamps
// carry their America/New_York offset). NextOpen is the next regular
// start of the day when there is one, else zero (the caller asks again).
func (b *Broker) Market(ctx context.Context) (brokers.MarketState, error) {
	const name = "schwab market hours"
	r, err := b.do(ctx, http.MethodGet, "/marketdata/v1/markets/equity", name, nil)
	if err != nil {
		return brokers.MarketState{}, err
	}
	if r.status != http.StatusOK {
		return brokers.MarketState{}, r.fail(name)
	}
	var resp marketHours
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return brokers.MarketState{}, fmt.Errorf("%s: decode: %w", name, err)
	}
	// The product is "EQ" on a trading day; on a closed day Schwab answers
	// with a single entry keyed "equity".
	m, ok := resp.Equity["EQ"]
	if !ok && len(resp.Equity) == 1 {
		for _, v := range resp.Equity {
			m, ok = v, true
		}
	}
	if !ok || m.IsOpen == nil {
		return brokers.MarketState{}, fmt.Errorf("%s: response has no equity.EQ.isOpen", name)
	}
	now := b.cfg.Now()
	st := brokers.MarketState{At: now}
	if !*m.IsOpen {
		return st, nil
	}
	for i, w := range m.SessionHours.RegularMarket {
		start, err1 := time.Parse(time.RFC3339, w.Start)
		end, err2 := time.Parse(time.RFC3339, w.End)
		if err := errors.Join(err1, err2); err != nil || !end.After(start) {
			return brokers.MarketState{}, fmt.Errorf("%s: regularMarket[%d] of %s: start %q, end %q: want RFC 3339 times, start before end", name, i, m.Date, w.Start, w.End)
		}
		switch {
		case !now.Before(start) && now.Before(end):
			st.Open = true
		case now.Before(start) && (st.NextOpen.IsZero() || start.Before(st.NextOpen)):
			st.NextOpen = start
		}
	}
	if st.Open {
		st.NextOpen = time.Time{}
	}
	return st, nil
}

// IsOpen reports whether the regular equity session is open now.
func (b *Broker) IsOpen(ctx context.Context) (bool, error) {
	m, err := b.Market(ctx)
	return m.Open, err
}
