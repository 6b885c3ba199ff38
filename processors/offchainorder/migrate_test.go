package offchainorder_test

import (
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

var executedAt = time.Date(2025, 10, 15, 14, 30, 0, 0, time.UTC)

func migrate(status oo.Status) oo.Migrate {
	return oo.Migrate{Symbol: "AAPL", Shares: dec("3"), Direction: market.Sell, Broker: market.Schwab, Status: status, LegacyID: 12}
}

func migratedPending() oo.Migrated {
	return oo.Migrated{Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy, Broker: market.Schwab,
		Status: oo.StatusPending, MigratedAt: placedAt}
}

func order(status oo.Status) oo.State {
	return oo.State{Status: status, Symbol: "AAPL", Shares: dec("3"), Direction: market.Sell, Broker: market.Schwab}
}

func TestMigrateMapsEveryLegacyStatus(t *testing.T) {
	cases := []struct {
		name string
		c    oo.Migrate
		want oo.State
	}{
		{"pending", migrate(oo.StatusPending), func() oo.State {
			s := order(oo.StatusPending)
			s.PlacedAt = meta.At
			return s
		}()},
		{"pending with executed_at", func() oo.Migrate { c := migrate(oo.StatusPending); c.ExecutedAt = &executedAt; return c }(),
			func() oo.State { s := order(oo.StatusPending); s.PlacedAt = executedAt; return s }()},
		{"submitted", func() oo.Migrate { c := migrate(oo.StatusSubmitted); c.BrokerOrderID = ptr("42"); return c }(),
			func() oo.State {
				s := order(oo.StatusSubmitted)
				s.BrokerOrderID, s.PlacedAt, s.SubmittedAt = "42", meta.At, meta.At
				return s
			}()},
		{"filled", func() oo.Migrate {
			c := migrate(oo.StatusFilled)
			c.BrokerOrderID, c.Price, c.ExecutedAt = ptr("42"), ptr(dec("22.73")), &executedAt
			return c
		}(), func() oo.State {
			s := order(oo.StatusFilled)
			s.BrokerOrderID, s.SharesFilled, s.Price = "42", dec("3"), dec("22.73")
			s.PlacedAt, s.SubmittedAt, s.FilledAt = executedAt, executedAt, executedAt
			return s
		}()},
		{"filled without executed_at", func() oo.Migrate {
			c := migrate(oo.StatusFilled)
			c.BrokerOrderID, c.Price = ptr("42"), ptr(dec("22.73"))
			return c
		}(), func() oo.State {
			s := order(oo.StatusFilled)
			s.BrokerOrderID, s.SharesFilled, s.Price = "42", dec("3"), dec("22.73")
			s.PlacedAt, s.SubmittedAt, s.FilledAt = meta.At, meta.At, meta.At
			return s
		}()},
		{"failed", func() oo.Migrate {
			c := migrate(oo.StatusFailed)
			c.Error, c.ExecutedAt = "Unknown failure", &executedAt
			return c
		}(), func() oo.State {
			s := order(oo.StatusFailed)
			s.Error, s.PlacedAt, s.FailedAt = "Unknown failure", executedAt, executedAt
			return s
		}()},
		{"failed after submission", func() oo.Migrate {
			c := migrate(oo.StatusFailed)
			c.Error, c.BrokerOrderID = "Unknown failure", ptr("42")
			return c
		}(), func() oo.State {
			s := order(oo.StatusFailed)
			s.Error, s.BrokerOrderID = "Unknown failure", "42"
			s.PlacedAt, s.SubmittedAt, s.FailedAt = meta.At, meta.At, meta.At
			return s
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, got, err := when(given(), tc.c)
			c := tc.c
			thenEvents(t, got, err, oo.Migrated{
				Symbol: c.Symbol, Shares: c.Shares, Direction: c.Direction, Broker: c.Broker, Status: c.Status,
				Error: c.Error, BrokerOrderID: c.BrokerOrderID, Price: c.Price, ExecutedAt: c.ExecutedAt, LegacyID: c.LegacyID,
				MigratedAt: meta.At,
			})
			thenState(t, l, tc.want)
		})
	}
}

func TestMigratedOrderContinuesTheStateMachine(t *testing.T) {
	c := migrate(oo.StatusSubmitted)
	c.BrokerOrderID = ptr("42")
	l, _, err := when(given(), c)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err = when(l, oo.CompleteFill{Price: dec("190")})
	if err != nil || l.State.Status != oo.StatusFilled {
		t.Fatalf("%v %+v", err, l.State)
	}
}

func TestMigrateOnLiveOrderIsAlreadyPlaced(t *testing.T) {
	_, got, err := when(given(placed()), migrate(oo.StatusPending))
	thenError(t, got, err, oo.ErrAlreadyPlaced)
}

// Upstream recorded a filled order without a price at 0 and a missing
// broker order id as "unknown"; both are refused instead.
func TestMigrateRefusesMissingFillData(t *testing.T) {
	noPrice := migrate(oo.StatusFilled)
	noPrice.BrokerOrderID = ptr("42")
	_, got, err := when(given(), noPrice)
	thenError(t, got, err, oo.ErrMissingPrice)

	for _, status := range []oo.Status{oo.StatusSubmitted, oo.StatusFilled} {
		c := migrate(status)
		c.Price = ptr(dec("1"))
		if status == oo.StatusSubmitted {
			c.Price = nil
		}
		_, got, err := when(given(), c)
		thenError(t, got, err, oo.ErrMissingBrokerOrderID)
	}
}

func TestMigrateRejectsInvalidFields(t *testing.T) {
	cases := []struct {
		name, field string
		c           oo.Migrate
	}{
		{"partially filled is not a legacy status", "status", migrate(oo.StatusPartiallyFilled)},
		{"unknown status", "status", migrate("FILLED")},
		{"failed without error", "error", migrate(oo.StatusFailed)},
		{"pending with error", "error", func() oo.Migrate { c := migrate(oo.StatusPending); c.Error = "x"; return c }()},
		{"pending with broker order id", "broker_order_id", func() oo.Migrate { c := migrate(oo.StatusPending); c.BrokerOrderID = ptr("1"); return c }()},
		{"pending with price", "price", func() oo.Migrate { c := migrate(oo.StatusPending); c.Price = ptr(dec("1")); return c }()},
		{"failed with price", "price", func() oo.Migrate {
			c := migrate(oo.StatusFailed)
			c.Error, c.Price = "x", ptr(dec("1"))
			return c
		}()},
		{"blank broker order id", "broker_order_id", func() oo.Migrate { c := migrate(oo.StatusSubmitted); c.BrokerOrderID = ptr(""); return c }()},
		{"zero price", "price", func() oo.Migrate {
			c := migrate(oo.StatusFilled)
			c.BrokerOrderID, c.Price = ptr("42"), ptr(dec("0"))
			return c
		}()},
		{"zero executed_at", "executed_at", func() oo.Migrate { c := migrate(oo.StatusPending); c.ExecutedAt = &time.Time{}; return c }()},
		{"zero shares", "shares", func() oo.Migrate { c := migrate(oo.StatusPending); c.Shares = dec("0"); return c }()},
		{"no broker", "broker", func() oo.Migrate { c := migrate(oo.StatusPending); c.Broker = ""; return c }()},
		{"bad symbol", "symbol", func() oo.Migrate { c := migrate(oo.StatusPending); c.Symbol = ""; return c }()},
		{"bad direction", "direction", func() oo.Migrate { c := migrate(oo.StatusPending); c.Direction = ""; return c }()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := when(given(), tc.c)
			thenError(t, got, err, oo.ErrInvalid)
			thenField(t, err, tc.field)
		})
	}
}

func TestMigrateNormalizesExecutedAtToUTC(t *testing.T) {
	c := migrate(oo.StatusPending)
	local := executedAt.In(time.FixedZone("EST", -5*3600))
	c.ExecutedAt = &local
	_, got, err := when(given(), c)
	if err != nil {
		t.Fatal(err)
	}
	if at := got[0].(oo.Migrated).ExecutedAt; at.Location() != time.UTC || !at.Equal(executedAt) {
		t.Fatalf("executed_at %v", at)
	}
}
