package offchainorder_test

import (
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

func genShares(t *rapid.T, label string) decimal.Decimal {
	return decimal.New(rapid.Int64Range(-1, 40).Draw(t, label), -1) // -0.1 .. 4.0
}

func genCommand(t *rapid.T) aggregate.Command {
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0:
		return oo.Place{Symbol: "AAPL", Shares: genShares(t, "shares"), Direction: "Buy", Broker: "alpaca"}
	case 1:
		return oo.ConfirmSubmission{BrokerOrderID: rapid.SampledFrom([]string{"1", ""}).Draw(t, "id")}
	case 2:
		return oo.UpdatePartialFill{SharesFilled: genShares(t, "filled"), AvgPrice: genShares(t, "avg")}
	case 3:
		c := oo.CompleteFill{Price: genShares(t, "price")}
		if rapid.Bool().Draw(t, "with_shares") {
			s := genShares(t, "fill_shares")
			c.SharesFilled = &s
		}
		return c
	case 4:
		return oo.MarkFailed{Error: rapid.SampledFrom([]string{"boom", ""}).Draw(t, "error")}
	}
	c := oo.Migrate{Symbol: "AAPL", Shares: genShares(t, "shares"), Direction: "Sell", Broker: "schwab",
		Status: rapid.SampledFrom(oo.Statuses).Draw(t, "status")}
	if rapid.Bool().Draw(t, "with_id") {
		c.BrokerOrderID = ptr("7")
	}
	if rapid.Bool().Draw(t, "with_price") {
		p := genShares(t, "mprice")
		c.Price = &p
	}
	if c.Status == oo.StatusFailed || rapid.Bool().Draw(t, "with_error") {
		c.Error = "Unknown failure"
	}
	return c
}

// Whatever the command sequence: an accepted command never fails the
// order, fills stay within the order, terminal orders never change, and
// replaying the events gives the same state.
func TestPropertyStateMachineInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var l aggregate.Lifecycle[oo.State]
		var log []aggregate.Event
		for i := range rapid.IntRange(1, 12).Draw(t, "n") {
			c := genCommand(t)
			next, events, err := aggregate.Execute(oo.Definition, l, c, meta)
			if err != nil {
				continue
			}
			if next.Status != aggregate.Live {
				t.Fatalf("command %d %#v failed the order: %s", i, c, next.Failure)
			}
			if l.Status == aggregate.Live && l.State.Status.Terminal() {
				t.Fatalf("terminal order %s accepted %#v", l.State.Status, c)
			}
			s := next.State
			if s.SharesFilled.IsNegative() || s.SharesFilled.GreaterThan(s.Shares) {
				t.Fatalf("shares filled %s of %s", s.SharesFilled, s.Shares)
			}
			if (s.Status == oo.StatusFilled) != s.SharesFilled.Equal(s.Shares) {
				t.Fatalf("status %s with %s of %s filled", s.Status, s.SharesFilled, s.Shares)
			}
			if l.Status == aggregate.Live && s.SharesFilled.LessThan(l.State.SharesFilled) {
				t.Fatalf("fill went down from %s to %s", l.State.SharesFilled, s.SharesFilled)
			}
			l, log = next, append(log, events...)
		}
		if r := aggregate.Replay(oo.Definition, log); r.Status != l.Status || r.Version != l.Version || r.State.Status != l.State.Status {
			t.Fatalf("replay %+v != %+v", r, l)
		}
	})
}
