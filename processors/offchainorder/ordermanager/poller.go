package ordermanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Orders lists the tracker's orders; the goka view of its table in
// production, a map in tests.
type Orders interface {
	Each(fn func(key string, raw []byte) error) error
	// Get returns one order's record, nil when the table has none.
	Get(executionID string) ([]byte, error)
}

// Positions says which hedge a position has pending: in production a goka
// view of topics.PendingHedges, which the order placer writes. "" means
// none.
type Positions interface {
	Pending(symbol market.Symbol) (executionID string, err error)
}

// DefaultNotPendingGrace is how long an order the position does not have
// pending waits, from the poller's first sight of it, before it is failed:
// the placer's pending-hedge record and the order's events travel
// separately, so a view can briefly lag.
const DefaultNotPendingGrace = 30 * time.Second

// Producer sends the poller's commands: a *kgo.Client in production.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// PollerConfig configures the broker side of the order manager.
type PollerConfig struct {
	Broker     brokers.Broker
	Orders     Orders
	Producer   Producer
	Partitions int32
	Interval   time.Duration // how often orders are walked
	StaleAfter time.Duration // an order with no update this long is failed
	MaxBackoff time.Duration // cap of the retry delay after broker errors
	// Positions, when set, is asked before any order is placed at the
	// broker: only a hedge its position has pending is placed, so a
	// hand-made Place can never start a broker order nobody books. After
	// NotPendingGrace (default DefaultNotPendingGrace) such an order fails.
	Positions       Positions
	NotPendingGrace time.Duration
	// MarketCheckEvery is how often the broker's market hours are read
	// again (default DefaultMarketCheckEvery; at once when a closed
	// market's next open has come).
	MarketCheckEvery time.Duration
	// FullWalkEvery is how often the whole tracker view is walked for open
	// orders the index does not have (default DefaultFullWalkEvery); ticks
	// in between work the index alone. A partition owned anew is walked at
	// once.
	FullWalkEvery time.Duration
	// StreamedPollEvery is how often a submitted order is polled while the
	// broker's update stream is listening: a safety net only, outcomes
	// arrive pushed (default DefaultStreamedPollEvery).
	StreamedPollEvery time.Duration
	Clock             func() time.Time
	Logger            *slog.Logger
}

const (
	DefaultFullWalkEvery     = time.Minute
	DefaultMarketCheckEvery  = 30 * time.Second
	DefaultStreamedPollEvery = 30 * time.Second
)

// Validate reports every problem at once.
func (c PollerConfig) Validate() error {
	var errs []error
	if c.Broker == nil {
		errs = append(errs, errors.New("poller: no broker"))
	}
	if c.Orders == nil || c.Producer == nil {
		errs = append(errs, errors.New("poller: orders view and producer are required"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("poller: partitions must be positive, got %d", c.Partitions))
	}
	if c.Interval <= 0 || c.StaleAfter <= 0 || c.MaxBackoff <= 0 {
		errs = append(errs, errors.New("poller: interval, stale timeout and max backoff must be positive"))
	}
	return errors.Join(errs...)
}

// Poller drives orders through the broker. Only the tracker partitions this
// instance owns are polled, so two instances do not both work one order
// (and if they briefly do during a rebalance, the broker's client order id
// and the aggregate's guards make the second attempt harmless).
//
// Three things wake it: the tick (every Interval: the open orders of the
// index, index.go), a hint from the tracker that an order is pending (placed at
// once, without a walk: hint.go), and an order update pushed by the broker
// (push.go). Pushed and polled outcomes become the same commands, with the
// same ids, so an outcome seen both ways is recorded once.
type Poller struct {
	cfg     PollerConfig
	wake    chan struct{} // Assign asks Run for a tick now
	hints   chan hint
	updates chan brokers.Update

	mu    sync.Mutex
	owned []int32
	fresh []int32 // owned since the last tick

	// listening is whether the broker's update stream is up; relisten is
	// set when it comes (back) up, so the next tick polls every submitted
	// order once for the outcomes of the gap.
	listening, relisten atomic.Bool

	// Run's goroutine only.
	retry    map[string]backoff // by execution id
	unsure   map[string]bool    // execution ids to reconcile with the broker first
	settling []string           // answered this tick; forgotten once their commands are produced
	// notPending is when this poller first saw an order that its position
	// does not have pending: the grace runs from there, not from the
	// order's event time, which is old when a backlog is worked off.
	notPending map[string]time.Time
	// sighted is when this poller first saw an order in its current
	// status. The stale timer runs from the later of that and the order's
	// last event: replayed history has event times days old, and an order
	// must not be failed as stale before anyone asked the broker.
	sighted map[string]sighting
	// lastPolled is when each submitted order was last asked about.
	lastPolled map[string]time.Time
	// recent are orders this poller recorded as submitted, for pushed
	// updates that come before the tracker's view shows the submission.
	recent map[string]TrackedOrder
	// reconciled is set by the first complete tick: until then every
	// in-flight order may be unknown to this instance, and hints wait.
	reconciled bool
	// positionLag is set by place when the position's pending hedge is
	// not visible yet (a hint then retries shortly).
	positionLag bool
	market      marketGate
	submitting  []TrackedOrder // submissions in the commands being produced
	deferred    []hint         // hints that came before the first tick
	index       *openIndex     // the open orders (index.go)
	lastWalk    time.Time      // of the whole view
}

type sighting struct {
	status OrderStatus
	at     time.Time
}

type backoff struct {
	attempts int
	next     time.Time
}

func NewPoller(cfg PollerConfig) (*Poller, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NotPendingGrace <= 0 {
		cfg.NotPendingGrace = DefaultNotPendingGrace
	}
	if cfg.MarketCheckEvery <= 0 {
		cfg.MarketCheckEvery = DefaultMarketCheckEvery
	}
	if cfg.StreamedPollEvery <= 0 {
		cfg.StreamedPollEvery = DefaultStreamedPollEvery
	}
	if cfg.FullWalkEvery <= 0 {
		cfg.FullWalkEvery = DefaultFullWalkEvery
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Poller{cfg: cfg, wake: make(chan struct{}, 1), hints: make(chan hint, hintBuffer),
		updates: make(chan brokers.Update, updateBuffer),
		retry:   map[string]backoff{}, unsure: map[string]bool{}, notPending: map[string]time.Time{},
		sighted: map[string]sighting{}, lastPolled: map[string]time.Time{}, recent: map[string]TrackedOrder{},
		index: newOpenIndex()}, nil
}

// Assign records the tracker partitions this instance owns (pass it as the
// tracker stage's OnAssign) and wakes Run. The in-flight orders of a
// partition it did not own before (every partition after a restart) may
// have been placed by an instance that is gone, or waited out its backoff
// there: the next tick reconciles them with the broker at once.
func (p *Poller) Assign(partitions []int32) {
	p.mu.Lock()
	for _, part := range partitions {
		if !slices.Contains(p.owned, part) && !slices.Contains(p.fresh, part) {
			p.fresh = append(p.fresh, part)
		}
	}
	p.owned = slices.Clone(partitions)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a tick is already due
	}
}

// takeAssignment returns the owned partitions and those newly owned since
// the last call.
func (p *Poller) takeAssignment() (owned, fresh []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	owned, fresh, p.fresh = p.owned, p.fresh, nil
	return owned, fresh
}

// Run polls until ctx ends: every Interval and at once after Assign,
// placing hinted orders and recording pushed updates in between. When the
// broker pushes updates (brokers.Streamer), it listens to them too.
func (p *Poller) Run(ctx context.Context) error {
	if s, ok := p.cfg.Broker.(brokers.Streamer); ok {
		go p.listen(ctx, s)
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if err := p.Tick(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("order poller", "err", err)
		}
	wait:
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.wake:
		case h := <-p.hints:
			p.handleHint(ctx, h)
			goto wait
		case u := <-p.updates:
			p.handleUpdate(ctx, u)
			goto wait
		}
	}
}

// Tick walks every owned, unfinished order once; the orders of partitions
// newly owned (see Assign) are marked to be reconciled first.
func (p *Poller) Tick(ctx context.Context) error {
	owned, fresh := p.takeAssignment()
	if p.relisten.Swap(false) {
		clear(p.lastPolled) // the stream is back: ask about every order once
	}
	now := p.cfg.Clock()
	if len(fresh) > 0 || p.lastWalk.IsZero() || now.Sub(p.lastWalk) >= p.cfg.FullWalkEvery {
		if err := p.walk(owned, now); err != nil {
			p.mu.Lock()
			p.fresh = append(p.fresh, fresh...) // reconcile them on the next tick
			p.mu.Unlock()
			return err
		}
		p.lastWalk = now
	}
	work := p.index.open(owned, p.cfg.Partitions, now)
	for _, o := range work {
		if slices.Contains(fresh, topics.PartitionFor([]byte(o.ExecutionID), p.cfg.Partitions)) {
			p.unsure[o.ExecutionID] = true
			delete(p.retry, o.ExecutionID)
		}
	}
	// Forget finished orders and those of partitions no longer owned.
	inWork := make(map[string]bool, len(work))
	for _, o := range work {
		inWork[o.ExecutionID] = true
	}
	maps.DeleteFunc(p.retry, func(id string, _ backoff) bool { return !inWork[id] })
	maps.DeleteFunc(p.unsure, func(id string, _ bool) bool { return !inWork[id] })
	maps.DeleteFunc(p.notPending, func(id string, _ time.Time) bool { return !inWork[id] })
	maps.DeleteFunc(p.sighted, func(id string, _ sighting) bool { return !inWork[id] })
	maps.DeleteFunc(p.lastPolled, func(id string, _ time.Time) bool { return !inWork[id] })
	maps.DeleteFunc(p.recent, func(id string, o TrackedOrder) bool { return !inWork[id] || now.Sub(o.LastUpdate) > recentFor })

	// In-flight orders first: every order this instance may not know the
	// fate of is settled with the broker before anything new is placed.
	slices.SortStableFunc(work, func(a, b TrackedOrder) int { return p.placesNew(a) - p.placesNew(b) })
	var cmds []*kgo.Record
	p.settling = p.settling[:0]
	for _, o := range work {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c := p.advance(ctx, o); c != nil {
			cmds = append(cmds, c)
		}
	}
	if err := p.produce(ctx, cmds); err != nil {
		return err
	}
	if !p.reconciled {
		p.reconciled = true
		for _, h := range p.deferred {
			p.sendHint(h)
		}
		p.deferred = nil
	}
	return nil
}

// walk merges the open orders of the owned partitions in the tracker's view
// into the index: the orders a stage recovered from its table (after a
// restart or a rebalance) and has not processed since.
func (p *Poller) walk(owned []int32, now time.Time) error {
	return p.cfg.Orders.Each(func(key string, raw []byte) error {
		if !slices.Contains(owned, topics.PartitionFor([]byte(key), p.cfg.Partitions)) {
			return nil
		}
		// Nearly every order is done: read the status alone first, without
		// parsing the decimals and times of an order that needs nothing.
		rec, err := runner.DecodeState[struct {
			Down struct {
				Status       OrderStatus `json:"status"`
				LastSequence uint64      `json:"last_sequence"`
			} `json:"down"`
		}](raw)
		if err != nil {
			return fmt.Errorf("order %s: %w", key, err)
		}
		if st := rec.Down; st.Status == OrderDone {
			p.index.closeIfOlder(key, st.LastSequence, now)
			return nil
		}
		o, err := decodeOrder(raw)
		if err != nil {
			return fmt.Errorf("order %s: %w", key, err)
		}
		p.index.apply(o, now)
		return nil
	})
}

// recentFor is how long an order this poller submitted is remembered for
// pushed updates that overtake the tracker's view.
const recentFor = 10 * time.Minute

// placesNew is 1 for an order whose next step may be a placement.
func (p *Poller) placesNew(o TrackedOrder) int {
	if o.Status == OrderPending {
		return 1
	}
	return 0
}

// produce sends the commands recording the broker's answers, then forgets
// the backoff and reconcile marks of the orders answered for. If the send
// fails the answers are not recorded: the orders stay unsure, so the next
// tick asks the broker again before deciding anything.
func (p *Poller) produce(ctx context.Context, cmds []*kgo.Record) error {
	if len(cmds) > 0 {
		if err := p.cfg.Producer.ProduceSync(ctx, cmds...).FirstErr(); err != nil {
			p.settling, p.submitting = p.settling[:0], p.submitting[:0]
			return err
		}
		now := p.cfg.Clock()
		for _, o := range p.submitting {
			p.recent[o.ExecutionID] = o
			p.lastPolled[o.ExecutionID] = now // a new order needs no poll at once
		}
	}
	p.submitting = p.submitting[:0]
	for _, id := range p.settling {
		delete(p.retry, id)
		delete(p.unsure, id)
	}
	p.settling = p.settling[:0]
	return nil
}

// advance does what an order needs next and returns the command that
// records the outcome, or nil. An order to reconcile is asked about before
// the stale timer may fail it: the broker may have accepted or filled it
// while no instance was watching.
func (p *Poller) advance(ctx context.Context, o TrackedOrder) *kgo.Record {
	now := p.cfg.Clock()
	unsure := p.unsure[o.ExecutionID]
	// A legacy order submitted before the migration may rest at the
	// broker for days (a cut-over over a weekend): only the broker ends it.
	// Failing it as stale would hedge its shares again while it can still
	// fill.
	legacySubmitted := o.Migrated && o.Status == OrderSubmitted
	if !unsure && !legacySubmitted {
		if r := p.failIfStale(o, now); r != nil {
			return r
		}
	}
	if b, ok := p.retry[o.ExecutionID]; ok && now.Before(b.next) {
		return nil
	}
	switch o.Status {
	case OrderPending:
		if o.Migrated {
			// The legacy bot may or may not have sent it, under a client
			// order id of its own: there is nothing to ask the broker by,
			// and placing it could trade twice. Failing it gives its shares
			// back to the position, which hedges them anew.
			p.settled(o)
			p.cfg.Logger.Warn("legacy order was pending without a broker order id: failed; check the broker for it",
				"legacy", o.legacyRow(), "symbol", o.Symbol)
			return p.command(o, "fail:", offchainorder.MarkFailed{Error: fmt.Sprintf(
				"%s was PENDING at migration without a broker order id: not placed by hedgeline; check the broker for it",
				o.legacyRow())}, now)
		}
		if _, placed := p.recent[o.ExecutionID]; placed && !unsure {
			return nil // submitted here: the view has not caught up yet
		}
		if !unsure && !p.marketOpen(ctx, now) {
			p.holdWhileClosed(o, now)
			return nil
		}
		if unsure {
			// Its instance may have died between the broker's acceptance
			// and recording it. Asking is a read, so this cannot trade
			// twice even where Place's idempotency is weaker than the
			// dry-run's.
			k, err := p.cfg.Broker.Find(ctx, o.ExecutionID)
			switch {
			case err == nil:
				p.settled(o)
				return p.command(o, "submit:", offchainorder.ConfirmSubmission{BrokerOrderID: k.BrokerOrderID}, brokerTime(o, k.AcceptedAt, now))
			case !errors.Is(err, brokers.ErrNotFound):
				p.backOff(o, err, now)
				return nil
			}
			delete(p.unsure, o.ExecutionID)
			if !p.marketOpen(ctx, now) {
				p.holdWhileClosed(o, now)
				return nil
			}
			if r := p.failIfStale(o, now); r != nil {
				return r
			}
		}
		return p.place(ctx, o, now)
	case OrderSubmitted:
		if last, ok := p.lastPolled[o.ExecutionID]; ok && !unsure && p.listening.Load() &&
			now.Sub(last) < p.cfg.StreamedPollEvery {
			return nil // its outcome comes pushed
		}
		p.lastPolled[o.ExecutionID] = now
		return p.poll(ctx, o, now)
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "no hedge"
	}
	return "hedge " + id
}

func (p *Poller) failIfStale(o TrackedOrder, now time.Time) *kgo.Record {
	s, ok := p.sighted[o.ExecutionID]
	if !ok || s.status != o.Status {
		s = sighting{status: o.Status, at: now}
		p.sighted[o.ExecutionID] = s
	}
	since := o.LastUpdate
	if s.at.After(since) {
		since = s.at
	}
	idle := now.Sub(since)
	if idle <= p.cfg.StaleAfter {
		return nil
	}
	return p.command(o, "fail:", offchainorder.MarkFailed{
		Error: fmt.Sprintf("stale: no broker update for %s", idle.Truncate(time.Second)),
	}, now)
}

func (p *Poller) place(ctx context.Context, o TrackedOrder, now time.Time) *kgo.Record {
	p.positionLag = false
	if p.cfg.Positions != nil {
		pending, err := p.cfg.Positions.Pending(o.Symbol)
		if err != nil {
			p.backOff(o, fmt.Errorf("position %s: %w", o.Symbol, err), now)
			return nil
		}
		if pending != o.ExecutionID {
			since, seen := p.notPending[o.ExecutionID]
			if !seen {
				p.notPending[o.ExecutionID], since = now, now
			}
			if now.Sub(since) < p.cfg.NotPendingGrace {
				p.positionLag = true
				return nil // the placer's record may not be visible yet
			}
			p.settled(o)
			p.cfg.Logger.Warn("order is not a hedge its position has pending: failed, never placed at the broker",
				"execution_id", o.ExecutionID, "symbol", o.Symbol, "position_pending", pending)
			return p.command(o, "fail:", offchainorder.MarkFailed{
				Error: fmt.Sprintf("not placed: position %s has %s pending, not this order", o.Symbol, orNone(pending)),
			}, now)
		}
	}
	pl, err := p.cfg.Broker.Place(ctx, brokers.Order{
		ClientOrderID: o.ExecutionID, Symbol: o.Symbol, Shares: o.Shares,
		Direction: o.Direction, ReferencePrice: o.ReferencePrice, PlacedAt: o.PlacedAt,
	})
	switch {
	case errors.Is(err, brokers.ErrRejected):
		p.settled(o)
		return p.command(o, "fail:", offchainorder.MarkFailed{Error: err.Error()}, now)
	case err != nil:
		p.backOff(o, err, now)
		return nil
	}
	p.settled(o)
	return p.command(o, "submit:", offchainorder.ConfirmSubmission{BrokerOrderID: pl.BrokerOrderID}, brokerTime(o, pl.AcceptedAt, now))
}

// brokerTime is when the broker says a step of o happened (its acceptance,
// its fill), for the command recording it: the order's events then carry
// the broker's times, which a simulated broker replaying history takes from
// the order's event time. Never before the order's last event (a broker
// clock behind ours must not fill a hedge before it was placed); now when
// the broker gave no time.
func brokerTime(o TrackedOrder, at, now time.Time) time.Time {
	if at.IsZero() {
		return now
	}
	if at.Before(o.LastUpdate) {
		return o.LastUpdate
	}
	return at
}

func (p *Poller) poll(ctx context.Context, o TrackedOrder, now time.Time) *kgo.Record {
	st, err := p.cfg.Broker.Status(ctx, o.BrokerOrderID)
	if errors.Is(err, brokers.ErrNotFound) {
		// Failing it re-hedges, so a wrong "not found" (a broker that does
		// not see another instance's orders by id) would trade twice: ask
		// by client order id before believing it.
		var k brokers.KnownOrder
		k, err = p.cfg.Broker.Find(ctx, o.ExecutionID)
		if err == nil && k.BrokerOrderID != o.BrokerOrderID {
			p.cfg.Logger.Warn("broker knows the order under another id", "execution_id", o.ExecutionID,
				"recorded", o.BrokerOrderID, "broker_order_id", k.BrokerOrderID)
		}
		st = k.Status
	}
	switch {
	case errors.Is(err, brokers.ErrNotFound):
		p.settled(o)
		return p.command(o, "fail:", offchainorder.MarkFailed{
			Error: fmt.Sprintf("broker does not know order %s (client order id %s)", o.BrokerOrderID, o.ExecutionID),
		}, now)
	case errors.Is(err, brokers.ErrRejected):
		// A status the mapping does not know, a fill without a price:
		// fail it where everyone sees it, never leave it waiting.
		p.settled(o)
		p.cfg.Logger.Error("broker reported an order the pipeline cannot map: failed", "execution_id", o.ExecutionID,
			"broker_order_id", o.BrokerOrderID, "err", err)
		return p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker: " + err.Error()}, now)
	case err != nil:
		p.backOff(o, err, now)
		return nil
	}
	p.settled(o)
	switch st.State {
	case brokers.StateFilled:
		filled := st.FilledShares
		return p.command(o, "fill:", offchainorder.CompleteFill{Price: st.AvgPrice, SharesFilled: &filled}, brokerTime(o, st.UpdatedAt, now))
	case brokers.StateFailed:
		return p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker: " + st.Error}, now)
	}
	return nil
}

// settled forgets the backoff and reconcile marks of an order the broker
// answered for, once the command recording the answer is produced (Tick).
func (p *Poller) settled(o TrackedOrder) {
	p.settling = append(p.settling, o.ExecutionID)
}

// backOff delays the next attempt exponentially (1 s, 2 s, 4 s, ... up to
// MaxBackoff): a failing broker is never hammered in a tight loop.
func (p *Poller) backOff(o TrackedOrder, err error, now time.Time) {
	b := p.retry[o.ExecutionID]
	b.attempts++
	d := time.Second << min(b.attempts-1, 20)
	if d > p.cfg.MaxBackoff {
		d = p.cfg.MaxBackoff
	}
	b.next = now.Add(d)
	p.retry[o.ExecutionID] = b
	p.cfg.Logger.Warn("broker call failed; retrying", "execution_id", o.ExecutionID, "attempt", b.attempts, "retry_in", d, "err", err)
}

// command encodes an OffchainOrder command. The id is deterministic per
// order and step, so a command sent twice is dropped by the aggregate.
func (p *Poller) command(o TrackedOrder, prefix string, c aggregate.Command, now time.Time) *kgo.Record {
	r, err := topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: topics.OffchainOrder, AggregateID: o.ExecutionID, CommandID: prefix + o.ExecutionID,
		IssuedAt: now.UTC(), CorrelationID: o.ExecutionID, CausationID: "order-poller",
	}, c, o.ExecutionID)
	if err != nil {
		p.cfg.Logger.Error("encode order command", "execution_id", o.ExecutionID, "err", err)
		return nil
	}
	if sub, ok := c.(offchainorder.ConfirmSubmission); ok {
		o.Status, o.BrokerOrderID, o.LastUpdate = OrderSubmitted, sub.BrokerOrderID, now
		p.submitting = append(p.submitting, o)
	}
	return r
}
