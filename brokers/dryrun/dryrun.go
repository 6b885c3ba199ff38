// Package dryrun is a simulated stock broker for `--broker dry-run`, demos
// and tests. It executes nothing, but it behaves like a real broker where
// the pipeline depends on it: orders are idempotent by client order id,
// survive a restart, fill after a delay at a known price, and a chosen
// share of them is rejected.
//
// Every accepted order is one line of a JSONL ledger file, fsynced before
// Place returns, so a crash can never lose an acknowledged order nor let a
// retry place it twice. Several processes (`hedgeline run` instances) may
// share one ledger, as they would share a real broker: every call takes the
// file lock (exclusive for Place's check-then-append, shared for reads) and
// first indexes the lines other processes appended since it last read, so a
// client order id is accepted once whichever process places it, and any
// process answers Status and Find for it. A torn last line (a process killed
// mid-append) is cut off under the exclusive lock; any other unreadable line
// is an error naming its line number.
//
// Time: an order is stamped with the wall clock in a live run, and with the
// time of the event that placed it when history is replayed (Clock), so a
// backtest's hedges fill at their event time plus the fill delay, never
// before they were placed. With ClockEvent replaying the same fills always
// gives the same fill times; ClockAuto (the default) decides per order from
// the event's age (market.HistoricalAfter), so it gives the same times for
// history replayed while it stays over a day old, and wall-clock times for
// a live run. The ledger keeps the first stamp: a retried Place, a restart
// or another instance answers with it. Log lines name the clock used.
//
// Compared with upstream's MockBroker (DOMAIN.md s.8.4), which filled every
// order at $100 with ids TEST_1, TEST_2, ...: the price comes from the
// order's reference price or a fixed price (FixedPrice(100) reproduces
// upstream), ids are derived from the client order id, and fills can be
// delayed.
package dryrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// ErrClosed is returned by calls on a closed Broker.
var ErrClosed = errors.New("dry-run broker closed")

// Price says at which price orders fill.
type Price struct {
	fixed *decimal.Decimal
}

// PriceLast fills at the order's ReferencePrice (the last on-chain price);
// an order without one is rejected. It is the zero Price.
var PriceLast = Price{}

// FixedPrice fills every order at p.
func FixedPrice(p decimal.Decimal) Price { return Price{fixed: &p} }

// Fixed returns the fixed price, if this is one.
func (p Price) Fixed() (decimal.Decimal, bool) {
	if p.fixed == nil {
		return decimal.Decimal{}, false
	}
	return *p.fixed, true
}

func (p Price) String() string {
	if p.fixed == nil {
		return "last"
	}
	return p.fixed.String()
}

// Clock says which time an accepted order is stamped with, and so when it
// fills (that time plus the fill delay).
type Clock string

const (
	// ClockAuto runs on the event clock for an order placed by a
	// historical event (market.Historical: over a day old, i.e. history
	// being replayed) and on the wall clock otherwise. It is the default.
	ClockAuto Clock = "auto"
	// ClockEvent stamps an order with the time of the event that placed it
	// (brokers.Order.PlacedAt), so replaying the same fills gives the same
	// fill times as running them live; an order without that time falls
	// back to the wall clock.
	ClockEvent Clock = "event"
	// ClockWall stamps an order with the time it reached the broker.
	ClockWall Clock = "wall"
)

// ParseClock reads auto, event or wall ("" is auto).
func ParseClock(s string) (Clock, error) {
	switch c := Clock(s); c {
	case "":
		return ClockAuto, nil
	case ClockAuto, ClockEvent, ClockWall:
		return c, nil
	}
	return "", fmt.Errorf("clock %q: want auto, event or wall", s)
}

// acceptedAt is the time an order reaching the broker at now is stamped
// with under clock c.
func (c Clock) acceptedAt(o brokers.Order, now time.Time) (time.Time, Clock) {
	if o.PlacedAt.IsZero() {
		return now, ClockWall
	}
	switch c {
	case ClockEvent:
		return o.PlacedAt.UTC(), ClockEvent
	case ClockWall:
		return now, ClockWall
	}
	if market.Historical(o.PlacedAt, now) {
		return o.PlacedAt.UTC(), ClockEvent
	}
	return now, ClockWall
}

// Config describes a dry-run broker.
type Config struct {
	// Ledger is the JSONL file of accepted orders (created if missing).
	// Empty keeps orders in memory only, so idempotency does not survive a
	// restart: for unit tests, never for a pipeline.
	Ledger string
	// Price is the fill price source: PriceLast (default) or FixedPrice.
	Price Price
	// FillDelay is how long an accepted order stays submitted before it
	// reports filled (0: filled at once).
	FillDelay time.Duration
	// FailureRate in [0,1] is the share of orders rejected at Place. The
	// fate of an order is a hash of its client order id, so it is the same
	// on every attempt, restart and instance.
	FailureRate float64
	// Clock picks the time orders are stamped with (default ClockAuto).
	// An order's status follows the wall clock either way: it is filled
	// once the wall clock is past its stamped time plus FillDelay, which a
	// replayed order's is already.
	Clock Clock
	// Fractional accepts non-whole share quantities. Default false: whole
	// shares only, like upstream's dry-run.
	Fractional bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger logs accepted orders and ledger repairs (default
	// slog.Default()).
	Logger *slog.Logger
}

// Validate reports every problem in c, joined.
func (c Config) Validate() error {
	var errs []error
	if math.IsNaN(c.FailureRate) || c.FailureRate < 0 || c.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("failure rate must be in [0,1], got %v", c.FailureRate))
	}
	if c.FillDelay < 0 {
		errs = append(errs, fmt.Errorf("fill delay must be >= 0, got %s", c.FillDelay))
	}
	if _, err := ParseClock(string(c.Clock)); err != nil {
		errs = append(errs, err)
	}
	if p, ok := c.Price.Fixed(); ok {
		if err := market.PositiveAmount("fixed price", p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Broker is the dry-run broker. It is safe for concurrent use, and several
// processes may share one ledger file.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	path string

	mu       sync.Mutex
	f        *os.File // nil without a ledger file
	read     int64    // bytes of complete lines indexed so far
	broken   error    // set when the ledger file is in an unknown state
	closed   bool
	entries  []LedgerEntry  // line n of the ledger is entries[n-1]
	byClient map[string]int // client order id -> index in entries
	byBroker map[string]int // broker order id -> index in entries

	// The push path (Updates): fills of orders this process accepted are
	// sent here when they happen, while a listener is attached.
	pushes    chan brokers.Update
	listeners atomic.Int32
}

// pushBuffer is how many pushed updates wait for the listener before the
// newest are dropped (the order manager's poll then finds those fills).
const pushBuffer = 4096

var _ brokers.Broker = (*Broker)(nil)

// Open validates cfg, opens (or creates) the ledger, repairs a torn last
// line and indexes the orders it holds.
func Open(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dry-run broker: invalid config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == "" {
		cfg.Clock = ClockAuto
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{
		cfg:      cfg,
		log:      log.With("component", "dryrun"),
		path:     cfg.Ledger,
		byClient: map[string]int{},
		byBroker: map[string]int{},
		pushes:   make(chan brokers.Update, pushBuffer),
	}
	if cfg.Ledger == "" {
		return b, nil
	}
	if err := b.openLedger(); err != nil {
		return nil, fmt.Errorf("dry-run broker: %w", err)
	}
	return b, nil
}

func (b *Broker) openLedger() error {
	_, statErr := os.Stat(b.path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(b.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(filepath.Dir(b.path)); err != nil {
			f.Close()
			return fmt.Errorf("ledger %s: sync dir: %w", b.path, err)
		}
	}
	b.f = f
	// Read (and repair) it now, so a corrupt ledger fails Open rather than
	// the first order.
	if err := b.withLedger(true, func() error { return nil }); err != nil {
		f.Close()
		return err
	}
	return nil
}

// withLedger runs fn under the ledger lock (exclusive to append, shared to
// read), once the lines other processes appended since the last call are
// indexed, so fn answers from the whole ledger. Callers hold b.mu.
func (b *Broker) withLedger(exclusive bool, fn func() error) (err error) {
	if b.f == nil {
		return fn()
	}
	if err := lockFile(b.f, exclusive); err != nil {
		return fmt.Errorf("ledger %s: lock: %w", b.path, err)
	}
	defer func() {
		if uerr := unlockFile(b.f); uerr != nil {
			err = errors.Join(err, fmt.Errorf("ledger %s: unlock: %w", b.path, uerr))
		}
	}()
	if err := b.catchUp(exclusive); err != nil {
		return err
	}
	return fn()
}

// catchUp indexes the complete lines appended since this process last read
// the ledger. A last line without its newline is an append cut short by a
// crash: appends hold the exclusive lock, so nobody can still be writing
// it. Under the exclusive lock it is cut off (the next append would follow
// it otherwise); under the shared one it is left to the next writer.
// Callers hold b.mu and the lock.
func (b *Broker) catchUp(exclusive bool) error {
	fi, err := b.f.Stat()
	if err != nil {
		return fmt.Errorf("ledger %s: stat: %w", b.path, err)
	}
	size := fi.Size()
	if size < b.read {
		return fmt.Errorf("ledger %s: shrank from %d to %d bytes: changed outside the dry-run broker", b.path, b.read, size)
	}
	if size == b.read {
		return nil
	}
	data := make([]byte, size-b.read)
	if _, err := b.f.ReadAt(data, b.read); err != nil {
		return fmt.Errorf("ledger %s: read: %w", b.path, err)
	}
	complete, err := parseLedger(b.path, data, len(b.entries), b.index)
	b.read += int64(complete)
	if err != nil || complete == len(data) || !exclusive {
		return err
	}
	if err := b.f.Truncate(b.read); err != nil {
		return fmt.Errorf("ledger %s: truncate torn last line: %w", b.path, err)
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: sync: %w", b.path, err)
	}
	b.log.Warn("truncated torn last line of ledger (crash mid-write)",
		"ledger", b.path, "line", len(b.entries)+1, "bytes", len(data)-complete)
	return nil
}

// index adds the next ledger line. Callers hold b.mu.
func (b *Broker) index(e LedgerEntry) error {
	if j, dup := b.byClient[e.ClientOrderID]; dup {
		return fmt.Errorf("client order id %q already on line %d", e.ClientOrderID, j+1)
	}
	if j, dup := b.byBroker[e.BrokerOrderID]; dup {
		return fmt.Errorf("broker order id %q already on line %d", e.BrokerOrderID, j+1)
	}
	b.entries = append(b.entries, e)
	b.byClient[e.ClientOrderID] = len(b.entries) - 1
	b.byBroker[e.BrokerOrderID] = len(b.entries) - 1
	return nil
}

// BrokerOrderID is the dry-run order id of a client order id: "DRY-" and
// the first 16 hex digits of its SHA-256, so it is the same after a restart
// or on another instance.
func BrokerOrderID(clientOrderID string) string {
	sum := sha256.Sum256([]byte(clientOrderID))
	return "DRY-" + hex.EncodeToString(sum[:8])
}

// fate maps a client order id to a uniform number in [0,1): FNV-64a, mixed
// with murmur3's 64-bit finalizer, top 53 bits. The finalizer matters: raw
// FNV-1a barely moves its high bits when only the last bytes of the input
// differ (exec-001, exec-002, ... all got the same fate without it).
func fate(clientOrderID string) float64 {
	h := fnv.New64a()
	h.Write([]byte(clientOrderID))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return float64(x>>11) / (1 << 53)
}

func (b *Broker) Kind() market.Broker { return market.DryRun }

func (b *Broker) Fractional() bool { return b.cfg.Fractional }

// Place accepts o, or rejects it with an error wrapping brokers.ErrRejected
// (invalid order, non-whole shares when not fractional, no price, simulated
// failure, or a known client order id reused for a different order). An
// accepted order is on disk before Place returns. A client order id already
// in the ledger, placed by any process, returns the first placement with
// Existing=true and writes nothing.
func (b *Broker) Place(ctx context.Context, o brokers.Order) (brokers.Placement, error) {
	if err := ctx.Err(); err != nil {
		return brokers.Placement{}, err
	}
	if err := o.Validate(); err != nil {
		return brokers.Placement{}, fmt.Errorf("%w: %w", brokers.ErrRejected, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return brokers.Placement{}, ErrClosed
	}
	var pl brokers.Placement
	// Exclusive: no other process may append between the check for a known
	// id and the append.
	err := b.withLedger(true, func() (err error) {
		pl, err = b.place(o)
		return err
	})
	return pl, err
}

// place is Place once the ledger is locked and read. Callers hold b.mu.
func (b *Broker) place(o brokers.Order) (brokers.Placement, error) {
	if i, ok := b.byClient[o.ClientOrderID]; ok {
		e := b.entries[i]
		if e.Symbol != o.Symbol || e.Side != o.Direction || !e.Quantity.Equal(o.Shares) {
			return brokers.Placement{}, fmt.Errorf("%w: client order id %q was already used for %s %s %s, not %s %s %s",
				brokers.ErrRejected, o.ClientOrderID, e.Side, e.Quantity, e.Symbol, o.Direction, o.Shares, o.Symbol)
		}
		return brokers.Placement{BrokerOrderID: e.BrokerOrderID, AcceptedAt: e.AcceptedAt, Existing: true}, nil
	}
	if b.broken != nil {
		return brokers.Placement{}, b.broken
	}

	if !b.cfg.Fractional && !o.Shares.Equal(o.Shares.Truncate(0)) {
		return brokers.Placement{}, fmt.Errorf("%w: %s shares of %s: dry-run broker takes whole shares only", brokers.ErrRejected, o.Shares, o.Symbol)
	}
	price, ok := b.cfg.Price.Fixed()
	if !ok {
		if o.ReferencePrice == nil {
			return brokers.Placement{}, fmt.Errorf("%w: no reference price for %s", brokers.ErrRejected, o.Symbol)
		}
		price = *o.ReferencePrice
	}
	if u := fate(o.ClientOrderID); u < b.cfg.FailureRate {
		return brokers.Placement{}, fmt.Errorf("%w: simulated dry-run failure (failure rate %v)", brokers.ErrRejected, b.cfg.FailureRate)
	}
	id := BrokerOrderID(o.ClientOrderID)
	if i, dup := b.byBroker[id]; dup { // a SHA-256 prefix collision: never in practice
		return brokers.Placement{}, fmt.Errorf("%w: broker order id %s of %q collides with client order id %q",
			brokers.ErrRejected, id, o.ClientOrderID, b.entries[i].ClientOrderID)
	}

	at, clock := b.cfg.Clock.acceptedAt(o, b.cfg.Now().UTC())
	e := LedgerEntry{
		ClientOrderID: o.ClientOrderID,
		BrokerOrderID: id,
		Symbol:        o.Symbol,
		Side:          o.Direction,
		Quantity:      o.Shares,
		Price:         price,
		AcceptedAt:    at,
	}
	if err := b.append(e); err != nil {
		return brokers.Placement{}, err
	}
	if err := b.index(e); err != nil { // checked above: cannot happen
		return brokers.Placement{}, fmt.Errorf("index accepted order: %w", err)
	}
	b.schedulePush(e)
	b.log.Info("dry-run order accepted (would execute)", "client_order_id", e.ClientOrderID,
		"broker_order_id", e.BrokerOrderID, "symbol", e.Symbol, "side", e.Side,
		"quantity", e.Quantity.String(), "price", e.Price.String(), "accepted_at", e.AcceptedAt, "clock", clock)
	return brokers.Placement{BrokerOrderID: id, AcceptedAt: e.AcceptedAt}, nil
}

// append writes e as one line and fsyncs it. On failure it cuts the file
// back to its last complete line, so a later append cannot follow a partial
// one; if even that fails the ledger is marked broken and every later Place
// of this process fails (another process's next Place cuts a partial line
// under its exclusive lock). Callers hold b.mu and the exclusive lock.
func (b *Broker) append(e LedgerEntry) error {
	if b.f == nil {
		return nil
	}
	line, err := e.marshal()
	if err != nil {
		return fmt.Errorf("encode ledger line: %w", err)
	}
	_, err = b.f.Write(line)
	if err == nil {
		err = b.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("ledger %s: append: %w", b.path, err)
		if terr := b.f.Truncate(b.read); terr != nil {
			b.broken = fmt.Errorf("%w; then truncate: %w (restart to repair)", err, terr)
			return b.broken
		}
		return err
	}
	b.read += int64(len(line))
	return nil
}

// lookup finds an order in the ledger under the shared lock, so an order
// placed by another process is found too.
func (b *Broker) lookup(ctx context.Context, index map[string]int, id string) (LedgerEntry, error) {
	if err := ctx.Err(); err != nil {
		return LedgerEntry{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return LedgerEntry{}, ErrClosed
	}
	var e LedgerEntry
	err := b.withLedger(false, func() error {
		i, ok := index[id]
		if !ok {
			return fmt.Errorf("%w: dry-run order %q", brokers.ErrNotFound, id)
		}
		e = b.entries[i]
		return nil
	})
	return e, err
}

// Status reports an order placed earlier: submitted until the wall clock is
// past its stamped time plus the fill delay, then filled in full at the
// ledger price, at that time. An order stamped with a historical event's
// time is thus filled when first asked, at its event time plus the delay.
// An unknown id is brokers.ErrNotFound.
func (b *Broker) Status(ctx context.Context, brokerOrderID string) (brokers.OrderStatus, error) {
	e, err := b.lookup(ctx, b.byBroker, brokerOrderID)
	if err != nil {
		return brokers.OrderStatus{}, err
	}
	return b.status(e), nil
}

// Find reports the order placed under clientOrderID by any process sharing
// the ledger; an unknown id is brokers.ErrNotFound.
func (b *Broker) Find(ctx context.Context, clientOrderID string) (brokers.KnownOrder, error) {
	e, err := b.lookup(ctx, b.byClient, clientOrderID)
	if err != nil {
		return brokers.KnownOrder{}, err
	}
	return brokers.KnownOrder{BrokerOrderID: e.BrokerOrderID, AcceptedAt: e.AcceptedAt, Status: b.status(e)}, nil
}

func (b *Broker) status(e LedgerEntry) brokers.OrderStatus {
	filledAt := e.AcceptedAt.Add(b.cfg.FillDelay)
	if b.cfg.Now().Before(filledAt) {
		return brokers.OrderStatus{State: brokers.StateSubmitted, UpdatedAt: e.AcceptedAt}
	}
	return brokers.OrderStatus{
		State:        brokers.StateFilled,
		FilledShares: e.Quantity,
		AvgPrice:     e.Price,
		UpdatedAt:    filledAt,
	}
}

// Market is always open: the dry-run broker trades around the clock.
func (b *Broker) Market(context.Context) (brokers.MarketState, error) {
	return brokers.MarketState{Open: true, At: b.cfg.Now()}, nil
}

// Updates pushes the fill of every order this process accepts while a
// listener is attached, the moment its fill delay has passed (at once for
// an order stamped with a historical time). One listener at a time; it is
// listening as soon as Updates is called.
func (b *Broker) Updates(ctx context.Context, out chan<- brokers.Update, listening func(bool)) error {
	if !b.listeners.CompareAndSwap(0, 1) {
		return errors.New("dry-run broker: updates already have a listener")
	}
	defer b.listeners.Store(0)
	if listening != nil {
		listening(true)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-b.pushes:
			select {
			case out <- u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// schedulePush sends e's fill to the listener when it happens. Callers
// hold b.mu.
func (b *Broker) schedulePush(e LedgerEntry) {
	if b.listeners.Load() == 0 {
		return
	}
	st := b.status(e)
	u := brokers.Update{ClientOrderID: e.ClientOrderID, BrokerOrderID: e.BrokerOrderID}
	send := func() {
		u.Status = b.status(e)
		select {
		case b.pushes <- u:
		default:
			b.log.Warn("dry-run push buffer full: the fill is left to the order poller", "client_order_id", e.ClientOrderID)
		}
	}
	if st.State == brokers.StateFilled {
		send()
		return
	}
	time.AfterFunc(e.AcceptedAt.Add(b.cfg.FillDelay).Sub(b.cfg.Now()), send)
}

// Orders returns the accepted orders in ledger order, including those other
// processes appended.
func (b *Broker) Orders() ([]LedgerEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	var out []LedgerEntry
	err := b.withLedger(false, func() error {
		out = slices.Clone(b.entries)
		return nil
	})
	return out, err
}

// Close closes the ledger. Later calls return ErrClosed;
// Close itself is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.f == nil {
		return nil
	}
	if err := b.f.Close(); err != nil {
		return fmt.Errorf("dry-run broker: close ledger: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
