package rain_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/sources/chain/rain"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
)

var (
	owner     = common.HexToAddress("0x71b94911FD1CE621FC40970450004c544e5287a8")
	other     = common.HexToAddress("0x00000000000000000000000000000000000b0b00")
	orderbook = common.HexToAddress("0x52CEB8eBEf648744fFDDE89F7Bc9C3aC35944775")
	usdc      = common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	tSPLG     = common.HexToAddress("0x00000000000000000000000000000000005b1600")
	nvdas1    = common.HexToAddress("0x00000000000000000000000000000000000dda51")
	tAAPL     = common.HexToAddress("0x00000000000000000000000000000000000aa91e")
	weth      = common.HexToAddress("0x4200000000000000000000000000000000000006")

	symbols = map[common.Address]string{usdc: "USDC", tSPLG: "tSPLG", nvdas1: "NVDAs1", tAAPL: "tAAPL", weth: "WETH"}

	usdcIO   = raintest.IO{Token: usdc, Decimals: 6, VaultID: common.HexToHash("0x01")}
	splgIO   = raintest.IO{Token: tSPLG, Decimals: 18, VaultID: common.HexToHash("0x02")}
	nvdaIO   = raintest.IO{Token: nvdas1, Decimals: 18, VaultID: common.HexToHash("0x03")}
	aaplIO   = raintest.IO{Token: tAAPL, Decimals: 18, VaultID: common.HexToHash("0x04")}
	wethIO   = raintest.IO{Token: weth, Decimals: 18, VaultID: common.HexToHash("0x05")}
	txA      = common.HexToHash("0xf05d240c99c7c3f8d4562130f655d2b571b1b82643b621987bed3d8aabab304d")
	txB      = common.HexToHash("0x844000000000000000000000000000000000000000000000000000000a42d4")
	blockH   = common.HexToHash("0xb10c")
	blockNum = uint64(38_000_000)
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// chainLog is an encoding as the orderbook emitted it in txA at index.
func chainLog(topic common.Hash, data []byte, tx common.Hash, index uint) types.Log {
	l := raintest.Log(orderbook, topic, data)
	l.TxHash, l.BlockHash, l.BlockNumber, l.Index = tx, blockH, blockNum, index
	return l
}

// decoder decodes an encoding: decoder(t)(raintest.ClearV2(c)).
func decoder(t *testing.T) func(common.Hash, []byte) rain.Event {
	return func(topic common.Hash, data []byte) rain.Event {
		t.Helper()
		ev, err := rain.Decode(raintest.Log(orderbook, topic, data))
		if err != nil {
			t.Fatalf("Decode %s: %v", rain.EventName(topic), err)
		}
		return ev
	}
}

// trade runs the whole path of a fill: decode, the owner's side, classify.
func trade(t *testing.T, ev rain.Event, after *rain.AfterClear) (rain.Fill, rain.Trade) {
	t.Helper()
	f, ok, err := rain.OrderFill(ev, after, owner)
	if err != nil || !ok {
		t.Fatalf("OrderFill(%s) = ok %v, %v", ev.Name(), ok, err)
	}
	tr, err := rain.Classify(f, symbols[f.InputToken], symbols[f.OutputToken])
	if err != nil {
		t.Fatalf("Classify(%s): %v", ev.Name(), err)
	}
	return f, tr
}

func checkTrade(t *testing.T, name string, got rain.Trade, sym string, dir market.Direction, amount, usdcAmt, price string) {
	t.Helper()
	if got.Symbol.String() != sym || got.Direction != dir || !got.Amount.Equal(d(amount)) || !got.USDC.Equal(d(usdcAmt)) || !got.PriceUSDC.Equal(d(price)) {
		t.Errorf("%s: trade = %s %s %s for %s USDC at %s, want %s %s %s for %s at %s", name,
			got.Direction, got.Amount, got.Symbol, got.USDC, got.PriceUSDC, dir, amount, sym, usdcAmt, price)
	}
}

// The tSPLG TakeOrderV3 with its exact Float bytes: the taker received 2
// tSPLG (event input) and paid 160.15507752 USDC (event output), so the
// order sold 2 shares at 80.07753876. Passing the event amounts straight
// through (the upstream bug) would read it as selling 160 shares.
func TestTakeOrderV3SPLGVector(t *testing.T) {
	topic, data := raintest.TakeOrderV3(raintest.TakeOrder{
		Sender: other,
		Order:  raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{splgIO}},
		Input:  raintest.FloatBytes(floatHex(t, floatTwo)), Output: raintest.FloatBytes(floatHex(t, floatSPLGUSD)),
	})
	f, tr := trade(t, decoder(t)(topic, data), nil)
	if f.InputToken != usdc || !f.InputAmount.Equal(d("160.15507752")) || f.OutputToken != tSPLG || !f.OutputAmount.Equal(d("2")) {
		t.Errorf("fill = %+v, want 160.15507752 USDC in, 2 tSPLG out", f)
	}
	checkTrade(t, "tSPLG", tr, "tSPLG", market.Sell, "2", "160.15507752", "80.07753876")
	if tr.Symbol.Base != "SPLG" || tr.Direction.Opposite() != market.Buy {
		t.Errorf("base %s, hedge %s; want SPLG, Buy", tr.Symbol.Base, tr.Direction.Opposite())
	}
}

// The "175x" over-execution regression (V4, NVDAs1): the share count is
// the NVDAs1 amount, scaled by 18 decimals, not the USDC one (6 decimals).
func TestTakeOrderV2NVDARegression(t *testing.T) {
	for _, c := range []struct{ shares, usdc, price string }{
		{"0.374", "64.169234", "171.575491978609625668"}, // tx 0x844…a42d4
		{"0.2", "34.645024", "173.22512"},                // tx 0x700…bfb85
	} {
		topic, data := raintest.TakeOrderV2(raintest.TakeOrder{
			Sender: other,
			Order:  raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{nvdaIO}},
			Input:  raintest.Units(c.shares, 18), Output: raintest.Units(c.usdc, 6),
		})
		_, tr := trade(t, decoder(t)(topic, data), nil)
		checkTrade(t, "NVDAs1 "+c.shares, tr, "NVDAs1", market.Sell, c.shares, c.usdc, c.price)
		if tr.Symbol.Base != "NVDA" {
			t.Errorf("base = %s, want NVDA", tr.Symbol.Base)
		}
	}
}

// An order that buys: it gives USDC (its output) for the equity (its
// input); multi-IO orders pick the IOs at the event's indices.
func TestTakeOrderBuyWithIndices(t *testing.T) {
	order := raintest.Order{Owner: owner, Inputs: []raintest.IO{wethIO, aaplIO}, Outputs: []raintest.IO{wethIO, wethIO, usdcIO}}
	topic, data := raintest.TakeOrderV2(raintest.TakeOrder{Order: order, InputIOIndex: 1, OutputIOIndex: 2,
		Input: raintest.Units("229.5", 6), Output: raintest.Units("1.02", 18)})
	_, tr := trade(t, decoder(t)(topic, data), nil)
	checkTrade(t, "V4 buy", tr, "tAAPL", market.Buy, "1.02", "229.5", "225")

	topic, data = raintest.TakeOrderV3(raintest.TakeOrder{Order: order, InputIOIndex: 1, OutputIOIndex: 2,
		Input: raintest.Dec("229.5"), Output: raintest.Dec("1.02")})
	_, tr = trade(t, decoder(t)(topic, data), nil)
	checkTrade(t, "V5 buy", tr, "tAAPL", market.Buy, "1.02", "229.5", "225")

	for _, idx := range [][2]int64{{2, 0}, {0, 3}} {
		topic, data = raintest.TakeOrderV3(raintest.TakeOrder{Order: order, InputIOIndex: idx[0], OutputIOIndex: idx[1],
			Input: raintest.Dec("1"), Output: raintest.Dec("1")})
		_, _, err := rain.OrderFill(decoder(t)(topic, data), nil, owner)
		if err == nil || !strings.Contains(err.Error(), "at index") {
			t.Errorf("indices %v: err = %v, want an out-of-range index error", idx, err)
		}
	}
}

// aliceBobClear: alice sells 0.5 tAAPL for USDC, bob buys it.
func aliceBobClear(alice, bob common.Address) raintest.Clear {
	return raintest.Clear{Sender: other,
		Alice:              raintest.Order{Owner: alice, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{wethIO, aaplIO}},
		Bob:                raintest.Order{Owner: bob, Inputs: []raintest.IO{aaplIO}, Outputs: []raintest.IO{usdcIO}},
		AliceOutputIOIndex: 1}
}

var (
	stateV4 = raintest.StateChange{Sender: other,
		AliceOutput: raintest.Units("0.5", 18), AliceInput: raintest.Units("114.2", 6),
		BobOutput: raintest.Units("115", 6), BobInput: raintest.Units("0.5", 18)}
	stateV5 = raintest.StateChange{Sender: other,
		AliceOutput: raintest.Dec("0.5"), AliceInput: raintest.Dec("114.2"),
		BobOutput: raintest.Dec("115"), BobInput: raintest.Dec("0.5")}
)

func TestClearAliceAndBob(t *testing.T) {
	for _, c := range []struct {
		name        string
		alice, bob  common.Address
		dir         market.Direction
		usdc, price string
	}{
		{"owner alice", owner, other, market.Sell, "114.2", "228.4"},
		{"owner bob", other, owner, market.Buy, "115", "230"},
		{"owner both: alice", owner, owner, market.Sell, "114.2", "228.4"},
	} {
		for _, v := range []struct {
			clear func(raintest.Clear) (common.Hash, []byte)
			after func(raintest.StateChange) (common.Hash, []byte)
			state raintest.StateChange
		}{{raintest.ClearV2, raintest.AfterClear, stateV4}, {raintest.ClearV3, raintest.AfterClearV2, stateV5}} {
			ev := decoder(t)(v.clear(aliceBobClear(c.alice, c.bob)))
			after := decoder(t)(v.after(v.state)).(*rain.AfterClear)
			_, tr := trade(t, ev, after)
			checkTrade(t, c.name+" "+ev.Name(), tr, "tAAPL", c.dir, "0.5", c.usdc, c.price)
		}
	}
}

// Fills of other owners are not ours: ok false, no error, even without
// the AfterClear.
func TestDecoysOfOtherOwners(t *testing.T) {
	topic, data := raintest.TakeOrderV3(raintest.TakeOrder{
		Order: raintest.Order{Owner: other, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{splgIO}},
		Input: raintest.Dec("1"), Output: raintest.Dec("80")})
	if _, ok, err := rain.OrderFill(decoder(t)(topic, data), nil, owner); ok || err != nil {
		t.Errorf("TakeOrder of another owner: ok %v, err %v; want false, nil", ok, err)
	}
	topic, data = raintest.ClearV2(aliceBobClear(other, common.HexToAddress("0xcafe")))
	if _, ok, err := rain.OrderFill(decoder(t)(topic, data), nil, owner); ok || err != nil {
		t.Errorf("Clear of other owners: ok %v, err %v; want false, nil", ok, err)
	}
	// Ours, but the AfterClear is missing or of the other version.
	topic, data = raintest.ClearV2(aliceBobClear(owner, other))
	clear := decoder(t)(topic, data)
	if _, _, err := rain.OrderFill(clear, nil, owner); !errors.Is(err, rain.ErrNoAfterClear) {
		t.Errorf("Clear without AfterClear: err %v, want ErrNoAfterClear", err)
	}
	after := decoder(t)(raintest.AfterClearV2(stateV5)).(*rain.AfterClear)
	if _, _, err := rain.OrderFill(clear, after, owner); err == nil {
		t.Error("ClearV2 with an AfterClearV2: no error")
	}
	if _, _, err := rain.OrderFill(after, nil, owner); err == nil {
		t.Error("OrderFill of an AfterClear: no error")
	}
}

func TestMatchAfterClear(t *testing.T) {
	ct, cd := raintest.ClearV3(aliceBobClear(owner, other))
	at, ad := raintest.AfterClearV2(stateV5)
	a4t, a4d := raintest.AfterClear(stateV4)
	clear := chainLog(ct, cd, txA, 10)
	want := chainLog(at, ad, txA, 12)
	otherBook := chainLog(at, ad, txA, 11)
	otherBook.Address = common.HexToAddress("0x881cf4c0764e733d9C387f3858eE87CcA04AFFe0")
	removed := chainLog(at, ad, txA, 11)
	removed.Removed = true
	decoys := []types.Log{
		chainLog(at, ad, txB, 11),   // another transaction
		chainLog(a4t, a4d, txA, 11), // the V4 AfterClear
		chainLog(at, ad, txA, 9),    // before the Clear
		chainLog(at, ad, txA, 10),   // the Clear's own index
		otherBook, removed,
		chainLog(ct, cd, txA, 11), // a Clear, not an AfterClear
	}
	later := chainLog(at, ad, txA, 14) // the next Clear's
	cands := append(append([]types.Log{later}, decoys...), want)
	got, ok := rain.MatchAfterClear(clear, cands)
	if !ok || got.Index != 12 || got.TxHash != txA {
		t.Fatalf("MatchAfterClear = index %d tx %s ok %v, want index 12 of txA", got.Index, got.TxHash, ok)
	}
	if got, ok := rain.MatchAfterClear(clear, decoys); ok {
		t.Errorf("decoys only: matched index %d tx %s", got.Index, got.TxHash)
	}
	if _, ok := rain.MatchAfterClear(want, cands); ok {
		t.Error("an AfterClear matched as if it were a Clear")
	}
}

// Every event survives encode -> Decode field for field (owners, IOs with
// and without decimals, vault ids, nonce, indices, amounts).
func TestRoundTrip(t *testing.T) {
	order := raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO, wethIO}, Outputs: []raintest.IO{aaplIO},
		Nonce: common.HexToHash("0x6e6f6e6365"), Bytecode: []byte("some rainlang bytecode")}
	wantOrder := func(v4 bool) rain.Order {
		conv := func(ios []raintest.IO) []rain.IO {
			var out []rain.IO
			for _, io := range ios {
				r := rain.IO{Token: io.Token, VaultID: io.VaultID}
				if v4 {
					r.Decimals, r.HasDecimals = io.Decimals, true
				}
				out = append(out, r)
			}
			return out
		}
		return rain.Order{Owner: owner, ValidInputs: conv(order.Inputs), ValidOutputs: conv(order.Outputs), Nonce: order.Nonce}
	}
	take := raintest.TakeOrder{Sender: other, Order: order, InputIOIndex: 0, OutputIOIndex: 0}

	take.Input, take.Output = raintest.Units("0.25", 18), raintest.Units("57", 6)
	ev := decoder(t)(raintest.TakeOrderV2(take)).(*rain.TakeOrder)
	checkOrder(t, "TakeOrderV2", ev.Order, wantOrder(true))
	if ev.Version != 4 || ev.Sender != other || ev.Input.Raw.String() != "250000000000000000" || ev.Output.Raw.String() != "57000000" || ev.Input.IsFloat {
		t.Errorf("TakeOrderV2 = %+v", ev)
	}
	f, ok, err := rain.OrderFill(ev, nil, owner)
	if err != nil || !ok || !f.InputAmount.Equal(d("57")) || f.InputToken != usdc || !f.OutputAmount.Equal(d("0.25")) || f.OutputToken != tAAPL {
		t.Errorf("TakeOrderV2 fill = %+v %v %v", f, ok, err)
	}

	take.Input, take.Output = raintest.Dec("0.25"), raintest.Dec("57")
	ev = decoder(t)(raintest.TakeOrderV3(take)).(*rain.TakeOrder)
	checkOrder(t, "TakeOrderV3", ev.Order, wantOrder(false))
	if ev.Version != 5 || ev.Name() != "TakeOrderV3" || !ev.Input.IsFloat || ev.Input.String() != "0.25" || ev.Output.String() != "57" {
		t.Errorf("TakeOrderV3 = %+v", ev)
	}
	f, ok, err = rain.OrderFill(ev, nil, owner)
	if err != nil || !ok || !f.InputAmount.Equal(d("57")) || !f.OutputAmount.Equal(d("0.25")) {
		t.Errorf("TakeOrderV3 fill = %+v %v %v", f, ok, err)
	}

	cl := raintest.Clear{Sender: other, Alice: order, Bob: raintest.Order{Owner: other, Inputs: []raintest.IO{aaplIO}, Outputs: []raintest.IO{wethIO, usdcIO}},
		AliceInputIOIndex: 1, AliceOutputIOIndex: 0, BobInputIOIndex: 0, BobOutputIOIndex: 1}
	for _, v := range []struct {
		version int
		clear   func(raintest.Clear) (common.Hash, []byte)
		after   func(raintest.StateChange) (common.Hash, []byte)
		state   raintest.StateChange
	}{{4, raintest.ClearV2, raintest.AfterClear, stateV4}, {5, raintest.ClearV3, raintest.AfterClearV2, stateV5}} {
		c := decoder(t)(v.clear(cl)).(*rain.Clear)
		checkOrder(t, c.Name()+" alice", c.Alice, wantOrder(v.version == 4))
		if c.Version != v.version || c.Sender != other || c.Bob.Owner != other || len(c.Bob.ValidOutputs) != 2 || c.Bob.ValidOutputs[1].Token != usdc ||
			c.AliceInputIOIndex.Int64() != 1 || c.AliceOutputIOIndex.Int64() != 0 || c.BobInputIOIndex.Int64() != 0 || c.BobOutputIOIndex.Int64() != 1 {
			t.Errorf("%s = %+v", c.Name(), c)
		}
		a := decoder(t)(v.after(v.state)).(*rain.AfterClear)
		if a.Version != v.version || a.Sender != other || a.Kind() != rain.KindAfterClear {
			t.Errorf("%s = %+v", a.Name(), a)
		}
		// alice's input index 1 is WETH: the fill is WETH for tAAPL.
		f, ok, err := rain.OrderFill(c, a, owner)
		if err != nil || !ok || f.InputToken != weth || f.OutputToken != tAAPL || !f.OutputAmount.Equal(d("0.5")) {
			t.Errorf("%s fill = %+v %v %v", c.Name(), f, ok, err)
		}
		if _, err := rain.Classify(f, "WETH", "tAAPL"); !errors.Is(err, rain.ErrNotEquityPair) {
			t.Errorf("%s WETH/tAAPL: err %v, want ErrNotEquityPair", c.Name(), err)
		}
		f, ok, err = rain.OrderFill(c, a, other)
		if err != nil || !ok || f.InputToken != tAAPL || f.OutputToken != usdc || !f.InputAmount.Equal(d("0.5")) || !f.OutputAmount.Equal(d("115")) {
			t.Errorf("%s bob's fill = %+v %v %v", c.Name(), f, ok, err)
		}
	}
}

func checkOrder(t *testing.T, name string, got, want rain.Order) {
	t.Helper()
	eq := func(a, b []rain.IO) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if got.Owner != want.Owner || got.Nonce != want.Nonce || !eq(got.ValidInputs, want.ValidInputs) || !eq(got.ValidOutputs, want.ValidOutputs) {
		t.Errorf("%s order = %+v, want %+v", name, got, want)
	}
}

// A V4 raw amount is scaled by its own IO's decimals, whatever they are.
func TestV4Scaling(t *testing.T) {
	io := rain.IO{Token: usdc, Decimals: 6, HasDecimals: true}
	for _, c := range []struct {
		raw      int64
		decimals uint8
		want     string
	}{{64169234, 6, "64.169234"}, {374000000000000000, 18, "0.374"}, {5, 0, "5"}, {1, 18, "0.000000000000000001"}} {
		io.Decimals = c.decimals
		got, err := rain.Amount{Raw: big.NewInt(c.raw)}.Decimal(io)
		if err != nil || !got.Equal(d(c.want)) {
			t.Errorf("%d at %d decimals = %s, %v; want %s", c.raw, c.decimals, got, err, c.want)
		}
	}
	if _, err := (rain.Amount{Raw: big.NewInt(1)}).Decimal(rain.IO{Token: usdc}); err == nil {
		t.Error("a raw amount for a V5 IO (no decimals): no error")
	}
}
