package ordermanager

import (
	"context"
	"errors"
	"slices"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// updateBuffer is how many pushed updates wait for the poller's goroutine.
const updateBuffer = 1024

// listen runs the broker's update stream into p.updates. While it is down
// the poller polls every Interval; when it comes back, the next tick asks
// about every submitted order once (events of the gap are not replayed).
func (p *Poller) listen(ctx context.Context, s brokers.Streamer) {
	err := s.Updates(ctx, p.updates, p.setListening)
	p.setListening(false)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		p.cfg.Logger.Error("broker order updates stopped: outcomes are polled", "err", err)
	}
}

func (p *Poller) setListening(on bool) {
	was := p.listening.Swap(on)
	switch {
	case on && !was:
		p.relisten.Store(true)
		p.cfg.Logger.Info("broker order updates listening")
		select {
		case p.wake <- struct{}{}:
		default:
		}
	case !on && was:
		p.cfg.Logger.Warn("broker order updates disconnected: polling every interval until they are back",
			"interval", p.cfg.Interval)
	}
}

// owns reports whether this instance works the order (its tracker
// partition is assigned here); every instance hears every pushed update.
func (p *Poller) owns(executionID string) bool {
	part := topics.PartitionFor([]byte(executionID), p.cfg.Partitions)
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.owned, part)
}

// handleUpdate records a pushed outcome with the commands a poll would
// have sent (same ids: whichever comes second is dropped as a duplicate).
func (p *Poller) handleUpdate(ctx context.Context, u brokers.Update) {
	id := u.ClientOrderID
	if id == "" || !p.owns(id) {
		return
	}
	o, ok, err := p.lookup(id)
	switch {
	case err != nil:
		p.cfg.Logger.Warn("pushed order update: order lookup failed; left to the poll", "execution_id", id, "err", err)
		return
	case !ok:
		p.cfg.Logger.Debug("pushed update for an order the pipeline did not place", "client_order_id", id)
		return
	case o.Status == OrderDone:
		return
	}
	now := p.cfg.Clock()
	var outcome *kgo.Record
	switch {
	case u.Err != nil:
		p.cfg.Logger.Error("broker pushed an order update the pipeline cannot map: failed", "execution_id", id,
			"broker_order_id", u.BrokerOrderID, "err", u.Err)
		outcome = p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker: " + u.Err.Error()}, now)
	case u.Status.State == brokers.StateFilled:
		filled := u.Status.FilledShares
		outcome = p.command(o, "fill:", offchainorder.CompleteFill{Price: u.Status.AvgPrice, SharesFilled: &filled},
			brokerTime(o, u.Status.UpdatedAt, now))
	case u.Status.State == brokers.StateFailed:
		outcome = p.command(o, "fail:", offchainorder.MarkFailed{Error: "broker: " + u.Status.Error}, now)
	default:
		return // accepted, partially filled: nothing to record yet
	}
	if outcome == nil {
		return
	}
	var cmds []*kgo.Record
	if o.Status == OrderPending && u.BrokerOrderID != "" {
		// The submission is not recorded yet (placed by an instance that
		// died, or its command is in flight): record it first, on the same
		// partition, so the outcome finds a submitted order.
		if sub := p.command(o, "submit:", offchainorder.ConfirmSubmission{BrokerOrderID: u.BrokerOrderID}, now); sub != nil {
			cmds = append(cmds, sub)
		}
	}
	cmds = append(cmds, outcome)
	p.settled(o)
	if err := p.produce(ctx, cmds); err != nil && ctx.Err() == nil {
		p.cfg.Logger.Warn("pushed order update not recorded; left to the poll", "execution_id", id, "err", err)
	}
}

// lookup finds an open order in the index, else in the tracker's view, or
// among those this poller submitted when both still show them pending or
// not at all.
func (p *Poller) lookup(id string) (TrackedOrder, bool, error) {
	recent, isRecent := p.recent[id]
	o, ok := p.index.get(id)
	if !ok {
		raw, err := p.cfg.Orders.Get(id)
		if err != nil {
			return TrackedOrder{}, false, err
		}
		if raw != nil {
			if o, err = decodeOrder(raw); err != nil {
				return TrackedOrder{}, false, err
			}
			ok = o.ExecutionID != ""
		}
	}
	if !ok || (o.Status == OrderPending && isRecent) {
		return recent, isRecent, nil
	}
	return o, true, nil
}
