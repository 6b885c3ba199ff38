package rain_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"runtime"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/sources/chain/rain"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
)

// encodings are one valid log of each event, the fuzz seeds too.
func encodings() []struct {
	topic common.Hash
	data  []byte
} {
	order := raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{aaplIO, wethIO}, Bytecode: []byte{1, 2, 3}}
	take := raintest.TakeOrder{Sender: other, Order: order, OutputIOIndex: 1}
	cl := aliceBobClear(owner, other)
	var out []struct {
		topic common.Hash
		data  []byte
	}
	add := func(topic common.Hash, data []byte) {
		out = append(out, struct {
			topic common.Hash
			data  []byte
		}{topic, data})
	}
	take.Input, take.Output = raintest.Units("0.374", 18), raintest.Units("64.169234", 6)
	add(raintest.TakeOrderV2(take))
	take.Input, take.Output = raintest.Dec("2"), raintest.Dec("160.15507752")
	add(raintest.TakeOrderV3(take))
	add(raintest.ClearV2(cl))
	add(raintest.ClearV3(cl))
	add(raintest.AfterClear(stateV4))
	add(raintest.AfterClearV2(stateV5))
	return out
}

func TestDecodeErrors(t *testing.T) {
	expectErr := func(name string, l types.Log, want error, contains string) {
		t.Helper()
		ev, err := rain.Decode(l)
		if !errors.Is(err, want) || !strings.Contains(fmtErr(err), contains) || ev != nil {
			t.Errorf("%s: Decode = %v, %v; want %v containing %q", name, ev, err, want, contains)
		}
	}
	expectErr("no topics", types.Log{Data: make([]byte, 64)}, rain.ErrUnknownEvent, "anonymous")
	expectErr("unknown topic0", types.Log{Topics: []common.Hash{{1}}}, rain.ErrUnknownEvent, "0x0100")

	for _, e := range encodings() {
		name := rain.EventName(e.topic)
		expectErr(name+" with two topics", types.Log{Topics: []common.Hash{e.topic, {2}}, Data: e.data}, rain.ErrMalformed, name)
		for _, n := range []int{0, 31, 32, 64, len(e.data) / 2, len(e.data) - 32, len(e.data) - 1} {
			expectErr(name+" truncated", raintest.Log(orderbook, e.topic, e.data[:n]), rain.ErrMalformed, name)
		}
		// The second head word is an offset in the events with dynamic
		// parts: pointing it past the end must fail, not panic.
		if len(e.data) > 256 {
			bad := bytes.Clone(e.data)
			copy(bad[32:64], common.BigToHash(big.NewInt(1<<40)).Bytes())
			expectErr(name+" bad offset", raintest.Log(orderbook, e.topic, bad), rain.ErrMalformed, name)
		}
	}

	// A V4 decimals word above 255 is not a uint8.
	marker := raintest.IO{Token: usdc, Decimals: 0xfb}
	topic, data := raintest.TakeOrderV2(raintest.TakeOrder{Order: raintest.Order{Owner: owner, Inputs: []raintest.IO{marker}, Outputs: []raintest.IO{aaplIO}},
		Input: raintest.Units("1", 18), Output: raintest.Units("1", 6)})
	word := common.BigToHash(big.NewInt(0xfb)).Bytes()
	found := false
	for i := 0; i+32 <= len(data); i += 32 {
		if bytes.Equal(data[i:i+32], word) {
			data[i+30], found = 1, true
		}
	}
	if !found {
		t.Fatal("no decimals word in the encoding")
	}
	expectErr("decimals 0x1fb", raintest.Log(orderbook, topic, data), rain.ErrMalformed, "TakeOrderV2")
}

// A Float that decodes as bytes but not as a value fails the fill, naming
// the side.
func TestFloatOutOfRangeInFill(t *testing.T) {
	topic, data := raintest.TakeOrderV3(raintest.TakeOrder{
		Order: raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{aaplIO}},
		Input: raintest.Float(big.NewInt(1), 1<<30), Output: raintest.Dec("1")})
	_, _, err := rain.OrderFill(decoder(t)(topic, data), nil, owner)
	if !errors.Is(err, rain.ErrFloatOutOfRange) || !strings.Contains(err.Error(), "output amount") {
		t.Errorf("err = %v, want ErrFloatOutOfRange on the output amount", err)
	}
}

// FuzzDecode: any topic0 of the six with any data decodes or fails with
// ErrMalformed, never panics; whatever decodes goes through OrderFill and
// Classify without panicking.
func FuzzDecode(f *testing.F) {
	topics := rain.Topics()
	for _, e := range encodings() {
		for i, tp := range topics {
			if tp == e.topic {
				f.Add(uint8(i), e.data)
			}
		}
	}
	f.Add(uint8(6), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		l := types.Log{Data: data}
		if int(which) < len(topics) {
			l.Topics = []common.Hash{topics[which]}
		} else if which%2 == 0 {
			l.Topics = []common.Hash{{which}}
		}
		ev, err := rain.Decode(l)
		if err != nil {
			if ev != nil || !errors.Is(err, rain.ErrMalformed) && !errors.Is(err, rain.ErrUnknownEvent) {
				t.Fatalf("Decode = %v, %v", ev, err)
			}
			if int(which) < len(topics) && !strings.Contains(err.Error(), rain.EventName(topics[which])) {
				t.Fatalf("error does not name the event: %v", err)
			}
			return
		}
		if ev.Name() != rain.EventName(l.Topics[0]) {
			t.Fatalf("decoded %s from a %s log", ev.Name(), rain.EventName(l.Topics[0]))
		}
		var owners []common.Address
		var after *rain.AfterClear
		switch e := ev.(type) {
		case *rain.TakeOrder:
			owners = append(owners, e.Order.Owner)
		case *rain.Clear:
			owners = append(owners, e.Alice.Owner, e.Bob.Owner)
			if e.Version == 4 {
				after = &rain.AfterClear{Version: 4, AliceInput: rain.Amount{Raw: big.NewInt(1)}, AliceOutput: rain.Amount{Raw: big.NewInt(2)},
					BobInput: rain.Amount{Raw: big.NewInt(3)}, BobOutput: rain.Amount{Raw: big.NewInt(4)}}
			} else {
				one := raintest.EncodeFloat(big.NewInt(1), 0)
				after = &rain.AfterClear{Version: 5, AliceInput: rain.Amount{Float: one, IsFloat: true}, AliceOutput: rain.Amount{Float: one, IsFloat: true},
					BobInput: rain.Amount{Float: one, IsFloat: true}, BobOutput: rain.Amount{Float: one, IsFloat: true}}
			}
		case *rain.AfterClear:
			for _, a := range []rain.Amount{e.AliceInput, e.AliceOutput, e.BobInput, e.BobOutput} {
				if a.IsFloat != (e.Version == 5) || !a.IsFloat && a.Raw == nil {
					t.Fatalf("amount %+v in a version %d AfterClear", a, e.Version)
				}
				_, _ = a.Decimal(rain.IO{HasDecimals: true, Decimals: 18})
			}
			return
		}
		for _, o := range owners {
			fill, ok, err := rain.OrderFill(ev, after, o)
			if err != nil || !ok {
				continue
			}
			for _, syms := range [][2]string{{"USDC", "tAAPL"}, {"NVDAs1", "USDC"}} {
				if tr, err := rain.Classify(fill, syms[0], syms[1]); err == nil && (!tr.Amount.IsPositive() || !tr.PriceUSDC.IsPositive()) {
					t.Fatalf("Classify accepted %+v", tr)
				}
			}
		}
	})
}

// FuzzDecodeFloat: any 32 bytes decode to exactly coefficient × 10^exponent
// or fail with ErrFloatOutOfRange only for a non-zero coefficient with an
// exponent beyond the bound.
func FuzzDecodeFloat(f *testing.F) {
	for _, b := range [][32]byte{floatHex(f, floatTwo), floatHex(f, floatSPLGUSD), {}, raintest.EncodeFloat(big.NewInt(-15), -1)} {
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b [32]byte
		copy(b[:], in)
		got, err := rain.DecodeFloat(b)
		exp := int32(binary.BigEndian.Uint32(b[:4]))
		// The coefficient by sign extension to 256 bits, independently of
		// DecodeFloat's subtraction.
		var ext [32]byte
		copy(ext[4:], b[4:])
		if b[4]&0x80 != 0 {
			ext[0], ext[1], ext[2], ext[3] = 0xff, 0xff, 0xff, 0xff
		}
		coef := new(big.Int).SetBytes(ext[:])
		if ext[0] == 0xff {
			coef.Sub(coef, new(big.Int).Lsh(big.NewInt(1), 256))
		}
		if err != nil {
			if !errors.Is(err, rain.ErrFloatOutOfRange) || coef.Sign() == 0 || exp >= -rain.MaxFloatExponent && exp <= rain.MaxFloatExponent {
				t.Fatalf("DecodeFloat(%x) failed: %v", b, err)
			}
			return
		}
		want := decimal.Zero
		if coef.Sign() != 0 {
			want = decimal.NewFromBigInt(coef, exp)
		}
		if !got.Equal(want) {
			t.Fatalf("DecodeFloat(%x) = %s, want %s", b, got, want)
		}
	})
}

// aliasedContext rewrites a TakeOrderV2 encoding so its signedContext has
// n entries that all point at one entry with an m-word context: valid
// bounds, but a decoder following every entry builds n×m words.
func aliasedContext(t *testing.T, n, m int) []byte {
	t.Helper()
	_, data := raintest.TakeOrderV2(raintest.TakeOrder{
		Order: raintest.Order{Owner: owner, Inputs: []raintest.IO{usdcIO}, Outputs: []raintest.IO{aaplIO}},
		Input: raintest.Units("1", 18), Output: raintest.Units("1", 6)})
	w := func(v int) []byte { return common.BigToHash(big.NewInt(int64(v))).Bytes() }
	cfg := int(new(big.Int).SetBytes(data[32:64]).Int64())
	arr := len(data)
	copy(data[cfg+96:cfg+128], w(arr-cfg))
	data = append(data, w(n)...)
	for range n { // every head points just past the heads
		data = append(data, w(32*n)...)
	}
	data = append(data, w(0)...)  // signer
	data = append(data, w(96)...) // context offset
	data = append(data, w(96+32+32*m)...)
	data = append(data, w(m)...)
	data = append(data, make([]byte, 32*m)...)
	return append(data, w(0)...) // empty signature
}

// Decoding does not follow the skipped signedContext, so an aliased one
// costs what its bytes cost, where the full ABI builds every alias.
func TestDecodeAliasedContextStaysSmall(t *testing.T) {
	data := aliasedContext(t, 1000, 1000)
	l := raintest.Log(orderbook, rain.TopicTakeOrderV2, data)
	alloc := func(fn func()) uint64 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		fn()
		runtime.ReadMemStats(&b)
		return b.TotalAlloc - a.TotalAlloc
	}
	var err error
	ours := alloc(func() { _, err = rain.Decode(l) })
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	full := alloc(func() {
		a, _ := rain.ABI(4)
		_, _ = a.Events["TakeOrderV2"].Inputs.Unpack(data)
	})
	t.Logf("%d bytes of data: Decode allocated %d bytes, the full ABI %d", len(data), ours, full)
	if ours > 1<<20 {
		t.Errorf("Decode allocated %d bytes for %d bytes of data", ours, len(data))
	}
}
