package position

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// seen is the event a fill command emits: seen at the command's time.
func seen(e OnChainOrderFilled) OnChainOrderFilled { e.SeenAt = at; return e }

func TestAcknowledgeOnChainFillOpensThePosition(t *testing.T) {
	_, got, err := when(given(), fill(1, market.Sell, "0.3", "150").opening(shares("1"), schwab))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got,
		Initialized{Symbol: aapl, Threshold: shares("1"), Execution: schwab, InitializedAt: at},
		seen(filled(1, market.Sell, "0.3", "150")))
}

func TestAcknowledgeOnChainFillOpensAndHedgesAtOnce(t *testing.T) {
	_, got, err := when(given(), fill(1, market.Buy, "2.5", "150").opening(shares("1"), schwab))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got,
		Initialized{Symbol: aapl, Threshold: shares("1"), Execution: schwab, InitializedAt: at},
		seen(filled(1, market.Buy, "2.5", "150")),
		OffChainOrderPlaced{ExecutionID: ExecutionID(aapl, 3), Symbol: aapl, Shares: dec("2"), Direction: market.Sell,
			Broker: market.Schwab, ReferencePrice: ptr(dec("150")), PlacedAt: at,
			TriggerReason: TriggerReason{Kind: TriggerShares, NetPosition: dec("2.5"), ThresholdShares: ptr(dec("1"))}})
}

func TestAcknowledgeOnChainFillWithoutConfigCannotOpen(t *testing.T) {
	_, _, err := when(given(), fill(1, market.Sell, "0.3", "150"))
	if !errors.Is(err, aggregate.ErrUninitialized) {
		t.Fatalf("err %v, want ErrUninitialized", err)
	}
}

func TestAcknowledgeOnChainFillBelowThreshold(t *testing.T) {
	l, got, err := when(given(initialized(shares("1"), schwab), filled(1, market.Sell, "0.3", "150")),
		fill(2, market.Sell, "0.5", "151"))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, seen(filled(2, market.Sell, "0.5", "151")))
	s := mustLive(t, l)
	if !s.Net.Equal(dec("-0.8")) || !s.AccumulatedShort.Equal(dec("0.8")) || !s.AccumulatedLong.IsZero() {
		t.Fatalf("net %s long %s short %s", s.Net, s.AccumulatedLong, s.AccumulatedShort)
	}
	if s.LastFill == nil || s.LastFill.BlockNumber != 2 || s.LastFill.TradeID != trade(2) || !s.LastPriceUSDC.Equal(dec("151")) {
		t.Fatalf("watermark %+v price %v", s.LastFill, s.LastPriceUSDC)
	}
}

func TestAcknowledgeOnChainFillAppliesWhilePending(t *testing.T) {
	l, got, err := when(given(initialized(shares("1"), schwab), filled(1, market.Sell, "2", "150"),
		placed("X", "2", market.Buy)), fill(2, market.Sell, "3", "150"))
	if err != nil {
		t.Fatal(err)
	}
	then(t, got, seen(filled(2, market.Sell, "3", "150")))
	wantNet(t, l, "-5")
}

func TestAcknowledgeOnChainFillCountsEveryTokenTowardsTheBase(t *testing.T) {
	for _, sym := range []string{"tAAPL", "AAPL0x", "AAPLs1", "AAPL"} {
		t.Run(sym, func(t *testing.T) {
			c := fill(2, market.Buy, "0.1", "150")
			c.Symbol = sym
			if _, _, err := when(given(initialized(shares("1"), schwab)), c); err != nil {
				t.Fatal(err)
			}
		})
	}
	c := fill(2, market.Buy, "0.1", "150")
	c.Symbol = "tMSFT"
	if _, _, err := when(given(initialized(shares("1"), schwab)), c); !errors.Is(err, ErrSymbolMismatch) {
		t.Fatalf("err %v, want ErrSymbolMismatch", err)
	}
}

func TestAcknowledgeOnChainFillIgnoresConfigOnceOpen(t *testing.T) {
	l, _, err := when(given(initialized(shares("1"), schwab)), fill(1, market.Buy, "0.1", "1").opening(shares("5"), alpaca))
	if err != nil {
		t.Fatal(err)
	}
	if s := mustLive(t, l); s.Threshold.String() != "1 shares" || s.Execution != schwab {
		t.Fatalf("config changed: %s %+v", s.Threshold, s.Execution)
	}
}

func TestAcknowledgeOnChainFillNormalizesTheTradeID(t *testing.T) {
	c := fill(1, market.Buy, "0.1", "1")
	c.TradeID.TxHash = "0x" + strings.Repeat("AB", 32)
	_, got, err := when(given(initialized(shares("1"), schwab)), c)
	if err != nil {
		t.Fatal(err)
	}
	if id := got[0].(OnChainOrderFilled).TradeID.TxHash; id != strings.ToLower(c.TradeID.TxHash) {
		t.Fatalf("tx hash %s not canonical", id)
	}
}

func TestAcknowledgeOnChainFillRejectsDuplicates(t *testing.T) {
	history := given(initialized(shares("1"), schwab), filled(5, market.Buy, "0.1", "150")) // block 5, log 1
	at := func(block, log uint64) AcknowledgeOnChainFill {
		c := fill(block, market.Buy, "0.1", "150")
		c.TradeID.LogIndex = log
		return c
	}
	for _, tc := range []struct {
		name string
		cmd  AcknowledgeOnChainFill
		ok   bool
	}{
		{"same trade again", fill(5, market.Buy, "0.1", "150"), false},
		{"same position, other tx", func() AcknowledgeOnChainFill { c := at(5, 1); c.TradeID.TxHash = tx(99); return c }(), false},
		{"earlier block", at(4, 7), false},
		{"same block, earlier log", at(5, 0), false},
		{"same block, later log", at(5, 2), true},
		{"later block, lower log", at(6, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := when(history, tc.cmd)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var dup *DuplicateTradeError
			if !errors.As(err, &dup) || !errors.Is(err, ErrDuplicateTrade) {
				t.Fatalf("err %v, want *DuplicateTradeError", err)
			}
			if dup.TradeID != tc.cmd.TradeID || dup.Watermark.BlockNumber != 5 || dup.Watermark.LogIndex != 1 || dup.Watermark.TradeID != trade(5) {
				t.Fatalf("error details %+v", dup)
			}
			if !strings.Contains(err.Error(), "already applied or out of chain order") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestAcknowledgeOnChainFillValidatesFields(t *testing.T) {
	bad := shares("1")
	bad.Shares = ptr(decimal.Zero)
	for _, tc := range []struct {
		field string
		edit  func(*AcknowledgeOnChainFill)
	}{
		{"symbol", func(c *AcknowledgeOnChainFill) { c.Symbol = "" }},
		{"symbol", func(c *AcknowledgeOnChainFill) { c.Symbol = "taapl" }},
		{"trade_id", func(c *AcknowledgeOnChainFill) { c.TradeID.TxHash = "0x12" }},
		{"amount", func(c *AcknowledgeOnChainFill) { c.Amount = decimal.Zero }},
		{"amount", func(c *AcknowledgeOnChainFill) { c.Amount = dec("-1") }},
		{"amount", func(c *AcknowledgeOnChainFill) { c.Amount = dec("0.0000000000000000001") }},
		{"direction", func(c *AcknowledgeOnChainFill) { c.Direction = "" }},
		{"price_usdc", func(c *AcknowledgeOnChainFill) { c.PriceUSDC = decimal.Zero }},
		{"block_timestamp", func(c *AcknowledgeOnChainFill) { c.BlockTimestamp = time.Time{} }},
		{"threshold", func(c *AcknowledgeOnChainFill) { c.Threshold = &bad }},
		{"execution.broker", func(c *AcknowledgeOnChainFill) { c.Execution = &market.Execution{Broker: "ib"} }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := fill(2, market.Buy, "1", "150")
			tc.edit(&c)
			_, _, err := when(given(initialized(shares("1"), schwab)), c)
			if !errors.Is(err, ErrInvalidCommand) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err %v, want ErrInvalidCommand naming %s", err, tc.field)
			}
		})
	}
}
