// Package brokers defines how the order manager talks to a stock broker
// that executes hedges: place a market order under an idempotency key (the
// client order id, which is the execution id) while the broker's market is
// open, then learn its outcome, pushed (Streamer) or polled (Status). After
// a restart or rebalance, an order whose placement outcome is unknown is
// found by its client order id. Implementations live in subpackages: dryrun
// (a simulated broker with a durable ledger), alpaca and schwab.
//
// Error contract for every implementation:
//   - an error wrapping ErrRejected is permanent: the order can never
//     succeed as sent (invalid, refused by the broker) and must be failed,
//     not retried;
//   - ErrNotFound from Status or Find means the broker does not know the
//     order;
//   - any other error is transient (network, 5xx, rate limit, timeout): the
//     caller retries with backoff. Retrying Place is always safe because
//     Place is idempotent by ClientOrderID.
package brokers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// MaxClientOrderIDLen is the longest client order id accepted (Alpaca's
// limit; an execution id is a 36-character UUID).
const MaxClientOrderIDLen = 128

var (
	// ErrRejected marks a permanent failure: the order must be failed, not
	// retried.
	ErrRejected = errors.New("order rejected")
	// ErrNotFound means the broker does not know the order.
	ErrNotFound = errors.New("order not found")
)

// Order is a market order to hedge an exposure.
type Order struct {
	// ClientOrderID is the execution id: the idempotency key. Placing the
	// same id twice never creates a second order.
	ClientOrderID string
	Symbol        market.Symbol
	Shares        decimal.Decimal
	Direction     market.Direction
	// ReferencePrice is the last on-chain price of the symbol, if known.
	ReferencePrice *decimal.Decimal
	// PlacedAt is the time of the event that placed the order (zero if
	// unknown). A real broker ignores it; a simulated one may run on it
	// when history is replayed (dryrun.Clock).
	PlacedAt time.Time
}

// Validate reports every problem with o, joined. Brokers reject an invalid
// order with an error wrapping both ErrRejected and this error.
func (o Order) Validate() error {
	var errs []error
	switch {
	case o.ClientOrderID == "":
		errs = append(errs, errors.New("client order id is empty"))
	case len(o.ClientOrderID) > MaxClientOrderIDLen:
		errs = append(errs, fmt.Errorf("client order id longer than %d bytes", MaxClientOrderIDLen))
	}
	if _, err := market.NewSymbol(string(o.Symbol)); err != nil {
		errs = append(errs, err)
	}
	if err := market.PositiveAmount("shares", o.Shares); err != nil {
		errs = append(errs, err)
	}
	if !o.Direction.Valid() {
		errs = append(errs, fmt.Errorf("invalid direction %q: want Buy or Sell", o.Direction))
	}
	if o.ReferencePrice != nil {
		if err := market.PositiveAmount("reference price", *o.ReferencePrice); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Placement is a broker's answer to Place.
type Placement struct {
	BrokerOrderID string
	AcceptedAt    time.Time
	// Existing is true when the client order id was already known and the
	// first order's placement is returned instead of placing a new one.
	Existing bool
}

// State is where an order stands at the broker.
type State string

const (
	StateSubmitted State = "submitted" // accepted, not (fully) filled yet
	StateFilled    State = "filled"
	StateFailed    State = "failed" // canceled, rejected or expired
)

// Terminal reports whether the order will not change any more.
func (s State) Terminal() bool { return s == StateFilled || s == StateFailed }

// OrderStatus is a snapshot of an order at the broker.
type OrderStatus struct {
	State        State
	FilledShares decimal.Decimal
	AvgPrice     decimal.Decimal // zero until something filled
	Error        string          // why it failed, for StateFailed
	UpdatedAt    time.Time
}

// KnownOrder is an order the broker found by its client order id.
type KnownOrder struct {
	BrokerOrderID string
	AcceptedAt    time.Time
	Status        OrderStatus
}

// Broker executes hedge orders. Implementations are safe for concurrent
// use.
type Broker interface {
	Kind() market.Broker
	// Fractional reports whether the broker accepts non-whole share
	// quantities.
	Fractional() bool
	// Place submits o, idempotently by o.ClientOrderID: when the id is
	// already known it returns the first order's placement with
	// Existing=true.
	Place(ctx context.Context, o Order) (Placement, error)
	// Status returns the current state of an order placed earlier.
	Status(ctx context.Context, brokerOrderID string) (OrderStatus, error)
	// Find looks an order up by its client order id (ErrNotFound when the
	// broker never accepted it), so an order placed by an instance that
	// died before recording the answer is confirmed, not placed again.
	Find(ctx context.Context, clientOrderID string) (KnownOrder, error)
	// Market says whether the broker's equity market is open now. Orders
	// are placed only while it is; fills keep accumulating meanwhile.
	Market(ctx context.Context) (MarketState, error)
}

// MarketState is the broker's market session as of At.
type MarketState struct {
	Open bool
	// NextOpen is when a closed market opens next; zero when the broker
	// does not say (the caller asks again after a while).
	NextOpen time.Time
	At       time.Time
}

// Update is an order event pushed by a broker.
type Update struct {
	ClientOrderID string
	BrokerOrderID string
	// Status is the order after the event. A non-terminal status
	// (accepted, partially filled) needs nothing from the order manager.
	Status OrderStatus
	// Err is set when the event cannot be mapped (an unknown status, a
	// fill without a price): the order is failed visibly with it.
	Err error
}

// Streamer is a broker that pushes order updates, so a hedge is known
// filled the moment it fills instead of at the next poll.
type Streamer interface {
	// Updates sends order events to out until ctx ends, reconnecting after
	// a drop. listening(true) is called each time the stream is (again)
	// listening, listening(false) each time it drops: events of the gap
	// are not replayed, so the caller polls while it is down and
	// reconciles every open order once it is back. It returns ctx's error,
	// or an error when the stream can never work (refused credentials).
	Updates(ctx context.Context, out chan<- Update, listening func(bool)) error
}

// Sleep waits d or until ctx ends (its error then): the brokers' waits for
// a retry, a refresh or the market open.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
