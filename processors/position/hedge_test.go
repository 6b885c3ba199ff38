package position

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

func TestPlaceOffChainOrder(t *testing.T) {
	// net +0.7 with fractional execution: below the 1-share threshold, which a
	// manual order does not need.
	below := given(initialized(shares("1"), alpaca), filled(1, market.Buy, "0.7", "150"))
	_, got, err := when(below, PlaceOffChainOrder{Symbol: aapl, Shares: dec("0.5"), Direction: market.Sell, Broker: market.Alpaca})
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 3), Symbol: aapl, Shares: dec("0.5"),
		Direction: market.Sell, Broker: market.Alpaca, ReferencePrice: ptr(dec("150")), PlacedAt: at,
		TriggerReason: TriggerReason{Kind: TriggerManual, NetPosition: dec("0.7")}})
}

func TestPlaceOffChainOrderRules(t *testing.T) {
	short := []aggregate.Event{initialized(shares("5"), schwab), filled(1, market.Sell, "2.5", "150")} // net -2.5
	order := func(n string, d market.Direction, b market.Broker) PlaceOffChainOrder {
		return PlaceOffChainOrder{Symbol: aapl, Shares: dec(n), Direction: d, Broker: b}
	}
	for _, tc := range []struct {
		name   string
		given  []aggregate.Event
		cmd    PlaceOffChainOrder
		target error
	}{
		{"pending", append(short[:2:2], placed("X", "1", market.Buy)), order("1", market.Buy, market.Schwab), ErrPendingExecution},
		{"no exposure", short[:1], order("1", market.Buy, market.Schwab), ErrNoExposure},
		{"wrong direction", short, order("1", market.Sell, market.Schwab), ErrWrongDirection},
		{"exceeds net", short, order("3", market.Buy, market.Schwab), ErrExceedsNet},
		{"fractional at a whole-share broker", short, order("1.5", market.Buy, market.Schwab), ErrFractionalShares},
		{"another broker", short, order("1", market.Buy, market.Alpaca), ErrBrokerMismatch},
		{"another symbol", short, PlaceOffChainOrder{Symbol: "MSFT", Shares: dec("1"), Direction: market.Buy, Broker: market.Schwab}, ErrSymbolMismatch},
		{"zero shares", short, order("0", market.Buy, market.Schwab), ErrInvalidCommand},
		{"negative shares", short, order("-1", market.Buy, market.Schwab), ErrInvalidCommand},
		{"no direction", short, order("1", "", market.Schwab), ErrInvalidCommand},
		{"unknown broker", short, order("1", market.Buy, "ib"), ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := when(given(tc.given...), tc.cmd)
			if !errors.Is(err, tc.target) {
				t.Fatalf("err %v, want %v", err, tc.target)
			}
		})
	}
	t.Run("pending error names the execution", func(t *testing.T) {
		_, _, err := when(given(append(short[:2:2], placed("X", "1", market.Buy))...), order("1", market.Buy, market.Schwab))
		var pe *PendingExecutionError
		if !errors.As(err, &pe) || pe.ExecutionID != "X" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("whole shares up to |net|", func(t *testing.T) {
		if _, _, err := when(given(short...), order("2", market.Buy, market.Schwab)); err != nil {
			t.Fatal(err)
		}
	})
}

// pendingBuy: net -2.5, a Buy 2 hedge X pending, threshold 1 share, whole shares.
func pendingBuy() aggregate.Lifecycle[State] {
	return given(initialized(shares("1"), schwab), filled(1, market.Sell, "2.5", "150"), placed("X", "2", market.Buy))
}

func TestCompleteOffChainOrder(t *testing.T) {
	l, got, err := when(pendingBuy(), complete("X", "2", market.Buy, "148.50"))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, OffChainOrderFilled{ExecutionID: "X", SharesFilled: dec("2"), Direction: market.Buy, BrokerOrderID: "B-X",
		Price: dec("148.5"), BrokerTimestamp: t0.Add(2 * time.Hour)})
	wantNet(t, l, "-0.5")
	s := mustLive(t, l)
	if s.Pending != nil || !s.LastUpdated.Equal(t0.Add(2*time.Hour)) || !s.HedgedShares.Equal(dec("2")) {
		t.Fatalf("pending %+v last_updated %s hedged %s", s.Pending, s.LastUpdated, s.HedgedShares)
	}
}

func TestCompletePartialFillHedgesTheRestAtOnce(t *testing.T) {
	l, got, err := when(pendingBuy(), complete("X", "0.75", market.Buy, "148.50")) // net -1.75
	if err != nil {
		t.Fatal(err)
	}
	then(t, got,
		OffChainOrderFilled{ExecutionID: "X", SharesFilled: dec("0.75"), Direction: market.Buy, BrokerOrderID: "B-X",
			Price: dec("148.5"), BrokerTimestamp: t0.Add(2 * time.Hour)},
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 5), Symbol: aapl, Shares: dec("1"), Direction: market.Buy,
			Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
			TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("-1.75"), ThresholdShares: ptr(dec("1"))}})
	if s := mustLive(t, l); s.Pending == nil || s.Pending.ExecutionID != ExecutionID(aapl, 5) || s.Pending.ExecutionID == "X" {
		t.Fatalf("pending %+v", s.Pending)
	}
}

func TestCompleteOffChainOrderRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      aggregate.Lifecycle[State]
		cmd    CompleteOffChainOrder
		target error
	}{
		{"nothing pending", given(initialized(shares("1"), schwab)), complete("X", "1", market.Buy, "1"), ErrNoPendingExecution},
		{"other execution", pendingBuy(), complete("Y", "1", market.Buy, "1"), ErrExecutionIDMismatch},
		{"other direction", pendingBuy(), complete("X", "1", market.Sell, "1"), ErrDirectionMismatch},
		{"more than pending", pendingBuy(), complete("X", "2.5", market.Buy, "1"), ErrExceedsPending},
		{"zero shares", pendingBuy(), complete("X", "0", market.Buy, "1"), ErrInvalidCommand},
		{"zero price", pendingBuy(), complete("X", "1", market.Buy, "0"), ErrInvalidCommand},
		{"no execution id", pendingBuy(), complete("", "1", market.Buy, "1"), ErrInvalidCommand},
		{"no broker order id", pendingBuy(), func() CompleteOffChainOrder { c := complete("X", "1", market.Buy, "1"); c.BrokerOrderID = ""; return c }(), ErrInvalidCommand},
		{"no broker timestamp", pendingBuy(), func() CompleteOffChainOrder {
			c := complete("X", "1", market.Buy, "1")
			c.BrokerTimestamp = time.Time{}
			return c
		}(), ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := when(tc.l, tc.cmd); !errors.Is(err, tc.target) {
				t.Fatalf("err %v, want %v", err, tc.target)
			}
		})
	}
	t.Run("mismatch names both ids", func(t *testing.T) {
		_, _, err := when(pendingBuy(), complete("Y", "1", market.Buy, "1"))
		var me *ExecutionIDMismatchError
		if !errors.As(err, &me) || me.Expected != "X" || me.Actual != "Y" {
			t.Fatalf("err %v", err)
		}
	})
}

func TestFailOffChainOrderKeepsTheExposureAndRetries(t *testing.T) {
	l, got, err := when(pendingBuy(), FailOffChainOrder{ExecutionID: "X", Error: "insufficient buying power"})
	if err != nil {
		t.Fatal(err)
	}
	then(t, got,
		OffChainOrderFailed{ExecutionID: "X", Error: "insufficient buying power", FailedAt: at},
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 5), Symbol: aapl, Shares: dec("2"), Direction: market.Buy,
			Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
			TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("-2.5"), ThresholdShares: ptr(dec("1"))}})
	wantNet(t, l, "-2.5")
}

func TestFailOffChainOrderBelowThresholdOnlyClears(t *testing.T) {
	l := given(initialized(shares("1"), alpaca), filled(1, market.Sell, "0.5", "150"), placed("X", "0.5", market.Buy))
	l, got, err := when(l, FailOffChainOrder{ExecutionID: "X", Error: "rejected"})
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, OffChainOrderFailed{ExecutionID: "X", Error: "rejected", FailedAt: at})
	if s := mustLive(t, l); s.Pending != nil || !s.Net.Equal(dec("-0.5")) {
		t.Fatalf("pending %+v net %s", s.Pending, s.Net)
	}
}

func TestFailOffChainOrderRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      aggregate.Lifecycle[State]
		cmd    FailOffChainOrder
		target error
	}{
		{"nothing pending", given(initialized(shares("1"), schwab)), FailOffChainOrder{ExecutionID: "X", Error: "e"}, ErrNoPendingExecution},
		{"other execution", pendingBuy(), FailOffChainOrder{ExecutionID: "Y", Error: "e"}, ErrExecutionIDMismatch},
		{"no error text", pendingBuy(), FailOffChainOrder{ExecutionID: "X"}, ErrInvalidCommand},
		{"no execution id", pendingBuy(), FailOffChainOrder{Error: "e"}, ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := when(tc.l, tc.cmd); !errors.Is(err, tc.target) {
				t.Fatalf("err %v, want %v", err, tc.target)
			}
		})
	}
}

func TestUpdateThreshold(t *testing.T) {
	below := given(initialized(shares("5"), schwab), filled(1, market.Buy, "2.5", "150"))
	t.Run("still below", func(t *testing.T) {
		l, got, err := when(below, UpdateThreshold{Threshold: shares("3")})
		if err != nil {
			t.Fatal(err)
		}
		then(t, got, ThresholdUpdated{OldThreshold: shares("5"), NewThreshold: shares("3"), UpdatedAt: at})
		if s := mustLive(t, l); s.Threshold.String() != "3 shares" {
			t.Fatalf("threshold %s", s.Threshold)
		}
	})
	t.Run("lowered below the exposure hedges at once", func(t *testing.T) {
		_, got, err := when(below, UpdateThreshold{Threshold: shares("2")})
		if err != nil {
			t.Fatal(err)
		}
		then(t, got,
			ThresholdUpdated{OldThreshold: shares("5"), NewThreshold: shares("2"), UpdatedAt: at},
			OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 4), Symbol: aapl, Shares: dec("2"), Direction: market.Sell,
				Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
				TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("2.5"), ThresholdShares: ptr(dec("2"))}})
	})
	t.Run("switched to dollars", func(t *testing.T) {
		_, got, err := when(below, UpdateThreshold{Threshold: dollars("300")}) // 2.5 × 150 = 375
		if err != nil {
			t.Fatal(err)
		}
		then(t, got,
			ThresholdUpdated{OldThreshold: shares("5"), NewThreshold: dollars("300"), UpdatedAt: at},
			OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 4), Symbol: aapl, Shares: dec("2"), Direction: market.Sell,
				Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
				TriggerReason: TriggerReason{Kind: TriggerDollars, NetPosition: dec("2.5"), DollarValue: ptr(dec("375")),
					PriceUSDC: ptr(dec("150")), ThresholdDollars: ptr(dec("300"))}})
	})
	t.Run("no second hedge while one is pending", func(t *testing.T) {
		_, got, err := when(pendingBuy(), UpdateThreshold{Threshold: shares("0.5")})
		if err != nil {
			t.Fatal(err)
		}
		then(t, got, ThresholdUpdated{OldThreshold: shares("1"), NewThreshold: shares("0.5"), UpdatedAt: at})
	})
	t.Run("invalid", func(t *testing.T) {
		for _, th := range []market.Threshold{{}, {Shares: ptr(dec("-1"))}, {Shares: ptr(dec("1")), Dollars: ptr(dec("1"))}} {
			if _, _, err := when(below, UpdateThreshold{Threshold: th}); !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), "threshold") {
				t.Errorf("%s: err %v", th, err)
			}
		}
	})
}
