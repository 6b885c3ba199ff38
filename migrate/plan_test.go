package migrate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/migrate/legacytest"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/shopspring/decimal"
)

var at = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func testKey(t *testing.T, hex string) brokerauth.Key {
	t.Helper()
	k, err := brokerauth.ParseKey(hex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func options(t *testing.T) Options {
	return Options{Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.Schwab),
		Key: testKey(t, legacytest.TestKey), At: at}
}

func build(t *testing.T, v legacytest.Version, lo legacytest.Options, opt Options) (*legacytest.DB, *Plan) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "legacy.db")
	gen, err := legacytest.Create(path, v, lo)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := Build(context.Background(), d, opt)
	if err != nil {
		t.Fatal(err)
	}
	return gen, p
}

func items[C any](p *Plan) map[string]C {
	out := map[string]C{}
	for _, it := range p.Items {
		if c, ok := it.Command.(C); ok {
			out[it.Table+":"+it.Row] = c
		}
	}
	return out
}

func TestBuildEverySchemaVersion(t *testing.T) {
	for _, v := range legacytest.Versions {
		for _, broken := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/broken=%v", v, broken), func(t *testing.T) {
				gen, p := build(t, v, legacytest.Options{Broken: broken}, options(t))
				s := p.Schema
				if s.Offchain != v.Offchain() || s.HasColumn(TableOnchain, "block_timestamp") != v.BlockTimestamp() ||
					s.HasColumn(TableOnchain, "pyth_price") != v.Enrichment() || s.Has(TableEventQueue) != v.EventQueue() ||
					s.Has(TableMetricsPnL) != v.MetricsPnL() || s.Has(TableSchwabAuth) != v.SchwabAuth() {
					t.Fatalf("schema %s misread: %s", v, s.Describe())
				}
				// Every row is either a command or a refusal; the refusals
				// are exactly the broken rows, each named with its reason.
				for _, table := range []string{TableOnchain, s.Offchain, TableAccumulators, TableSchwabAuth} {
					c := p.Count(table)
					if c.Rows != gen.Rows[table] || c.Commands+c.Refused != c.Rows {
						t.Errorf("%s: %+v, generator wrote %d rows", table, *c, gen.Rows[table])
					}
				}
				if len(p.Refused) != len(gen.Broken) {
					t.Errorf("refused %v, want the %d broken rows %v", p.Refused, len(gen.Broken), gen.Broken)
				}
				for _, b := range gen.Broken {
					found := false
					for _, r := range p.Refused {
						found = found || r.Table == b.Table && r.Row == b.Row && strings.Contains(r.Reason, b.Why)
					}
					if !found {
						t.Errorf("broken %s row %s (%s) not refused as such: %v", b.Table, b.Row, b.Why, p.Refused)
					}
				}
				checkPositions(t, gen, p)
				checkTrades(t, v, p)
				checkOrders(t, gen, p)
			})
		}
	}
}

func checkPositions(t *testing.T, gen *legacytest.DB, p *Plan) {
	t.Helper()
	migrates := items[position.Migrate](p)
	if len(migrates) != len(gen.Positions) {
		t.Errorf("%d position commands, want %d", len(migrates), len(gen.Positions))
	}
	for sym, ls := range gen.Positions {
		long, short := decimal.RequireFromString(ls[0]), decimal.RequireFromString(ls[1])
		c, ok := migrates[TableAccumulators+":"+sym]
		if !ok {
			t.Errorf("no Migrate for %s", sym)
			continue
		}
		if !c.AccumulatedLong.Equal(long) || !c.AccumulatedShort.Equal(short) || !c.NetPosition.Equal(long.Sub(short)) ||
			c.NetPosition.String() != long.Sub(short).String() {
			t.Errorf("%s: long %s short %s net %s, legacy %s %s", sym, c.AccumulatedLong, c.AccumulatedShort, c.NetPosition, ls[0], ls[1])
		}
		st := p.Positions[market.Symbol(sym)]
		if !st.Net.Equal(c.NetPosition) {
			t.Errorf("%s: fills moved net to %s", sym, st.Net)
		}
		if id, inflight := gen.InFlight[sym]; inflight {
			if c.Pending == nil || c.Pending.ExecutionID != OrderID(id).String() {
				t.Errorf("%s: pending %+v, want legacy order %d (%s)", sym, c.Pending, id, OrderID(id))
			}
		} else if c.Pending != nil {
			t.Errorf("%s: pending %+v, nothing in flight", sym, c.Pending)
		}
	}
	// AAPL's fills in legacy time order: three onchain, then the hedge.
	var aapl []string
	for _, it := range p.Items {
		if f, ok := it.Command.(position.RecordMigratedFill); ok && f.Symbol == "AAPL" {
			aapl = append(aapl, f.Venue+":"+f.Amount.String())
		}
	}
	if got := strings.Join(aapl, " "); got != "onchain:10 onchain:0.3 onchain:0.1 offchain:10" {
		t.Errorf("AAPL fills in order %q", got)
	}
}

func checkTrades(t *testing.T, v legacytest.Version, p *Plan) {
	t.Helper()
	trades := items[onchaintrade.Migrate](p)
	for row, c := range trades {
		n := 0
		fmt.Sscanf(strings.TrimPrefix(c.TradeID.TxHash, "0x"), "%x", &n)
		n -= 0xabc000
		if want := uint64(0); v.EventQueue() {
			want = uint64(34844164 + n)
			if c.BlockNumber != want {
				t.Errorf("%s: block %d, want the event_queue's %d", row, c.BlockNumber, want)
			}
		} else if c.BlockNumber != 0 {
			t.Errorf("%s: block %d without event_queue", row, c.BlockNumber)
		}
	}
	nvda := trades[TableOnchain+":5"]
	if nvda.PriceUSDC.String() != "0.1" || nvda.Amount.String() != "2.5" || nvda.Symbol != "NVDAs1" {
		t.Errorf("NVDA trade %+v: REAL 0.1 must stay 0.1", nvda)
	}
	aapl := trades[TableOnchain+":1"]
	if !aapl.BlockTimestamp.Equal(time.Date(2025, 11, 4, 14, 30, 1, 0, time.UTC)) {
		t.Errorf("block timestamp %v", aapl.BlockTimestamp)
	}
	if v.Enrichment() {
		if aapl.GasUsed == nil || *aapl.GasUsed != 150001 || aapl.EffectiveGasPrice == nil || *aapl.EffectiveGasPrice != 1000001 ||
			aapl.PythPrice == nil || aapl.PythPrice.Value != "15011000" || aapl.PythPrice.Expo != -5 || aapl.PythPrice.Conf != "21005" {
			t.Errorf("enrichment lost: %+v %+v", aapl, aapl.PythPrice)
		}
		if tr := trades[TableOnchain+":2"]; tr.GasUsed != nil || tr.PythPrice != nil {
			t.Errorf("NULL enrichment became %+v", tr)
		}
	} else if aapl.GasUsed != nil || aapl.PythPrice != nil {
		t.Errorf("enrichment from nowhere: %+v", aapl)
	}
}

func checkOrders(t *testing.T, gen *legacytest.DB, p *Plan) {
	t.Helper()
	orders := items[offchainorder.Migrate](p)
	want := map[string]offchainorder.Status{"1": offchainorder.StatusFilled, "2": offchainorder.StatusFailed,
		"3": offchainorder.StatusSubmitted, "4": offchainorder.StatusPending}
	for row, st := range want {
		c, ok := orders[gen.Version.Offchain()+":"+row]
		if !ok || c.Status != st {
			t.Errorf("order %s: %+v, want status %s", row, c, st)
		}
	}
	if c := orders[gen.Version.Offchain()+":1"]; c.Price == nil || c.Price.String() != "150.5" || c.BrokerOrderID == nil || *c.BrokerOrderID != "1004055538153" {
		t.Errorf("filled order %+v", c)
	}
}

func TestDeterministic(t *testing.T) {
	_, a := build(t, legacytest.V2025_10, legacytest.Options{}, options(t))
	_, b := build(t, legacytest.V2025_10, legacytest.Options{}, options(t))
	if len(a.Items) != len(b.Items) {
		t.Fatalf("%d then %d items", len(a.Items), len(b.Items))
	}
	ids := map[string]bool{}
	for i := range a.Items {
		x, y := a.Items[i].Record, b.Items[i].Record
		if x.Topic != y.Topic || !bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) {
			t.Fatalf("item %d differs:\n%s\n%s", i, x.Value, y.Value)
		}
		if ids[a.Items[i].CommandID] {
			t.Fatalf("command id %s twice", a.Items[i].CommandID)
		}
		ids[a.Items[i].CommandID] = true
	}
	if a, b := OrderID(7), OrderID(7); a != b || a == OrderID(8) || a.Version() != 5 {
		t.Fatal("order ids are not UUID v5 of the legacy id")
	}
}

func TestTokensReencryptedOnlyWhenTheKeyChanged(t *testing.T) {
	legacy := testKey(t, legacytest.TestKey)
	other := testKey(t, strings.Repeat("ab", 32))
	plain := func(p *Plan, key brokerauth.Key) (string, string, []byte) {
		c := items[brokerauth.Migrate](p)[TableSchwabAuth+":1"]
		a, err1 := brokerauth.Decrypt(key, c.AccessToken)
		r, err2 := brokerauth.Decrypt(key, c.RefreshToken)
		if err1 != nil || err2 != nil {
			t.Fatalf("tokens do not open under the configured key: %v %v", err1, err2)
		}
		return a, r, c.AccessToken
	}
	// Same key: the legacy ciphertext is kept byte for byte.
	_, same := build(t, legacytest.V2025_10, legacytest.Options{}, options(t))
	a, r, ct := plain(same, legacy)
	if a != legacytest.AccessToken || r != legacytest.RefreshToken {
		t.Fatal("tokens changed")
	}
	// Key changed: re-encrypted under the new key.
	opt := options(t)
	opt.Key, opt.LegacyKey = other, legacy
	_, moved := build(t, legacytest.V2025_10, legacytest.Options{}, opt)
	a, r, ct2 := plain(moved, other)
	if a != legacytest.AccessToken || r != legacytest.RefreshToken || bytes.Equal(ct, ct2) {
		t.Fatal("tokens not re-encrypted")
	}
	// Key changed and the legacy key not given: refused, named.
	opt.LegacyKey = brokerauth.Key{}
	_, refused := build(t, legacytest.V2025_10, legacytest.Options{}, opt)
	if len(refused.Refused) != 1 || refused.Refused[0].Table != TableSchwabAuth || !strings.Contains(refused.Refused[0].Reason, "legacy bot's key") {
		t.Fatalf("refused %v", refused.Refused)
	}
}

func TestDecimalShortestRoundTrip(t *testing.T) {
	a, b := 150.1, 149.0 // a runtime float difference, not a constant
	for in, want := range map[any]string{0.1: "0.1", 0.3: "0.3", a - b: "1.0999999999999943", 1e-7: "0.0000001",
		int64(42): "42", "12.50": "12.5", 2.5: "2.5"} {
		d, err := Decimal(in)
		if err != nil || d.String() != want {
			t.Errorf("Decimal(%v) = %s %v, want %s", in, d, err, want)
		}
	}
	if _, err := Decimal(nil); err == nil {
		t.Error("NULL read as a number")
	}
}

// TestBuildWithHedges: a volume of fills with the legacy bot's hedges,
// each in its legacy time order, nets exactly to the accumulator.
func TestBuildWithHedges(t *testing.T) {
	gen, p := build(t, legacytest.V2026_01, legacytest.Options{ExtraTrades: 300}, options(t))
	if len(p.Refused) != 0 {
		t.Fatalf("refused %v", p.Refused)
	}
	fills := p.Count(TableFills).Commands
	if want := gen.Rows[TableOnchain] + gen.Rows[TableOffchain] - 3; fills != want { // 3 orders are not fills
		t.Errorf("%d fills, want %d", fills, want)
	}
	checkPositions(t, gen, p)
	// Each MSFT hedge comes right after the fill that triggered it.
	var last time.Time
	for _, it := range p.Items {
		if f, ok := it.Command.(position.RecordMigratedFill); ok && f.Symbol == "MSFT" {
			if f.At.Before(last) {
				t.Fatalf("fill %s at %v before %v", it.Row, f.At, last)
			}
			last = f.At
		}
	}
}

func TestTimeFormats(t *testing.T) {
	want := time.Date(2025, 11, 4, 14, 30, 1, 123000000, time.UTC)
	for _, in := range []any{"2025-11-04T14:30:01.123Z", "2025-11-04 14:30:01.123+00:00", "2025-11-04 15:30:01.123+01:00",
		"2025-11-04 14:30:01.123", want.In(time.FixedZone("x", 3600))} {
		got, ok, err := Time(in)
		if err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Time(%v) = %v %v %v", in, got, ok, err)
		}
	}
	if _, ok, err := Time(nil); ok || err != nil {
		t.Error("NULL is no time and no error")
	}
	if _, _, err := Time("yesterday"); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Errorf("bad timestamp: %v", err)
	}
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database at all, just bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk file opened: %v", err)
	}
	if _, err := Open(context.Background(), filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a missing file opened (read-only must not create it)")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("opening created the file")
	}
}
