// Package pnl computes realized profit and loss per base symbol with the
// FIFO lot algorithm of the legacy reporter (DOMAIN.md s.5.1): fills of
// both venues feed one inventory per base symbol, a fill against the
// position closes the oldest lots first, and a fill larger than the
// position reverses it.
//
// A reverted on-chain fill (its block left the canonical chain) is booked
// as its opposite at the same price (Revert): the pair nets to no shares
// and no cash, so realized PnL is exact once the position is flat again,
// also when later fills had already closed the reverted fill's lot.
//
// The package is pure: no Kafka, no clock, no I/O. A processor keeps one
// Book per symbol in its table and calls Apply for each fill it reads from
// position.events; Apply returns the next Book and the Record to publish.
// All arithmetic is exact (shopspring/decimal), bounded by
// market.CheckAmount; a result that would need rounding is an error, never
// a silently rounded number.
package pnl

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

// Venue is where a fill happened.
type Venue string

const (
	Onchain  Venue = "onchain"
	Offchain Venue = "offchain"
)

// Valid reports whether v is one of the two venues.
func (v Venue) Valid() bool { return v == Onchain || v == Offchain }

// ParseVenue accepts "onchain" and "offchain".
func ParseVenue(s string) (Venue, error) {
	if v := Venue(s); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("%w %q: want onchain or offchain", ErrInvalidVenue, s)
}

func (v *Venue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("venue: %w", err)
	}
	p, err := ParseVenue(s)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Domain errors. Each is wrapped with the offending value.
var (
	ErrInvalidQuantity  = errors.New("invalid quantity")
	ErrInvalidPrice     = errors.New("invalid price")
	ErrInvalidVenue     = errors.New("invalid venue")
	ErrInvalidDirection = errors.New("invalid direction")
	ErrMissingTime      = errors.New("fill has no occurred_at time")
	// ErrAlreadyApplied: the fill's position sequence is not above the
	// book's LastSequence. The caller treats it as a redelivery (skip, or
	// re-emit the record it published the first time); the book is
	// returned unchanged.
	ErrAlreadyApplied = errors.New("position sequence already applied")
	// ErrInvalidBook: the book breaks an invariant (a table value that was
	// not produced by Apply).
	ErrInvalidBook = errors.New("invalid pnl book")
)

// Fill is one execution that changes the position of a symbol: an
// on-chain fill or a broker fill of a hedge. Sequence and OccurredAt come
// from the position event that carried the fill (aggregate sequence and
// event time), so replays are deterministic.
type Fill struct {
	Venue      Venue
	Direction  market.Direction
	Quantity   decimal.Decimal // shares, > 0
	Price      decimal.Decimal // USD per share, > 0
	Sequence   uint64          // position event sequence, > Book.LastSequence
	OccurredAt time.Time
	// Revert marks the fill that withdraws a reverted on-chain fill (see
	// Revert); it is booked like any other.
	Revert bool
}

// Revert is the fill that books the withdrawal of reverted, an on-chain
// fill booked earlier: the opposite side, the same quantity and price.
// Removing the reverted fill's lot instead would be wrong once a later
// fill had closed part of it: that close's realized PnL would stay, and
// the book's net would no longer be the position's.
func Revert(reverted Fill) Fill {
	f := reverted
	f.Direction, f.Revert = reverted.Direction.Opposite(), true
	return f
}

// Lot is an open slice of the position: Quantity shares (remaining, > 0)
// bought (Buy) or sold short (Sell) at Price per share.
type Lot struct {
	Direction market.Direction `json:"direction"`
	Quantity  decimal.Decimal  `json:"quantity"`
	Price     decimal.Decimal  `json:"price"`
	// Venue and OpenedAt are those of the fill that opened the lot, for
	// attribution. Lots of books written before attribution have neither
	// and count as DirectionalExposure when closed.
	Venue    Venue     `json:"venue,omitempty"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
}

// Book is the FIFO state of one base symbol; it is the pnl processor's
// table value. All lots have the same direction (a reversal closes every
// lot before it opens one in the other direction). Treat a Book as a
// value: Apply never modifies the receiver or its Lots backing array.
type Book struct {
	Symbol       market.Symbol   `json:"symbol"`
	Lots         []Lot           `json:"lots"` // oldest first
	Cumulative   decimal.Decimal `json:"cumulative_pnl"`
	LastSequence uint64          `json:"last_sequence"`
	// LastRecord is the position sequence of the last fill booked (0: none
	// yet); nil in a book older than it, whose next record cannot name its
	// predecessor.
	LastRecord *uint64 `json:"last_record,omitempty"`
}

// NewBook returns the empty book of a symbol.
func NewBook(symbol market.Symbol) Book {
	return Book{Symbol: symbol, Lots: []Lot{}, LastRecord: new(uint64)}
}

// Net is the signed position: the sum of the lots, Buy positive.
func (b Book) Net() decimal.Decimal {
	net := decimal.Zero
	for _, l := range b.Lots {
		net = net.Add(l.Direction.Signed(l.Quantity))
	}
	return net
}

// Validate checks the invariants Apply maintains: a symbol, positive
// in-range lots of a single direction, an in-range cumulative total.
func (b Book) Validate() error {
	if b.Symbol == "" {
		return fmt.Errorf("%w: %w", ErrInvalidBook, market.ErrEmptySymbol)
	}
	for i, l := range b.Lots {
		if !l.Direction.Valid() {
			return fmt.Errorf("%w: lot %d: direction %q", ErrInvalidBook, i, l.Direction)
		}
		if l.Direction != b.Lots[0].Direction {
			return fmt.Errorf("%w: lot %d is %s but lot 0 is %s", ErrInvalidBook, i, l.Direction, b.Lots[0].Direction)
		}
		// The field name is formatted only for a bad lot: Validate runs on
		// every Apply over every open lot, and the Sprintf dominated it.
		if err := positiveLot(i, "quantity", l.Quantity); err != nil {
			return err
		}
		if err := positiveLot(i, "price", l.Price); err != nil {
			return err
		}
	}
	if err := market.CheckAmount(b.Cumulative); err != nil {
		return fmt.Errorf("%w: cumulative: %w", ErrInvalidBook, err)
	}
	return nil
}

func positiveLot(i int, field string, v decimal.Decimal) error {
	if v.IsPositive() && market.CheckAmount(v) == nil {
		return nil
	}
	if err := market.PositiveAmount(fmt.Sprintf("lot %d %s", i, field), v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBook, err)
	}
	return nil
}

// Record is the P&L line of one fill, published to pnl.events and
// projected into metrics_pnl.
type Record struct {
	Symbol    market.Symbol    `json:"symbol"` // base ticker
	Venue     Venue            `json:"venue"`
	Direction market.Direction `json:"direction"`
	Quantity  decimal.Decimal  `json:"quantity"`
	Price     decimal.Decimal  `json:"price"`
	// RealizedPnL is what this fill closed. It is "0" when the fill only
	// opened or added to a position; Opened tells that case apart from a
	// close at cost (upstream wrote NULL there).
	RealizedPnL      decimal.Decimal `json:"realized_pnl"`
	Opened           bool            `json:"opened"`
	CumulativePnL    decimal.Decimal `json:"cumulative_pnl"`
	NetPositionAfter decimal.Decimal `json:"net_position_after"`
	PositionSequence uint64          `json:"position_sequence"`
	// PreviousSequence is the position sequence of the symbol's previous
	// record (0 for the first): the records' sequences skip the position's
	// other events, so this link is how a consumer notices a missing record
	// instead of skipping past it. Absent in records of older books.
	PreviousSequence *uint64   `json:"previous_sequence,omitempty"`
	OccurredAt       time.Time `json:"occurred_at"`
	// Revert: this record books the withdrawal of a reverted on-chain fill
	// (Direction is the opposite of the reverted fill's).
	Revert bool `json:"revert,omitempty"`
	// Attribution splits RealizedPnL by why it was made; nil when the fill
	// only opened (and in records older than attribution: count those as
	// DirectionalExposure).
	Attribution *Attribution `json:"attribution,omitempty"`
	// CostBasis is the open lots' signed cost after the fill: the sum of
	// quantity x price, short lots negative. Unrealized PnL at a mark is
	// NetPositionAfter x mark - CostBasis. Nil in records older than it.
	CostBasis *decimal.Decimal `json:"cost_basis,omitempty"`
}

// Bucket names why a realized amount was made (upstream's attribution,
// DOMAIN.md s.5.3).
type Bucket string

const (
	// CounterTrade: an off-chain fill (a hedge) closed a lot opened on
	// chain at most CounterTradeWindow earlier. This is the desk's edge.
	CounterTrade Bucket = "CounterTrade"
	// OnchainNetting: an on-chain fill closed a lot opened on chain.
	OnchainNetting Bucket = "OnchainNetting"
	// DirectionalExposure: everything else: a lot opened off chain (or by
	// a migration without a venue), or a hedge later than the window.
	DirectionalExposure Bucket = "DirectionalExposure"
)

// CounterTradeWindow is upstream's COUNTER_TRADE_THRESHOLD_SECONDS.
const CounterTradeWindow = 300 * time.Second

// Classify tells the bucket of closing (part of) lot with fill f.
func Classify(lot Lot, f Fill) Bucket {
	if lot.Venue != Onchain {
		return DirectionalExposure
	}
	if f.Venue == Onchain {
		return OnchainNetting
	}
	if age := f.OccurredAt.Sub(lot.OpenedAt); !lot.OpenedAt.IsZero() && age <= CounterTradeWindow {
		return CounterTrade
	}
	return DirectionalExposure
}

// Attribution is a realized amount split by Bucket; the three add up to
// the record's RealizedPnL.
type Attribution struct {
	CounterTrade        decimal.Decimal `json:"counter_trade"`
	OnchainNetting      decimal.Decimal `json:"onchain_netting"`
	DirectionalExposure decimal.Decimal `json:"directional_exposure"`
}

// Total is the sum of the buckets.
func (a Attribution) Total() decimal.Decimal {
	return a.CounterTrade.Add(a.OnchainNetting).Add(a.DirectionalExposure)
}

// add books gain into bucket b.
func (a *Attribution) add(b Bucket, gain decimal.Decimal) (err error) {
	switch b {
	case CounterTrade:
		a.CounterTrade, err = market.Add(a.CounterTrade, gain)
	case OnchainNetting:
		a.OnchainNetting, err = market.Add(a.OnchainNetting, gain)
	default:
		a.DirectionalExposure, err = market.Add(a.DirectionalExposure, gain)
	}
	return err
}

// openTotals is the net position and the open lots' signed cost (see
// Record.CostBasis), in one pass over the lots: Apply needs both for every
// fill.
// basisErr is the first lot whose cost did not fit; net is whole anyway.
func (b Book) openTotals() (net, basis decimal.Decimal, basisErr error) {
	net, basis = decimal.Zero, decimal.Zero
	for i, l := range b.Lots {
		net = net.Add(l.Direction.Signed(l.Quantity))
		if basisErr == nil {
			var err error
			if basis, err = market.Add(basis, l.Direction.Signed(l.Quantity.Mul(l.Price))); err != nil {
				basisErr = fmt.Errorf("cost basis at lot %d: %w", i, err)
			}
		}
	}
	return net, basis, basisErr
}

func checkPositive(sentinel error, v decimal.Decimal) error {
	if !v.IsPositive() {
		return fmt.Errorf("%w %s: must be positive", sentinel, v)
	}
	if err := market.CheckAmount(v); err != nil {
		return fmt.Errorf("%w %s: %w", sentinel, v, err)
	}
	return nil
}

func (f Fill) validate() error {
	if !f.Venue.Valid() {
		return fmt.Errorf("%w %q: want onchain or offchain", ErrInvalidVenue, f.Venue)
	}
	if !f.Direction.Valid() {
		return fmt.Errorf("%w %q: want Buy or Sell", ErrInvalidDirection, f.Direction)
	}
	if err := checkPositive(ErrInvalidQuantity, f.Quantity); err != nil {
		return err
	}
	if err := checkPositive(ErrInvalidPrice, f.Price); err != nil {
		return err
	}
	if f.OccurredAt.IsZero() {
		return ErrMissingTime
	}
	return nil
}

// Apply books one fill (DOMAIN.md s.5.1). With no position, or a fill in
// the direction of the position, the fill opens a lot and realizes
// nothing. Otherwise it closes the oldest lots first: a long lot realizes
// (price - cost) x consumed, a short lot (cost - price) x consumed; lots
// used up are dropped, and a remainder opens a lot in the fill's
// direction at the fill price (a reversal).
//
// Apply returns a new Book and never writes to b's Lots, so callers may
// keep b. On error b is returned unchanged with a zero Record.
func (b Book) Apply(f Fill) (Book, Record, error) {
	if err := b.Validate(); err != nil {
		return b, Record{}, err
	}
	if err := f.validate(); err != nil {
		return b, Record{}, fmt.Errorf("%s seq %d: %w", b.Symbol, f.Sequence, err)
	}
	if f.Sequence <= b.LastSequence {
		return b, Record{}, fmt.Errorf("%s seq %d (book at %d): %w", b.Symbol, f.Sequence, b.LastSequence, ErrAlreadyApplied)
	}

	next, attr, opened, err := b.match(f)
	if err != nil {
		return b, Record{}, fmt.Errorf("%s seq %d: %w", b.Symbol, f.Sequence, err)
	}
	next.Symbol = b.Symbol
	next.LastSequence = f.Sequence
	realized := attr.Total()
	if next.Cumulative, err = market.Add(b.Cumulative, realized); err != nil {
		return b, Record{}, fmt.Errorf("%s seq %d: cumulative pnl: %w", b.Symbol, f.Sequence, err)
	}
	net, basis, basisErr := next.openTotals()
	if err := market.CheckAmount(net); err != nil {
		return b, Record{}, fmt.Errorf("%s seq %d: net position: %w", b.Symbol, f.Sequence, err)
	}
	if basisErr != nil {
		return b, Record{}, fmt.Errorf("%s seq %d: %w", b.Symbol, f.Sequence, basisErr)
	}
	var attribution *Attribution
	if !opened {
		attribution = &attr
	}
	next.LastRecord = &f.Sequence
	return next, Record{
		PreviousSequence: b.LastRecord,
		Symbol:           b.Symbol,
		Venue:            f.Venue,
		Direction:        f.Direction,
		Quantity:         f.Quantity,
		Price:            f.Price,
		RealizedPnL:      realized,
		Opened:           opened,
		CumulativePnL:    next.Cumulative,
		NetPositionAfter: net,
		PositionSequence: f.Sequence,
		OccurredAt:       f.OccurredAt.UTC(),
		Revert:           f.Revert,
		Attribution:      attribution,
		CostBasis:        &basis,
	}, nil
}

// match returns the next lots (in a fresh slice) and the realized P&L,
// attributed lot by lot.
func (b Book) match(f Fill) (next Book, attr Attribution, opened bool, err error) {
	open := Lot{Direction: f.Direction, Price: f.Price, Venue: f.Venue, OpenedAt: f.OccurredAt.UTC()}
	net := b.Net()
	if net.IsZero() || (net.Sign() > 0) == (f.Direction == market.Buy) {
		lots := make([]Lot, len(b.Lots), len(b.Lots)+1)
		copy(lots, b.Lots)
		open.Quantity = f.Quantity
		return Book{Lots: append(lots, open)}, Attribution{}, true, nil
	}

	left := f.Quantity
	i := 0
	var partial *Lot
	for ; i < len(b.Lots) && left.IsPositive(); i++ {
		lot := b.Lots[i]
		used := decimal.Min(lot.Quantity, left)
		diff := f.Price.Sub(lot.Price) // long: exec - cost
		if lot.Direction == market.Sell {
			diff = diff.Neg() // short: cost - exec
		}
		gain := diff.Mul(used)
		if err := market.CheckAmount(gain); err != nil {
			return Book{}, Attribution{}, false, fmt.Errorf("realized pnl on lot %d: %w", i, err)
		}
		if err := attr.add(Classify(lot, f), gain); err != nil {
			return Book{}, Attribution{}, false, fmt.Errorf("realized pnl: %w", err)
		}
		left = left.Sub(used)
		if used.LessThan(lot.Quantity) {
			lot.Quantity = lot.Quantity.Sub(used)
			partial = &lot
		}
	}

	lots := make([]Lot, 0, len(b.Lots)-i+2)
	if partial != nil {
		lots = append(lots, *partial)
	}
	lots = append(lots, b.Lots[i:]...)
	if left.IsPositive() { // every lot closed: the rest reverses the position
		open.Quantity = left
		lots = append(lots, open)
	}
	return Book{Lots: lots}, attr, false, nil
}
