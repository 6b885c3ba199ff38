package market

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Threshold is how much exposure a position tolerates before hedging:
// a number of shares, or a dollar value at the last on-chain price.
// Exactly one of Shares and Dollars is set.
type Threshold struct {
	Shares  *decimal.Decimal `json:"shares,omitempty"`
	Dollars *decimal.Decimal `json:"dollars,omitempty"`
}

var (
	ErrZeroThreshold     = errors.New("threshold must not be zero")
	ErrNegativeThreshold = errors.New("threshold must not be negative")
)

// SharesThreshold validates a shares threshold.
func SharesThreshold(v decimal.Decimal) (Threshold, error) {
	if err := checkThreshold("shares", v); err != nil {
		return Threshold{}, err
	}
	return Threshold{Shares: &v}, nil
}

// DollarThreshold validates a dollar-value threshold.
func DollarThreshold(v decimal.Decimal) (Threshold, error) {
	if err := checkThreshold("dollars", v); err != nil {
		return Threshold{}, err
	}
	return Threshold{Dollars: &v}, nil
}

// WholeShare is the upstream default: hedge as soon as one share is exposed.
func WholeShare() Threshold {
	one := decimal.NewFromInt(1)
	return Threshold{Shares: &one}
}

func checkThreshold(kind string, v decimal.Decimal) error {
	switch {
	case v.IsZero():
		return fmt.Errorf("%s %w", kind, ErrZeroThreshold)
	case v.IsNegative():
		return fmt.Errorf("%s %w: %s", kind, ErrNegativeThreshold, v)
	}
	return CheckAmount(v)
}

// Validate checks that exactly one kind is set and it is positive.
func (t Threshold) Validate() error {
	switch {
	case t.Shares != nil && t.Dollars != nil:
		return errors.New("threshold: set shares or dollars, not both")
	case t.Shares != nil:
		return checkThreshold("shares", *t.Shares)
	case t.Dollars != nil:
		return checkThreshold("dollars", *t.Dollars)
	}
	return errors.New("threshold: neither shares nor dollars set")
}

func (t *Threshold) UnmarshalJSON(b []byte) error {
	type plain Threshold
	var p plain
	// Strict: a misspelled "dolars" must not silently leave shares in force.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("threshold: %w", err)
	}
	if err := Threshold(p).Validate(); err != nil {
		return err
	}
	*t = Threshold(p)
	return nil
}

func (t Threshold) String() string {
	switch {
	case t.Shares != nil:
		return t.Shares.String() + " shares"
	case t.Dollars != nil:
		return "$" + t.Dollars.String()
	}
	return "no threshold"
}

// PythPrice is a Pyth oracle reading: value × 10^expo, ± conf × 10^expo.
// Value and Conf stay strings (raw int64) as Pyth reports them.
type PythPrice struct {
	Value       string    `json:"value"`
	Expo        int32     `json:"expo"`
	Conf        string    `json:"conf"`
	PublishTime time.Time `json:"publish_time"`
}

// Price returns the scaled price as a decimal.
func (p PythPrice) Price() (decimal.Decimal, error) {
	v, err := decimal.NewFromString(p.Value)
	if err != nil {
		return decimal.Zero, fmt.Errorf("pyth price value %q: %w", p.Value, err)
	}
	return v.Shift(p.Expo), nil
}
