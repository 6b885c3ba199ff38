package rain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/shopspring/decimal"
)

// MaxFloatExponent bounds a Float's decimal exponent. Decoding is exact, so
// an exponent of ±2^31 would make every later rescale or String allocate
// gigabytes. Nothing is lost: a non-zero int224 coefficient is below
// 1.4e67 in magnitude, so a value with an exponent under -86 is below
// 1e-18 and one over 20 is at least 1e21, both outside what amounts can
// hold (market.CheckAmount: 20 integer and 18 fractional digits).
const MaxFloatExponent = 128

var ErrFloatOutOfRange = errors.New("float exponent out of range")

// DecodeFloat decodes a Rain Float (rain.math.float, bytes32): the high 4
// bytes are an int32 exponent, the low 28 bytes an int224 coefficient in
// two's complement; the value is coefficient × 10^exponent, exactly.
func DecodeFloat(b [32]byte) (decimal.Decimal, error) {
	exp := int32(binary.BigEndian.Uint32(b[:4]))
	coef := new(big.Int).SetBytes(b[4:])
	if b[4]&0x80 != 0 { // negative: subtract 2^224
		coef.Sub(coef, new(big.Int).Lsh(big.NewInt(1), 224))
	}
	if coef.Sign() == 0 {
		return decimal.Zero, nil
	}
	if exp < -MaxFloatExponent || exp > MaxFloatExponent {
		return decimal.Zero, fmt.Errorf("%w: Float %x has exponent %d, outside ±%d", ErrFloatOutOfRange, b, exp, MaxFloatExponent)
	}
	return decimal.NewFromBigInt(coef, exp), nil
}
