package position

import (
	"testing"

	"github.com/google/uuid"
	"github.com/hedgeline/hedgeline/market"
)

func position(net string, th market.Threshold, ex market.Execution, price string) State {
	s := State{Symbol: aapl, Net: dec(net), Threshold: th, Execution: ex}
	if price != "" {
		s.LastPriceUSDC = ptr(dec(price))
	}
	return s
}

func TestReadyToHedge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		state  State
		shares string // "" = not ready
		dir    market.Direction
		kind   TriggerKind
	}{
		// FRAC (PR #246) examples.
		{"FRAC long, whole shares", position("1.212", shares("1"), schwab, "150"), "1", market.Sell, TriggerShares},
		{"FRAC short, whole shares", position("-2.567", shares("1"), schwab, "150"), "2", market.Buy, TriggerShares},
		{"FRAC fractional, $1 threshold", position("1.212", dollars("1"), alpaca, "150"), "1.212", market.Sell, TriggerDollars},

		{"flat", position("0", shares("1"), schwab, "150"), "", "", ""},
		{"shares just below", position("-0.999999", shares("1"), alpaca, "150"), "", "", ""},
		{"shares at threshold", position("-1", shares("1"), schwab, "150"), "1", market.Buy, TriggerShares},
		{"threshold met, whole quantity zero", position("0.7", shares("0.5"), schwab, "150"), "", "", ""},
		{"threshold met, fractional", position("0.7", shares("0.5"), alpaca, "150"), "0.7", market.Sell, TriggerShares},
		{"dollars without a price", position("100", dollars("1"), alpaca, ""), "", "", ""},
		{"dollars just below", position("0.999999", dollars("150"), alpaca, "150"), "", "", ""},
		{"dollars at threshold", position("1", dollars("150"), alpaca, "150"), "1", market.Sell, TriggerDollars},
		{"dollars met, whole quantity zero", position("0.5", dollars("50"), schwab, "150"), "", "", ""},
		{"pending", func() State {
			s := position("5", shares("1"), schwab, "1")
			s.Pending = &Pending{ExecutionID: "X"}
			return s
		}(), "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, dir, reason, ok := tc.state.ReadyToHedge()
			if tc.shares == "" {
				if ok {
					t.Fatalf("ready: %s %s", dir, n)
				}
				return
			}
			if !ok || !n.Equal(dec(tc.shares)) || dir != tc.dir || reason.Kind != tc.kind || !reason.NetPosition.Equal(tc.state.Net) {
				t.Fatalf("got %s %s %+v %v, want %s %s %s", dir, n, reason, ok, tc.dir, tc.shares, tc.kind)
			}
		})
	}
}

func TestDollarTriggerReason(t *testing.T) {
	_, _, r, ok := position("-1.5", dollars("200"), alpaca, "150.123456").ReadyToHedge()
	if !ok || !r.DollarValue.Equal(dec("225.185184")) || !r.PriceUSDC.Equal(dec("150.123456")) ||
		!r.ThresholdDollars.Equal(dec("200")) || !r.NetPosition.Equal(dec("-1.5")) || r.ThresholdShares != nil {
		t.Fatalf("reason %+v ok %v", r, ok)
	}
	// More than 18 fractional digits are truncated for the record only.
	_, _, r, _ = position("0.000000000000000001", dollars("0.000000000000000001"), alpaca, "1.5").ReadyToHedge()
	if r.DollarValue == nil || !r.DollarValue.Equal(dec("0.000000000000000001")) {
		t.Fatalf("dollar value %v", r.DollarValue)
	}
}

func TestHedgeDirection(t *testing.T) {
	for net, want := range map[string]market.Direction{"0.1": market.Sell, "-0.1": market.Buy, "0": ""} {
		if d, ok := HedgeDirection(dec(net)); d != want || ok != (want != "") {
			t.Errorf("HedgeDirection(%s) = %s %v", net, d, ok)
		}
	}
}

func TestExecutionID(t *testing.T) {
	id := ExecutionID(aapl, 3)
	if id != ExecutionID(aapl, 3) || id == ExecutionID(aapl, 4) || id == ExecutionID("MSFT", 3) {
		t.Fatal("execution ids must be a function of symbol and sequence")
	}
	u := uuid.MustParse(id)
	if u.Version() != 5 || u != uuid.NewSHA1(uuid.MustParse(ExecutionNamespace), []byte("AAPL:3")) {
		t.Fatalf("%s is not UUIDv5(namespace, \"AAPL:3\")", id)
	}
	// Golden: changing the derivation would re-key every hedge on replay.
	if want := "cec3e78a-5020-59fd-ad3c-78b0ac871525"; id != want {
		t.Fatalf("ExecutionID(AAPL, 3) = %s, want %s", id, want)
	}
}
