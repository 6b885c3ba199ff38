package market

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// Amounts are exact decimals, bounded by what the ClickHouse views store
// (Decimal(38,18): 20 integer digits, 18 fractional). A value outside the
// bound is an arithmetic error that fails the aggregate instead of being
// silently rounded downstream.
const MaxScale = 18

var maxAbs = decimal.New(1, 20) // exclusive

// ErrOutOfRange marks an amount the system cannot represent exactly.
var ErrOutOfRange = errors.New("amount out of range")

// ArithmeticError reports an operation whose result left the bound.
type ArithmeticError struct {
	Op       string
	LHS, RHS decimal.Decimal
}

func (e *ArithmeticError) Error() string {
	return fmt.Sprintf("arithmetic overflow: %s %s %s", e.LHS, e.Op, e.RHS)
}

func (e *ArithmeticError) Unwrap() error { return ErrOutOfRange }

// CheckAmount returns an error when v has more than 18 fractional digits or
// 20 integer digits.
func CheckAmount(v decimal.Decimal) error {
	if v.Abs().GreaterThanOrEqual(maxAbs) {
		return fmt.Errorf("%w: %s has more than 20 integer digits", ErrOutOfRange, v)
	}
	if !v.Equal(v.Truncate(MaxScale)) {
		return fmt.Errorf("%w: %s has more than %d fractional digits", ErrOutOfRange, v, MaxScale)
	}
	return nil
}

// Add returns a+b, or an *ArithmeticError when the sum is out of range.
func Add(a, b decimal.Decimal) (decimal.Decimal, error) {
	s := a.Add(b)
	if CheckAmount(s) != nil {
		return decimal.Zero, &ArithmeticError{Op: "+", LHS: a, RHS: b}
	}
	return s, nil
}

// Sub returns a-b, or an *ArithmeticError when the result is out of range.
func Sub(a, b decimal.Decimal) (decimal.Decimal, error) {
	s := a.Sub(b)
	if CheckAmount(s) != nil {
		return decimal.Zero, &ArithmeticError{Op: "-", LHS: a, RHS: b}
	}
	return s, nil
}

// PositiveAmount validates a strictly positive, representable amount; what
// names the field in the error.
func PositiveAmount(what string, v decimal.Decimal) error {
	if !v.IsPositive() {
		return fmt.Errorf("%s must be positive, got %s", what, v)
	}
	if err := CheckAmount(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
