package onchaintrade_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

// thenFailed checks the events failed the trade with a reason containing
// want, keeping the last valid state.
func thenFailed(t *testing.T, l aggregate.Lifecycle[ot.State], want string, last ot.State) {
	t.Helper()
	if l.Status != aggregate.Failed || !strings.Contains(l.Failure, want) {
		t.Fatalf("status %q failure %q, want failed with %q", l.Status, l.Failure, want)
	}
	if g, w := mustJSON(t, l.State), mustJSON(t, last); g != w {
		t.Fatalf("last valid state:\n got %s\nwant %s", g, w)
	}
}

func TestEvolveGenesisOnLiveTradeFailsIt(t *testing.T) {
	filled := given(filledSPLG()).State
	thenFailed(t, given(filledSPLG(), filledSPLG()), "already initialized", filled)
	thenFailed(t, given(filledSPLG(), migratedSPLG()), "already initialized", filled)
	thenFailed(t, given(migratedSPLG(), filledSPLG()), "already initialized", given(migratedSPLG()).State)
}

func TestEvolveEnrichedBeforeFillFailsTheTrade(t *testing.T) {
	l := given(enrichedCOIN())
	thenFailed(t, l, "uninitialized", ot.State{})
}

func TestEvolveEnrichedTwiceFailsTheTrade(t *testing.T) {
	enriched := given(filledSPLG(), enrichedCOIN()).State
	l := given(filledSPLG(), enrichedCOIN(), enrichedCOIN())
	thenFailed(t, l, ot.ErrAlreadyEnriched.Error(), enriched)
	if l.Version != 3 {
		t.Fatalf("version %d", l.Version)
	}
}

func TestEvolveRevalidatesEvents(t *testing.T) {
	cases := []struct {
		name, reason string
		event        aggregate.Event
	}{
		{"base symbol does not match", "base_symbol", func() aggregate.Event { e := filledSPLG(); e.BaseSymbol = "AAPL"; return e }()},
		{"uppercase trade id", "lowercase", func() aggregate.Event {
			e := filledSPLG()
			e.TradeID.TxHash = "0x" + strings.ToUpper(splgTx[2:])
			return e
		}()},
		{"zero amount", "amount", func() aggregate.Event { e := filledSPLG(); e.Amount = dec("0"); return e }()},
		{"filled block zero", "block_number", func() aggregate.Event { e := filledSPLG(); e.BlockNumber = 0; return e }()},
		{"no filled_at", "filled_at", func() aggregate.Event { e := filledSPLG(); e.FilledAt = time.Time{}; return e }()},
		{"migrated without migrated_at", "migrated_at", func() aggregate.Event { e := migratedSPLG(); e.MigratedAt = time.Time{}; return e }()},
		{"migrated with zero gas", "gas_used", func() aggregate.Event { e := migratedSPLG(); e.GasUsed = u64(0); return e }()},
		{"migrated tokenized symbol missing", "symbol", func() aggregate.Event { e := migratedSPLG(); e.Symbol = "SPLG"; return e }()},
		{"unknown event", "unknown event", unknownEvent{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			thenFailed(t, given(tc.event), tc.reason, ot.State{})
		})
	}
}

func TestEvolveEnrichedIsRevalidated(t *testing.T) {
	bad := enrichedCOIN()
	bad.EffectiveGasPrice = 0
	thenFailed(t, given(filledSPLG(), bad), "effective_gas_price", given(filledSPLG()).State)
	noTime := enrichedCOIN()
	noTime.EnrichedAt = time.Time{}
	thenFailed(t, given(filledSPLG(), noTime), "enriched_at", given(filledSPLG()).State)
}

func TestEvolveFailedTradeIgnoresLaterEventsButCountsThem(t *testing.T) {
	l := given(enrichedCOIN(), filledSPLG(), enrichedCOIN())
	if l.Status != aggregate.Failed || l.Version != 3 {
		t.Fatalf("status %q version %d", l.Status, l.Version)
	}
}

func TestReplayEqualsExecute(t *testing.T) {
	l1, e1, err := when(given(), witnessSPLG())
	if err != nil {
		t.Fatal(err)
	}
	l2, e2, err := when(l1, enrichCOIN())
	if err != nil {
		t.Fatal(err)
	}
	replayed := given(append(e1, e2...)...)
	if mustJSON(t, replayed) != mustJSON(t, l2) {
		t.Fatalf("replay %+v != execute %+v", replayed, l2)
	}
}

type unknownEvent struct{}

func (unknownEvent) EventType() string { return "OnChainTradeEvent::Acknowledged" }
