package position

import (
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Decide turns a command into events. Every decision folds the events it is
// about to emit through next (the function Evolve uses), so a follow-up
// hedge sees the post-fill net, and a rule Evolve enforces (pending match,
// chain order, overflow) rejects the command with its typed error instead
// of failing the aggregate later.
func Decide(l aggregate.Lifecycle[State], c aggregate.Command, m aggregate.Meta) ([]aggregate.Event, error) {
	if l.Status == aggregate.Failed {
		return nil, l.Check()
	}
	if m.At.IsZero() {
		return nil, fmt.Errorf("%w: meta.at is required", ErrInvalidCommand)
	}
	d := &decision{state: l.State, version: l.Version, at: m.At.UTC()}
	var err error
	switch c := c.(type) {
	case Initialize:
		err = d.initialize(l, c)
	case Migrate:
		err = d.migrate(l, c)
	case AcknowledgeOnChainFill:
		err = d.acknowledge(l, c)
	case RevertOnChainFill:
		err = d.revert(l, c)
	case PlaceOffChainOrder:
		err = d.placeManual(l, c)
	case CompleteOffChainOrder:
		err = d.complete(l, c)
	case FailOffChainOrder:
		err = d.fail(l, c)
	case UpdateThreshold:
		err = d.updateThreshold(l, c)
	case RecordMigratedFill:
		err = d.recordMigratedFill(l, c)
	default:
		err = fmt.Errorf("%w: unknown command %T", ErrInvalidCommand, c)
	}
	if err != nil {
		return nil, err
	}
	return d.events, nil
}

// decision is the state as it will be after the events emitted so far.
type decision struct {
	state   State
	version uint64
	at      time.Time
	events  []aggregate.Event
}

func (d *decision) emit(e aggregate.Event) error {
	s, err := next(d.state, e)
	if err != nil {
		return err
	}
	d.state, d.events = s, append(d.events, e)
	return nil
}

// hedgeIfReady places the hedge the position needs after this decision.
// Placing here rather than from a periodic checker means no decision
// (Migrate aside) leaves a position over threshold with nothing pending.
func (d *decision) hedgeIfReady() error {
	h, ok, err := d.state.hedge()
	if err != nil || !ok {
		return err
	}
	return d.place(h)
}

// place emits OffChainOrderPlaced; its execution id derives from the
// sequence this event will have.
func (d *decision) place(h hedge) error {
	seq := d.version + uint64(len(d.events)) + 1
	e := OffChainOrderPlaced{
		ExecutionID:   ExecutionID(d.state.Symbol, seq),
		Symbol:        d.state.Symbol,
		Shares:        h.shares,
		Direction:     h.direction,
		Broker:        d.state.Execution.Broker,
		TriggerReason: h.reason,
		PlacedAt:      d.at,
	}
	if p := d.state.LastPriceUSDC; p != nil {
		e.ReferencePrice = ptr(*p)
	}
	return d.emit(e)
}

func (d *decision) initialize(l aggregate.Lifecycle[State], c Initialize) error {
	if err := l.CheckGenesis(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	return d.emit(Initialized{Symbol: c.Symbol, Threshold: c.Threshold, Execution: c.Execution, InitializedAt: d.at})
}

// migrate does not hedge: the legacy system may still have an order in
// flight for the migrated exposure.
func (d *decision) migrate(l aggregate.Lifecycle[State], c Migrate) error {
	if err := l.CheckGenesis(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	var pending *MigratedPending
	if c.Pending != nil {
		p := *c.Pending
		pending = &p
	}
	return d.emit(Migrated{Symbol: c.Symbol, NetPosition: c.NetPosition, AccumulatedLong: c.AccumulatedLong,
		AccumulatedShort: c.AccumulatedShort, Threshold: c.Threshold, Execution: c.Execution, Pending: pending,
		MigratedAt: d.at})
}

// recordMigratedFill records legacy history; net does not move, so there
// is nothing to hedge. A repeat (a re-run of the migration) is a no-op.
func (d *decision) recordMigratedFill(l aggregate.Lifecycle[State], c RecordMigratedFill) error {
	if err := c.validate(); err != nil {
		return err
	}
	if err := l.Check(); err != nil {
		return fmt.Errorf("legacy fill %s %s: position %s: %w", c.Venue, c.SourceID, c.Symbol, err)
	}
	if err := d.sameSymbol(c.Symbol); err != nil {
		return err
	}
	s, at := d.state, c.At.UTC()
	switch {
	case !s.Migrated:
		return fmt.Errorf("%w: %s was not opened by Migrate; legacy fill %s %s refused", ErrNotMigrated, s.Symbol, c.Venue, c.SourceID)
	case s.History.recorded(c.Venue, c.SourceID, at):
		return nil
	case s.Live:
		return fmt.Errorf("%w: %s has applied live fills; legacy fill %s %s at %s refused", ErrHistoryAfterLiveFill,
			s.Symbol, c.Venue, c.SourceID, at.Format(time.RFC3339Nano))
	}
	return d.emit(MigratedFillRecorded{Symbol: c.Symbol, Venue: c.Venue, SourceID: c.SourceID, Direction: c.Direction,
		Amount: c.Amount, PriceUSDC: c.PriceUSDC, At: at, RecordedAt: d.at})
}

// acknowledge always applies the fill, even while a hedge is pending: it is
// a fact on chain. The first fill of a symbol opens its position.
func (d *decision) acknowledge(l aggregate.Lifecycle[State], c AcknowledgeOnChainFill) error {
	base, tradeID, err := c.validate()
	if err != nil {
		return err
	}
	if l.Status == aggregate.Uninitialized {
		if c.Threshold == nil || c.Execution == nil {
			return fmt.Errorf("%w: position %s: threshold and execution are required to open it", aggregate.ErrUninitialized, base)
		}
		err = d.emit(Initialized{Symbol: base, Threshold: *c.Threshold, Execution: *c.Execution, InitializedAt: d.at})
	} else {
		err = d.sameSymbol(base)
	}
	if err != nil {
		return err
	}
	err = d.emit(OnChainOrderFilled{TradeID: tradeID, BlockNumber: c.BlockNumber, Amount: c.Amount,
		Direction: c.Direction, PriceUSDC: c.PriceUSDC, BlockTimestamp: c.BlockTimestamp.UTC(), SeenAt: d.at,
		FillSequence: seqField(c.FillSequence)})
	if err != nil {
		return err
	}
	return d.hedgeIfReady()
}

// revert withdraws an applied fill (a reorg): net moves back, and the
// position hedges what that leaves over threshold, as after any fill.
func (d *decision) revert(l aggregate.Lifecycle[State], c RevertOnChainFill) error {
	base, tradeID, err := c.validate()
	if err != nil {
		return err
	}
	if err := l.Check(); err != nil {
		return fmt.Errorf("revert of trade %s: position %s: %w", tradeID, base, err)
	}
	if err := d.sameSymbol(base); err != nil {
		return err
	}
	err = d.emit(OnChainFillReverted{TradeID: tradeID, BlockNumber: c.BlockNumber, FillSequence: seqField(c.FillSequence),
		Amount: c.Amount, Direction: c.Direction, PriceUSDC: c.PriceUSDC, Reason: c.Reason, RevertedAt: d.at})
	if err != nil {
		return err
	}
	return d.hedgeIfReady()
}

// seqField is how events spell a fill sequence: omitted for the first.
func seqField(n uint64) uint64 {
	if n <= 1 {
		return 0
	}
	return n
}

// placeManual is the operator's override: the threshold is not required,
// but the order may only reduce the exposure.
func (d *decision) placeManual(l aggregate.Lifecycle[State], c PlaceOffChainOrder) error {
	if err := l.Check(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := d.sameSymbol(c.Symbol); err != nil {
		return err
	}
	s := d.state
	if s.Pending != nil {
		return &PendingExecutionError{ExecutionID: s.Pending.ExecutionID}
	}
	dir, ok := HedgeDirection(s.Net)
	switch {
	case !ok:
		return ErrNoExposure
	case c.Direction != dir:
		return fmt.Errorf("%w: net %s needs %s, got %s", ErrWrongDirection, s.Net, dir, c.Direction)
	case c.Shares.GreaterThan(s.Net.Abs()):
		return fmt.Errorf("%w: %s shares, |net| is %s", ErrExceedsNet, c.Shares, s.Net.Abs())
	case !s.Execution.Fractional && !c.Shares.Equal(c.Shares.Truncate(0)):
		return fmt.Errorf("%w: %s shares at %s", ErrFractionalShares, c.Shares, s.Execution.Broker)
	case c.Broker != s.Execution.Broker:
		return fmt.Errorf("%w: %s, position executes at %s", ErrBrokerMismatch, c.Broker, s.Execution.Broker)
	}
	return d.place(hedge{shares: c.Shares, direction: c.Direction,
		reason: TriggerReason{Kind: TriggerManual, NetPosition: s.Net}})
}

// complete applies the broker fill; what it leaves over threshold is hedged
// in the same decision.
func (d *decision) complete(l aggregate.Lifecycle[State], c CompleteOffChainOrder) error {
	if err := l.Check(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	err := d.emit(OffChainOrderFilled{ExecutionID: c.ExecutionID, SharesFilled: c.SharesFilled, Direction: c.Direction,
		BrokerOrderID: c.BrokerOrderID, Price: c.Price, BrokerTimestamp: c.BrokerTimestamp.UTC()})
	if err != nil {
		return err
	}
	return d.hedgeIfReady()
}

// fail clears the pending hedge; the exposure is still there, so it is
// placed again (with a new execution id) if still over threshold.
func (d *decision) fail(l aggregate.Lifecycle[State], c FailOffChainOrder) error {
	if err := l.Check(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := d.emit(OffChainOrderFailed{ExecutionID: c.ExecutionID, Error: c.Error, FailedAt: d.at}); err != nil {
		return err
	}
	return d.hedgeIfReady()
}

// updateThreshold hedges at once if the new threshold is already met:
// otherwise nothing would place that hedge until the next on-chain fill.
func (d *decision) updateThreshold(l aggregate.Lifecycle[State], c UpdateThreshold) error {
	if err := l.Check(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := d.emit(ThresholdUpdated{OldThreshold: d.state.Threshold, NewThreshold: c.Threshold, UpdatedAt: d.at}); err != nil {
		return err
	}
	return d.hedgeIfReady()
}

func (d *decision) sameSymbol(s market.Symbol) error {
	if s != d.state.Symbol {
		return fmt.Errorf("%w: command for %s, position is %s", ErrSymbolMismatch, s, d.state.Symbol)
	}
	return nil
}
