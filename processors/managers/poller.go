package managers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/brokers"
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
}

// PollerConfig configures the broker side of the order manager.
type PollerConfig struct {
	Broker     brokers.Broker
	Orders     Orders
	Producer   *kgo.Client
	Partitions int32
	Interval   time.Duration // how often orders are walked
	StaleAfter time.Duration // an order with no update this long is failed
	MaxBackoff time.Duration // cap of the retry delay after broker errors
	Clock      func() time.Time
	Logger     *slog.Logger
}

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
type Poller struct {
	cfg   PollerConfig
	mu    sync.Mutex
	owned []int32
	retry map[string]backoff // by execution id
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
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Poller{cfg: cfg, retry: map[string]backoff{}}, nil
}

// Assign records the tracker partitions this instance owns (pass it as the
// tracker stage's OnAssign).
func (p *Poller) Assign(partitions []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.owned = slices.Clone(partitions)
}

func (p *Poller) owns(key string) bool {
	part := topics.PartitionFor([]byte(key), p.cfg.Partitions)
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.owned, part)
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if err := p.Tick(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("order poller", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick walks every owned, unfinished order once.
func (p *Poller) Tick(ctx context.Context) error {
	var work []TrackedOrder
	err := p.cfg.Orders.Each(func(key string, raw []byte) error {
		// The table keeps every order ever placed and nearly all are done:
		// read the status alone first, without parsing the decimals and
		// times of an order that needs nothing (the walk grows with the
		// history; BENCHMARKS.md).
		st, err := runner.DecodeState[struct {
			Status OrderStatus `json:"status"`
		}](raw)
		if err != nil {
			return fmt.Errorf("order %s: %w", key, err)
		}
		if st.Status == OrderDone {
			return nil
		}
		o, err := runner.DecodeState[TrackedOrder](raw)
		if err != nil {
			return fmt.Errorf("order %s: %w", key, err)
		}
		if o.Status != OrderDone && o.ExecutionID != "" && p.owns(key) {
			work = append(work, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var cmds []*kgo.Record
	for _, o := range work {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c := p.advance(ctx, o); c != nil {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	return p.cfg.Producer.ProduceSync(ctx, cmds...).FirstErr()
}

// advance does what an order needs next and returns the command that
// records the outcome, or nil.
func (p *Poller) advance(ctx context.Context, o TrackedOrder) *kgo.Record {
	now := p.cfg.Clock()
	if idle := now.Sub(o.LastUpdate); idle > p.cfg.StaleAfter {
		return p.command(o, "fail:", offchainorder.MarkFailed{
			Error: fmt.Sprintf("stale: no broker update for %s", idle.Truncate(time.Second)),
		}, now)
	}
	if b, ok := p.retry[o.ExecutionID]; ok && now.Before(b.next) {
		return nil
	}
	switch o.Status {
	case OrderPending:
		pl, err := p.cfg.Broker.Place(ctx, brokers.Order{
			ClientOrderID: o.ExecutionID, Symbol: o.Symbol, Shares: o.Shares,
			Direction: o.Direction, ReferencePrice: o.ReferencePrice,
		})
		switch {
		case errors.Is(err, brokers.ErrRejected):
			return p.command(o, "fail:", offchainorder.MarkFailed{Error: err.Error()}, now)
		case err != nil:
			p.backOff(o, err, now)
			return nil
		}
		delete(p.retry, o.ExecutionID)
		return p.command(o, "submit:", offchainorder.ConfirmSubmission{BrokerOrderID: pl.BrokerOrderID}, now)
	case OrderSubmitted:
		st, err := p.cfg.Broker.Status(ctx, o.BrokerOrderID)
		if err != nil && !errors.Is(err, brokers.ErrNotFound) {
			p.backOff(o, err, now)
			return nil
		}
		delete(p.retry, o.ExecutionID)
		switch {
		case err != nil:
			return p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker does not know order " + o.BrokerOrderID}, now)
		case st.State == brokers.StateFilled:
			filled := st.FilledShares
			return p.command(o, "fill:", offchainorder.CompleteFill{Price: st.AvgPrice, SharesFilled: &filled}, now)
		case st.State == brokers.StateFailed:
			return p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker: " + st.Error}, now)
		}
	}
	return nil
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
	payload, err := jsonMarshal(c)
	if err == nil {
		var b []byte
		b, err = topics.EncodeCommand(topics.CommandEnvelope{
			AggregateType: topics.OffchainOrder, AggregateID: o.ExecutionID,
			CommandID: prefix + o.ExecutionID, CommandType: c.CommandType(), CommandVersion: topics.CommandVersion,
			IssuedAt: now.UTC(), CorrelationID: o.ExecutionID, CausationID: "order-poller", Payload: payload,
		})
		if err == nil {
			return &kgo.Record{Topic: topics.OffchainOrderCommands, Key: []byte(o.ExecutionID), Value: b}
		}
	}
	p.cfg.Logger.Error("encode order command", "execution_id", o.ExecutionID, "err", err)
	return nil
}
