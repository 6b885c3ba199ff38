package onchaintrade_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/shopspring/decimal"
)

// meta is the fixed metadata every command in these tests carries.
var meta = aggregate.Meta{CommandID: "cmd-1", At: time.Date(2025, 12, 24, 12, 0, 0, 0, time.UTC)}

// The tSPLG TakeOrderV3 vector (DOMAIN 6.6 #1): the order gave 2.0 tSPLG and
// received 160.15507752 USDC, so the bot sold 2 shares at 80.07753876.
const splgTx = "0xf05d240c99c7c3f8d4562130f655d2b571b1b82643b621987bed3d8aabab304d"

var (
	blockTime = time.Date(2025, 12, 1, 15, 30, 0, 0, time.UTC)
	splgID    = market.TradeID{TxHash: splgTx, LogIndex: 3}
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func u64(v uint64) *uint64 { return &v }

func witnessSPLG() ot.Witness {
	return ot.Witness{
		TradeID: splgID, Symbol: "tSPLG", Amount: dec("2.0"), Direction: market.Sell,
		PriceUSDC: dec("80.07753876"), BlockNumber: 38_000_000, BlockTimestamp: blockTime,
	}
}

func filledSPLG() ot.Filled {
	return ot.Filled{
		TradeID: splgID, Symbol: "tSPLG", BaseSymbol: "SPLG", Amount: dec("2.0"),
		Direction: market.Sell, PriceUSDC: dec("80.07753876"), BlockNumber: 38_000_000,
		BlockTimestamp: blockTime, FilledAt: meta.At,
	}
}

// coinPyth is DOMAIN 6.6 #4: 15_445_005 × 10^-5 = 154.45005 ± 0.21005.
func coinPyth() *market.PythPrice {
	return &market.PythPrice{Value: "15445005", Expo: -5, Conf: "21005", PublishTime: time.Unix(1_781_166_017, 0).UTC()}
}

func migrateSPLG() ot.Migrate {
	return ot.Migrate{
		TradeID: splgID, Symbol: "tSPLG", Amount: dec("2.0"), Direction: market.Sell,
		PriceUSDC: dec("80.07753876"), BlockTimestamp: blockTime,
	}
}

func migratedSPLG() ot.Migrated {
	return ot.Migrated{
		TradeID: splgID, Symbol: "tSPLG", BaseSymbol: "SPLG", Amount: dec("2.0"),
		Direction: market.Sell, PriceUSDC: dec("80.07753876"), BlockTimestamp: blockTime,
		MigratedAt: meta.At,
	}
}

func enrichedCOIN() ot.Enriched {
	return ot.Enriched{GasUsed: 182_311, EffectiveGasPrice: 6_000_000, PythPrice: coinPyth(), EnrichedAt: meta.At}
}

// given folds prior events into a lifecycle.
func given(events ...aggregate.Event) aggregate.Lifecycle[ot.State] {
	return aggregate.Replay(ot.Definition, events)
}

// when runs one command with the fixed metadata.
func when(l aggregate.Lifecycle[ot.State], c aggregate.Command) (aggregate.Lifecycle[ot.State], []aggregate.Event, error) {
	return aggregate.Execute(ot.Definition, l, c, meta)
}

// thenEvents compares events by type name and JSON, which is what is
// recorded (decimals compare by value that way: "2.0" and "2" are equal).
func thenEvents(t *testing.T, got []aggregate.Event, err error, want ...aggregate.Event) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if g, w := render(t, got), render(t, want); g != w {
		t.Fatalf("events:\n got %s\nwant %s", g, w)
	}
}

// thenError checks the command was refused with target.
func thenError(t *testing.T, got []aggregate.Event, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	if got != nil {
		t.Fatalf("refused command returned events %v", got)
	}
}

// thenField checks the command was refused for the named field.
func thenField(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, ot.ErrInvalid) {
		t.Fatalf("error = %v, want ErrInvalid", err)
	}
	if !hasField(err, field) {
		t.Fatalf("error %q does not name field %s", err, field)
	}
}

func hasField(err error, field string) bool {
	var fe *ot.FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasField(e, field) {
				return true
			}
		}
	}
	return false
}

func render(t *testing.T, events []aggregate.Event) string {
	t.Helper()
	type typed struct {
		Type    string          `json:"type"`
		Payload aggregate.Event `json:"payload"`
	}
	out := make([]typed, len(events))
	for i, e := range events {
		out[i] = typed{e.EventType(), e}
	}
	return mustJSON(t, out)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func thenState(t *testing.T, l aggregate.Lifecycle[ot.State], want ot.State) {
	t.Helper()
	if l.Status != aggregate.Live {
		t.Fatalf("status = %q (%s), want live", l.Status, l.Failure)
	}
	if g, w := mustJSON(t, l.State), mustJSON(t, want); g != w {
		t.Fatalf("state:\n got %s\nwant %s", g, w)
	}
}
