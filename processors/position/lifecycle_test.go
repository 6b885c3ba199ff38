package position

import (
	"errors"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// every command once, valid on a live AAPL position.
func everyCommand() []aggregate.Command {
	return []aggregate.Command{
		Initialize{Symbol: aapl, Threshold: shares("1"), Execution: schwab},
		Migrate{Symbol: aapl, NetPosition: dec("1"), AccumulatedLong: dec("1"), AccumulatedShort: dec("0"), Threshold: shares("1"), Execution: schwab},
		fill(9, market.Buy, "1", "150").opening(shares("1"), schwab),
		PlaceOffChainOrder{Symbol: aapl, Shares: dec("1"), Direction: market.Sell, Broker: market.Schwab},
		complete("X", "1", market.Sell, "150"),
		FailOffChainOrder{ExecutionID: "X", Error: "rejected"},
		UpdateThreshold{Threshold: shares("2")},
		revertOf(9, market.Buy, "1", "150"),
		history(market.Buy, "1", "150", t0),
	}
}

func TestInitialize(t *testing.T) {
	_, got, err := when(given(), Initialize{Symbol: aapl, Threshold: dollars("2"), Execution: alpaca})
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, Initialized{Symbol: aapl, Threshold: dollars("2"), Execution: alpaca, InitializedAt: at})
}

func TestInitializeTwice(t *testing.T) {
	l, _, err := when(given(), Initialize{Symbol: aapl, Threshold: shares("1"), Execution: schwab})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := when(l, Initialize{Symbol: aapl, Threshold: shares("1"), Execution: schwab}); !errors.Is(err, aggregate.ErrAlreadyInitialized) {
		t.Fatalf("err %v, want ErrAlreadyInitialized", err)
	}
}

func TestInitializeValidatesFields(t *testing.T) {
	zero := market.Threshold{Shares: ptr(decimal.Zero)}
	for _, tc := range []struct {
		field string
		cmd   Initialize
	}{
		{"symbol", Initialize{Symbol: "tAAPL", Threshold: shares("1"), Execution: schwab}},
		{"symbol", Initialize{Symbol: "", Threshold: shares("1"), Execution: schwab}},
		{"threshold", Initialize{Symbol: aapl, Threshold: zero, Execution: schwab}},
		{"threshold", Initialize{Symbol: aapl, Execution: schwab}},
		{"execution.broker", Initialize{Symbol: aapl, Threshold: shares("1")}},
	} {
		_, _, err := when(given(), tc.cmd)
		if !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: err %v, want ErrInvalidCommand naming %s", tc.cmd, err, tc.field)
		}
	}
}

func TestMigrate(t *testing.T) {
	cmd := Migrate{Symbol: aapl, NetPosition: dec("-3.5"), AccumulatedLong: dec("10"), AccumulatedShort: dec("13.5"),
		Threshold: shares("1"), Execution: schwab}
	l, got, err := when(given(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	// No hedge although over threshold: a legacy order may be in flight.
	then(t, got, Migrated{Symbol: aapl, NetPosition: dec("-3.5"), AccumulatedLong: dec("10"), AccumulatedShort: dec("13.5"),
		Threshold: shares("1"), Execution: schwab, MigratedAt: at})
	wantNet(t, l, "-3.5")
	if _, _, err := when(l, cmd); !errors.Is(err, aggregate.ErrAlreadyInitialized) {
		t.Fatalf("second migrate: err %v", err)
	}
	for _, edit := range []func(*Migrate){
		func(c *Migrate) { c.AccumulatedLong = dec("-1") },
		func(c *Migrate) { c.NetPosition = dec("1e20") },
		func(c *Migrate) { c.Symbol = "" },
	} {
		c := cmd
		edit(&c)
		if _, _, err := when(given(), c); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%+v: err %v, want ErrInvalidCommand", c, err)
		}
	}
}

func TestCommandsOnAnUninitializedPosition(t *testing.T) {
	for _, c := range everyCommand()[3:] {
		if _, _, err := when(given(), c); !errors.Is(err, aggregate.ErrUninitialized) {
			t.Errorf("%s: err %v, want ErrUninitialized", c.CommandType(), err)
		}
	}
}

func TestFailedPositionRejectsEveryCommand(t *testing.T) {
	// A hedge outcome for an execution that is not pending fails the lifecycle.
	failed := given(initialized(shares("1"), schwab), offFilled("X", "1", market.Sell))
	if failed.Status != aggregate.Failed {
		t.Fatalf("status %q, want failed", failed.Status)
	}
	for _, c := range everyCommand() {
		var fe *aggregate.FailedError
		if _, _, err := when(failed, c); !errors.As(err, &fe) || !strings.Contains(fe.Reason, "no hedge is pending") {
			t.Errorf("%s: err %v, want *aggregate.FailedError", c.CommandType(), err)
		}
	}
}

func TestDecideNeedsTheCommandTime(t *testing.T) {
	_, err := Decide(given(), Initialize{Symbol: aapl, Threshold: shares("1"), Execution: schwab}, aggregate.Meta{})
	if !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("err %v, want ErrInvalidCommand", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := Decide(given(), nil, now); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("err %v", err)
	}
}

func TestOverflow(t *testing.T) {
	huge := "99999999999999999999" // the largest whole amount: 20 digits
	history := given(initialized(shares("1"), schwab), filled(1, market.Buy, huge, "1"))
	mustLive(t, history)

	t.Run("evolve fails the lifecycle", func(t *testing.T) {
		l := Evolve(history, filled(2, market.Buy, "1", "1"))
		if l.Status != aggregate.Failed || !strings.Contains(l.Failure, "arithmetic overflow") {
			t.Fatalf("status %q failure %q", l.Status, l.Failure)
		}
		if !l.State.Net.Equal(dec(huge)) || l.Version != 3 {
			t.Fatalf("last valid state lost: net %s version %d", l.State.Net, l.Version)
		}
	})
	t.Run("decide rejects the command", func(t *testing.T) {
		l, events, err := when(history, fill(2, market.Buy, "1", "1"))
		var ae *market.ArithmeticError
		if !errors.As(err, &ae) || events != nil {
			t.Fatalf("err %v events %v, want *market.ArithmeticError", err, events)
		}
		mustLive(t, l)
	})
	t.Run("gross volume overflows even when net does not", func(t *testing.T) {
		l := given(initialized(shares("1"), schwab), filled(1, market.Buy, huge, "1"), filled(2, market.Sell, huge, "1"))
		_, _, err := when(l, fill(3, market.Buy, "1", "1"))
		var ae *market.ArithmeticError
		if !errors.As(err, &ae) {
			t.Fatalf("err %v, want *market.ArithmeticError", err)
		}
	})
	t.Run("dollar value out of range", func(t *testing.T) {
		l := given(initialized(dollars("1"), schwab), filled(1, market.Sell, "0.5", "1"))
		_, _, err := when(l, fill(2, market.Sell, "1000000", huge))
		var ae *market.ArithmeticError
		if !errors.As(err, &ae) || ae.Op != "*" {
			t.Fatalf("err %v, want *market.ArithmeticError for *", err)
		}
	})
}

func TestEvolveRechecksInvariants(t *testing.T) {
	open := []aggregate.Event{initialized(shares("1"), schwab), filled(1, market.Sell, "2", "150")}
	pending := append(open[:2:2], placed("X", "1", market.Buy))
	for _, tc := range []struct {
		name   string
		events []aggregate.Event
		reason string
	}{
		{"second hedge while pending", append(pending[:3:3], placed("Y", "1", market.Buy)), "already pending"},
		{"fill for another execution", append(pending[:3:3], offFilled("Y", "1", market.Buy)), "mismatch"},
		{"fill in the wrong direction", append(pending[:3:3], offFilled("X", "1", market.Sell)), "direction"},
		{"fill larger than the hedge", append(pending[:3:3], offFilled("X", "1.5", market.Buy)), "exceed"},
		{"failure with nothing pending", append(open[:2:2], OffChainOrderFailed{ExecutionID: "X", Error: "e", FailedAt: t0}), "no hedge is pending"},
		{"on-chain fill replayed", append(open[:2:2], filled(1, market.Sell, "2", "150")), "already applied"},
		{"genesis on a live position", append(open[:2:2], initialized(shares("1"), schwab)), "already initialized"},
		{"transition before genesis", []aggregate.Event{filled(1, market.Sell, "2", "150")}, "not initialized"},
		{"hedge for another symbol", append(open[:2:2], func() aggregate.Event { e := placed("X", "1", market.Buy); e.Symbol = "MSFT"; return e }()), "symbol"},
		{"invalid threshold", append(open[:2:2], ThresholdUpdated{OldThreshold: shares("1"), UpdatedAt: t0}), "threshold"},
		{"unknown event", append(open[:2:2], nil), "unknown event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := given(tc.events...)
			if l.Status != aggregate.Failed || !strings.Contains(l.Failure, tc.reason) {
				t.Fatalf("status %q failure %q, want failed with %q", l.Status, l.Failure, tc.reason)
			}
			if l.Version != uint64(len(tc.events)) {
				t.Fatalf("version %d", l.Version)
			}
		})
	}
}
