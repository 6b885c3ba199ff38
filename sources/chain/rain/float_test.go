package rain_test

import (
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/sources/chain/rain"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
)

// The Float bytes of the tSPLG TakeOrderV3 (tx 0xf05d240c…304d).
const (
	floatTwo     = "ffffffee00000000000000000000000000000000000000001bc16d674ec80000"
	floatSPLGUSD = "ffffffe500000000000000000000000000000002057d2cd516a29b6174400000"
)

func floatHex(t testing.TB, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad Float hex %q", s)
	}
	return [32]byte(b)
}

func TestDecodeFloat(t *testing.T) {
	big10 := func(s string) *big.Int { v, _ := new(big.Int).SetString(s, 10); return v }
	minCoef := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 223))
	for _, c := range []struct {
		name string
		b    [32]byte
		want string
	}{
		{"tSPLG shares", floatHex(t, floatTwo), "2"},
		{"tSPLG USDC", floatHex(t, floatSPLGUSD), "160.15507752"},
		{"zero", [32]byte{}, "0"},
		{"zero with any exponent", raintest.EncodeFloat(big.NewInt(0), -2000000000), "0"},
		{"negative", raintest.EncodeFloat(big.NewInt(-15), -1), "-1.5"},
		{"int224 minimum", raintest.EncodeFloat(minCoef, -67), decimal.NewFromBigInt(minCoef, -67).String()},
		{"positive exponent", raintest.EncodeFloat(big.NewInt(7), 3), "7000"},
		{"67-digit coefficient", raintest.EncodeFloat(big10("2"+zeros(66)), -66), "2"},
		{"exponent at the bound", raintest.EncodeFloat(big.NewInt(1), -rain.MaxFloatExponent), "1e-128"},
	} {
		got, err := rain.DecodeFloat(c.b)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if want := decimal.RequireFromString(c.want); !got.Equal(want) {
			t.Errorf("%s: DecodeFloat(%x) = %s, want %s", c.name, c.b, got, want)
		}
	}
	for _, exp := range []int32{rain.MaxFloatExponent + 1, -rain.MaxFloatExponent - 1, 1 << 30, -1 << 31} {
		b := raintest.EncodeFloat(big.NewInt(3), exp)
		if _, err := rain.DecodeFloat(b); !errors.Is(err, rain.ErrFloatOutOfRange) {
			t.Errorf("exponent %d: err = %v, want ErrFloatOutOfRange", exp, err)
		}
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
