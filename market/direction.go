package market

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Direction is the side of a trade. On chain it is the bot's side of the
// fill; at the broker it is the side of the hedge.
type Direction string

const (
	Buy  Direction = "Buy"
	Sell Direction = "Sell"
)

// ParseDirection accepts "Buy"/"Sell" and the legacy "BUY"/"SELL".
func ParseDirection(s string) (Direction, error) {
	switch strings.ToUpper(s) {
	case "BUY":
		return Buy, nil
	case "SELL":
		return Sell, nil
	}
	return "", fmt.Errorf("invalid direction %q: want Buy or Sell", s)
}

// Opposite is the hedge side for an exposure taken on this side.
func (d Direction) Opposite() Direction {
	if d == Buy {
		return Sell
	}
	return Buy
}

// Signed returns +amount for Buy and -amount for Sell.
func (d Direction) Signed(amount decimal.Decimal) decimal.Decimal {
	if d == Sell {
		return amount.Neg()
	}
	return amount
}

func (d Direction) Valid() bool { return d == Buy || d == Sell }

func (d *Direction) UnmarshalJSON(b []byte) error {
	// The canonical spellings skip a nested json.Unmarshal: directions are
	// decoded in every fill, lot and order (a hot spot in BENCHMARKS.md).
	switch string(b) {
	case `"Buy"`:
		*d = Buy
		return nil
	case `"Sell"`:
		*d = Sell
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("direction: %w", err)
	}
	v, err := ParseDirection(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
