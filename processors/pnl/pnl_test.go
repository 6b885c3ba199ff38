package pnl

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var t0 = time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)

func fill(seq uint64, v Venue, dir market.Direction, qty, price string) Fill {
	return Fill{
		Venue: v, Direction: dir, Quantity: d(qty), Price: d(price),
		Sequence: seq, OccurredAt: t0.Add(time.Duration(seq) * time.Minute),
	}
}

// applyAll applies fills in order and fails the test on any error.
func applyAll(t *testing.T, b Book, fills ...Fill) (Book, []Record) {
	t.Helper()
	var recs []Record
	for _, f := range fills {
		var r Record
		var err error
		b, r, err = b.Apply(f)
		if err != nil {
			t.Fatalf("Apply(%+v): %v", f, err)
		}
		recs = append(recs, r)
	}
	return b, recs
}

// DOMAIN.md s.5.1, worked example 1 (README "Market Making tAAPL").
func TestWorkedExampleTAAPL(t *testing.T) {
	rows := []struct {
		venue              Venue
		dir                market.Direction
		qty, price         string
		realized, cum, net string
		opened             bool
		lotsAfter          int
		lotDirAfter        market.Direction
	}{
		{Onchain, market.Sell, "0.3", "150.00", "0", "0", "-0.3", true, 1, market.Sell},
		{Onchain, market.Sell, "0.4", "151.00", "0", "0", "-0.7", true, 2, market.Sell},
		{Onchain, market.Buy, "0.2", "148.00", "0.40", "0.40", "-0.5", false, 2, market.Sell},
		{Onchain, market.Sell, "0.6", "149.00", "0", "0.40", "-1.1", true, 3, market.Sell},
		{Offchain, market.Buy, "1.0", "148.50", "1.40", "1.80", "-0.1", false, 1, market.Sell},
		{Onchain, market.Buy, "1.5", "147.50", "0.15", "1.95", "1.4", false, 1, market.Buy},
		{Offchain, market.Sell, "1.0", "149.00", "1.50", "3.45", "0.4", false, 1, market.Buy},
	}
	b := NewBook("AAPL")
	for i, row := range rows {
		seq := uint64(i + 1)
		next, rec, err := b.Apply(fill(seq, row.venue, row.dir, row.qty, row.price))
		if err != nil {
			t.Fatalf("row %d: %v", seq, err)
		}
		for _, c := range []struct {
			name      string
			got, want decimal.Decimal
		}{
			{"realized", rec.RealizedPnL, d(row.realized)},
			{"cumulative", rec.CumulativePnL, d(row.cum)},
			{"net after", rec.NetPositionAfter, d(row.net)},
			{"book cumulative", next.Cumulative, d(row.cum)},
			{"book net", next.Net(), d(row.net)},
		} {
			if !c.got.Equal(c.want) {
				t.Errorf("row %d %s = %s, want %s", seq, c.name, c.got, c.want)
			}
		}
		if rec.Opened != row.opened {
			t.Errorf("row %d opened = %v, want %v", seq, rec.Opened, row.opened)
		}
		if len(next.Lots) != row.lotsAfter || next.Lots[0].Direction != row.lotDirAfter {
			t.Errorf("row %d lots = %+v, want %d %s lots", seq, next.Lots, row.lotsAfter, row.lotDirAfter)
		}
		if rec.Symbol != "AAPL" || rec.Venue != row.venue || rec.Direction != row.dir ||
			rec.PositionSequence != seq || next.LastSequence != seq ||
			!rec.OccurredAt.Equal(t0.Add(time.Duration(seq)*time.Minute)) {
			t.Errorf("row %d record header = %+v", seq, rec)
		}
		b = next
	}
	// Row 6 reversed the position: the remaining lot is the 1.4 long opened
	// at 147.50, of which row 7 closed 1.0.
	want := []Lot{{Direction: market.Buy, Quantity: d("0.4"), Price: d("147.50")}}
	if !lotsEqual(b.Lots, want) {
		t.Fatalf("final lots = %+v, want %+v", b.Lots, want)
	}
}

func lotsEqual(a, b []Lot) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Direction != b[i].Direction || !a[i].Quantity.Equal(b[i].Quantity) || !a[i].Price.Equal(b[i].Price) {
			return false
		}
	}
	return true
}

func TestReversalShortToLong(t *testing.T) {
	b, recs := applyAll(t, NewBook("NVDA"),
		fill(1, Onchain, market.Sell, "1", "180"),
		fill(2, Onchain, market.Sell, "2", "182"),
		fill(3, Offchain, market.Buy, "5", "181"), // closes 3 short, opens 2 long
	)
	// (180-181)*1 + (182-181)*2 = 1
	if r := recs[2]; !r.RealizedPnL.Equal(d("1")) || r.Opened || !r.NetPositionAfter.Equal(d("2")) {
		t.Fatalf("reversal record = %+v", r)
	}
	want := []Lot{{Direction: market.Buy, Quantity: d("2"), Price: d("181")}}
	if !lotsEqual(b.Lots, want) {
		t.Fatalf("lots = %+v, want %+v", b.Lots, want)
	}
	// The reversed lot is closed at its own price: no P&L.
	b, recs = applyAll(t, b, fill(4, Onchain, market.Sell, "2", "181"))
	if r := recs[0]; !r.RealizedPnL.IsZero() || r.Opened || !r.NetPositionAfter.IsZero() {
		t.Fatalf("close at cost = %+v", r)
	}
	if len(b.Lots) != 0 {
		t.Fatalf("lots = %+v", b.Lots)
	}
}

func TestReversalLongToShortLoss(t *testing.T) {
	_, recs := applyAll(t, NewBook("TSLA"),
		fill(1, Onchain, market.Buy, "0.5", "345.10"),
		fill(2, Onchain, market.Sell, "0.75", "344.90"),
	)
	if r := recs[1]; !r.RealizedPnL.Equal(d("-0.1")) || !r.NetPositionAfter.Equal(d("-0.25")) {
		t.Fatalf("record = %+v", r)
	}
}

func TestExactCloseToZero(t *testing.T) {
	b, recs := applyAll(t, NewBook("MSFT"),
		fill(1, Onchain, market.Buy, "0.1234", "510.25"),
		fill(2, Onchain, market.Buy, "0.0766", "509.75"),
		fill(3, Offchain, market.Sell, "0.2", "511"),
	)
	r := recs[2]
	// 0.75*0.1234 + 1.25*0.0766 = 0.09255 + 0.09575
	if !r.RealizedPnL.Equal(d("0.1883")) || !r.NetPositionAfter.IsZero() || r.NetPositionAfter.String() != "0" {
		t.Fatalf("record = %+v", r)
	}
	if len(b.Lots) != 0 || !b.Net().IsZero() {
		t.Fatalf("book not flat: %+v", b)
	}
	// From flat, the next fill opens regardless of direction.
	_, recs = applyAll(t, b, fill(4, Onchain, market.Sell, "1", "500"))
	if !recs[0].Opened || !recs[0].RealizedPnL.IsZero() || !recs[0].CumulativePnL.Equal(d("0.1883")) {
		t.Fatalf("open after flat = %+v", recs[0])
	}
}

func TestPartialLotKeepsCostBasisAndOrder(t *testing.T) {
	b, _ := applyAll(t, NewBook("GOOG"),
		fill(1, Onchain, market.Buy, "1", "240"),
		fill(2, Onchain, market.Buy, "1", "241"),
		fill(3, Onchain, market.Buy, "1", "242"),
		fill(4, Onchain, market.Sell, "1.5", "243"),
	)
	want := []Lot{
		{Direction: market.Buy, Quantity: d("0.5"), Price: d("241")},
		{Direction: market.Buy, Quantity: d("1"), Price: d("242")},
	}
	if !lotsEqual(b.Lots, want) || !b.Cumulative.Equal(d("4")) {
		t.Fatalf("book = %+v", b)
	}
}

func TestInvalidInputs(t *testing.T) {
	base, _ := applyAll(t, NewBook("AAPL"), fill(1, Onchain, market.Buy, "1", "228"))
	good := fill(2, Onchain, market.Sell, "1", "229")
	cases := []struct {
		name    string
		mutate  func(*Fill)
		want    error
		mention string
	}{
		{"zero quantity", func(f *Fill) { f.Quantity = d("0") }, ErrInvalidQuantity, "0"},
		{"negative quantity", func(f *Fill) { f.Quantity = d("-1.5") }, ErrInvalidQuantity, "-1.5"},
		{"quantity too precise", func(f *Fill) { f.Quantity = d("0.0000000000000000001") }, ErrInvalidQuantity, "0.0000000000000000001"},
		{"zero price", func(f *Fill) { f.Price = d("0") }, ErrInvalidPrice, "0"},
		{"negative price", func(f *Fill) { f.Price = d("-228.5") }, ErrInvalidPrice, "-228.5"},
		{"huge price", func(f *Fill) { f.Price = d("1e21") }, ErrInvalidPrice, "1000000000000000000000"},
		{"venue", func(f *Fill) { f.Venue = "dex" }, ErrInvalidVenue, `"dex"`},
		{"direction", func(f *Fill) { f.Direction = "BUY" }, ErrInvalidDirection, `"BUY"`},
		{"no time", func(f *Fill) { f.OccurredAt = time.Time{} }, ErrMissingTime, ""},
		{"same sequence", func(f *Fill) { f.Sequence = 1 }, ErrAlreadyApplied, "seq 1"},
		{"older sequence", func(f *Fill) { f.Sequence = 0 }, ErrAlreadyApplied, "seq 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := good
			c.mutate(&f)
			got, rec, err := base.Apply(f)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), "AAPL") {
				t.Fatalf("error %q does not name %q and the symbol", err, c.mention)
			}
			if !reflect.DeepEqual(got, base) || !reflect.DeepEqual(rec, Record{}) {
				t.Fatalf("failed Apply changed state: %+v %+v", got, rec)
			}
		})
	}
}

func TestOutOfRangeResult(t *testing.T) {
	// 18 fractional digits in price and quantity: the product needs 36.
	b, _ := applyAll(t, NewBook("AAPL"), fill(1, Onchain, market.Buy, "0.000000000000000001", "1"))
	_, _, err := b.Apply(fill(2, Onchain, market.Sell, "0.000000000000000001", "1.000000000000000001"))
	if !errors.Is(err, market.ErrOutOfRange) {
		t.Fatalf("err = %v, want ErrOutOfRange", err)
	}
	// Cumulative overflow.
	b = Book{Symbol: "AAPL", Cumulative: d("99999999999999999999"), LastSequence: 1,
		Lots: []Lot{{Direction: market.Buy, Quantity: d("1"), Price: d("1")}}}
	_, _, err = b.Apply(fill(2, Onchain, market.Sell, "1", "3"))
	if !errors.Is(err, market.ErrOutOfRange) || !strings.Contains(err.Error(), "cumulative") {
		t.Fatalf("err = %v, want cumulative ErrOutOfRange", err)
	}
}

func TestInvalidBook(t *testing.T) {
	f := fill(9, Onchain, market.Buy, "1", "1")
	for name, b := range map[string]Book{
		"no symbol":       {Lots: []Lot{}},
		"mixed lots":      {Symbol: "AAPL", Lots: []Lot{{Direction: market.Buy, Quantity: d("1"), Price: d("1")}, {Direction: market.Sell, Quantity: d("1"), Price: d("1")}}},
		"zero lot":        {Symbol: "AAPL", Lots: []Lot{{Direction: market.Buy, Quantity: d("0"), Price: d("1")}}},
		"bad direction":   {Symbol: "AAPL", Lots: []Lot{{Direction: "Hold", Quantity: d("1"), Price: d("1")}}},
		"negative price":  {Symbol: "AAPL", Lots: []Lot{{Direction: market.Sell, Quantity: d("1"), Price: d("-1")}}},
		"huge cumulative": {Symbol: "AAPL", Cumulative: d("1e20")},
	} {
		if _, _, err := b.Apply(f); !errors.Is(err, ErrInvalidBook) {
			t.Errorf("%s: err = %v, want ErrInvalidBook", name, err)
		}
	}
}

func TestCopyOnWrite(t *testing.T) {
	// Lots with spare capacity: an append-in-place bug would show here.
	lots := make([]Lot, 2, 8)
	lots[0] = Lot{Direction: market.Buy, Quantity: d("1"), Price: d("100")}
	lots[1] = Lot{Direction: market.Buy, Quantity: d("2"), Price: d("101")}
	old := Book{Symbol: "AAPL", Lots: lots, Cumulative: d("5"), LastSequence: 3}
	snapshot, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		now, _ := json.Marshal(old)
		if string(now) != string(snapshot) || len(old.Lots) != 2 {
			t.Fatalf("%s mutated the old book:\n got %s\nwant %s", step, now, snapshot)
		}
		if spare := lots[:3][2]; spare != (Lot{}) {
			t.Fatalf("%s wrote into the old backing array: %+v", step, spare)
		}
	}
	add, _, err := old.Apply(fill(4, Onchain, market.Buy, "1", "102"))
	if err != nil {
		t.Fatal(err)
	}
	check("open")
	partial, _, err := old.Apply(fill(4, Onchain, market.Sell, "1.5", "105"))
	if err != nil {
		t.Fatal(err)
	}
	check("partial close")
	rev, _, err := old.Apply(fill(4, Onchain, market.Sell, "5", "105"))
	if err != nil {
		t.Fatal(err)
	}
	check("reversal")
	// Applying to one branch does not affect a sibling branch.
	addNet := add.Net()
	if _, _, err := add.Apply(fill(5, Onchain, market.Sell, "4", "99")); err != nil {
		t.Fatal(err)
	}
	if !add.Net().Equal(addNet) || !partial.Net().Equal(d("1.5")) || !rev.Net().Equal(d("-2")) {
		t.Fatalf("branches: add %s partial %s rev %s", add.Net(), partial.Net(), rev.Net())
	}
}

func TestJSON(t *testing.T) {
	b, recs := applyAll(t, NewBook("AAPL"),
		fill(1, Onchain, market.Sell, "0.3", "150.00"),
		fill(2, Offchain, market.Buy, "0.2", "148.00"),
	)
	got, err := json.Marshal(recs[1])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"symbol":"AAPL","venue":"offchain","direction":"Buy","quantity":"0.2","price":"148",` +
		`"realized_pnl":"0.4","opened":false,"cumulative_pnl":"0.4","net_position_after":"-0.1",` +
		`"position_sequence":2,"previous_sequence":1,"occurred_at":"2025-11-04T14:32:00Z",` +
		`"attribution":{"counter_trade":"0.4","onchain_netting":"0","directional_exposure":"0"},"cost_basis":"-15"}`
	if string(got) != want {
		t.Fatalf("record JSON\n got %s\nwant %s", got, want)
	}
	open, _ := json.Marshal(recs[0])
	if !strings.Contains(string(open), `"realized_pnl":"0","opened":true`) {
		t.Fatalf("opening record JSON %s", open)
	}

	// A book survives the goka table round trip and keeps working.
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back Book
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Symbol != b.Symbol || back.LastSequence != 2 || !back.Cumulative.Equal(b.Cumulative) || !lotsEqual(back.Lots, b.Lots) {
		t.Fatalf("round trip: %s -> %+v", raw, back)
	}
	f := fill(3, Onchain, market.Buy, "0.1", "149")
	_, r1, err1 := b.Apply(f)
	_, r2, err2 := back.Apply(f)
	if err1 != nil || err2 != nil || !r1.CumulativePnL.Equal(r2.CumulativePnL) || !r1.NetPositionAfter.Equal(r2.NetPositionAfter) {
		t.Fatalf("after round trip: %+v %v vs %+v %v", r1, err1, r2, err2)
	}
	var bad Book
	if err := json.Unmarshal([]byte(`{"symbol":"AAPL","lots":[{"direction":"Long","quantity":"1","price":"1"}]}`), &bad); err == nil {
		t.Fatal("invalid lot direction decoded")
	}
	var v Venue
	if err := json.Unmarshal([]byte(`"dex"`), &v); !errors.Is(err, ErrInvalidVenue) {
		t.Fatalf("venue decode err = %v", err)
	}
}

// The worked example, attributed (DOMAIN.md s.5.3): hedges within 300 s of
// the on-chain lots they close are CounterTrade, on-chain closes of
// on-chain lots OnchainNetting.
func TestAttributionWorkedExample(t *testing.T) {
	_, recs := applyAll(t, NewBook("AAPL"),
		fill(1, Onchain, market.Sell, "0.3", "150.00"),
		fill(2, Onchain, market.Sell, "0.4", "151.00"),
		fill(3, Onchain, market.Buy, "0.2", "148.00"),
		fill(4, Onchain, market.Sell, "0.6", "149.00"),
		fill(5, Offchain, market.Buy, "1.0", "148.50"),
		fill(6, Onchain, market.Buy, "1.5", "147.50"),
		fill(7, Offchain, market.Sell, "1.0", "149.00"),
	)
	want := []*[3]string{nil, nil, {"0", "0.4", "0"}, nil, {"1.4", "0", "0"}, {"0", "0.15", "0"}, {"1.5", "0", "0"}}
	var sum Attribution
	for i, r := range recs {
		a := r.Attribution
		if (a == nil) != (want[i] == nil) {
			t.Fatalf("row %d attribution %+v, want %v", i+1, a, want[i])
		}
		if a == nil {
			continue
		}
		if !a.CounterTrade.Equal(d(want[i][0])) || !a.OnchainNetting.Equal(d(want[i][1])) || !a.DirectionalExposure.Equal(d(want[i][2])) {
			t.Errorf("row %d attribution %+v, want %v", i+1, *a, *want[i])
		}
		if !a.Total().Equal(r.RealizedPnL) {
			t.Errorf("row %d buckets add to %s, realized %s", i+1, a.Total(), r.RealizedPnL)
		}
		sum = Attribution{sum.CounterTrade.Add(a.CounterTrade), sum.OnchainNetting.Add(a.OnchainNetting), sum.DirectionalExposure.Add(a.DirectionalExposure)}
	}
	if !sum.CounterTrade.Equal(d("2.9")) || !sum.OnchainNetting.Equal(d("0.55")) || !sum.DirectionalExposure.IsZero() {
		t.Fatalf("totals %+v", sum)
	}
	// Net 0.4 long at 147.50 is left open.
	if r := recs[6]; r.CostBasis == nil || !r.CostBasis.Equal(d("59")) {
		t.Fatalf("cost basis after row 7 = %v, want 59", r.CostBasis)
	}
}

func TestAttributionWindowAndVenues(t *testing.T) {
	at := func(f Fill, after time.Duration) Fill { f.OccurredAt = t0.Add(after); return f }
	cases := []struct {
		name  string
		open  Fill
		close Fill
		want  Bucket
	}{
		{"hedge at 300 s", at(fill(1, Onchain, market.Buy, "1", "10"), 0), at(fill(2, Offchain, market.Sell, "1", "11"), 300*time.Second), CounterTrade},
		{"hedge at 301 s", at(fill(1, Onchain, market.Buy, "1", "10"), 0), at(fill(2, Offchain, market.Sell, "1", "11"), 301*time.Second), DirectionalExposure},
		{"on-chain close", at(fill(1, Onchain, market.Buy, "1", "10"), 0), at(fill(2, Onchain, market.Sell, "1", "11"), time.Hour), OnchainNetting},
		{"off-chain lot, on-chain close", at(fill(1, Offchain, market.Buy, "1", "10"), 0), at(fill(2, Onchain, market.Sell, "1", "11"), time.Second), DirectionalExposure},
		{"off-chain lot, off-chain close", at(fill(1, Offchain, market.Buy, "1", "10"), 0), at(fill(2, Offchain, market.Sell, "1", "11"), time.Second), DirectionalExposure},
	}
	for _, c := range cases {
		_, recs := applyAll(t, NewBook("AAPL"), c.open, c.close)
		a := recs[1].Attribution
		got := map[Bucket]decimal.Decimal{CounterTrade: a.CounterTrade, OnchainNetting: a.OnchainNetting, DirectionalExposure: a.DirectionalExposure}
		for b, v := range got {
			if want := map[bool]string{true: "1", false: "0"}[b == c.want]; !v.Equal(d(want)) {
				t.Errorf("%s: %s = %s, want %s", c.name, b, v, want)
			}
		}
	}
}

// A book written before attribution (lots without venue or time) keeps
// working: what it closes is DirectionalExposure.
func TestAttributionOfAnOlderBook(t *testing.T) {
	var b Book
	raw := `{"symbol":"AAPL","lots":[{"direction":"Sell","quantity":"1","price":"150"}],"cumulative_pnl":"0","last_sequence":1,"last_record":1}`
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatal(err)
	}
	_, rec, err := b.Apply(fill(2, Offchain, market.Buy, "1", "149"))
	if err != nil {
		t.Fatal(err)
	}
	if a := rec.Attribution; a == nil || !a.DirectionalExposure.Equal(d("1")) || !a.CounterTrade.IsZero() {
		t.Fatalf("attribution %+v", rec.Attribution)
	}
}
