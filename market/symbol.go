// Package market holds the value types every aggregate speaks: symbols,
// directions, brokers, trade ids, thresholds and bounded decimal amounts.
// Constructors validate, so a value of these types is always well formed.
package market

import (
	"errors"
	"fmt"
	"strings"
)

// Symbol is a base ticker such as "AAPL"; positions and hedges key on it.
type Symbol string

var (
	ErrEmptySymbol        = errors.New("symbol cannot be empty")
	ErrInvalidSymbol      = errors.New("invalid symbol")
	ErrNotTokenizedEquity = errors.New("not a tokenized equity symbol")
)

// NewSymbol validates a base ticker: 1-10 characters of A-Z, 0-9 and '.'.
func NewSymbol(s string) (Symbol, error) {
	if s == "" {
		return "", ErrEmptySymbol
	}
	if len(s) > 10 {
		return "", fmt.Errorf("%w %q: longer than 10 characters", ErrInvalidSymbol, s)
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.') {
			return "", fmt.Errorf("%w %q: only A-Z, 0-9 and '.' allowed", ErrInvalidSymbol, s)
		}
	}
	return Symbol(s), nil
}

func (s Symbol) String() string { return string(s) }

// Marker is how a tokenized equity spells its base ticker on chain.
type Marker string

const (
	MarkerT     Marker = "t"  // prefix: tAAPL
	MarkerZeroX Marker = "0x" // suffix: AAPL0x
	MarkerS1    Marker = "s1" // suffix: NVDAs1
)

// TokenizedSymbol is an on-chain equity token symbol and its base ticker.
type TokenizedSymbol struct {
	Base   Symbol
	Marker Marker
}

// ParseTokenized parses "tAAPL", "AAPL0x" or "NVDAs1". It tries the t prefix
// first, then the 0x suffix, then s1, as upstream did. USDC and plain
// tickers are rejected with ErrNotTokenizedEquity.
func ParseTokenized(s string) (TokenizedSymbol, error) {
	try := func(base string, m Marker) (TokenizedSymbol, bool) {
		sym, err := NewSymbol(base)
		if err != nil {
			return TokenizedSymbol{}, false
		}
		return TokenizedSymbol{Base: sym, Marker: m}, true
	}
	if rest, ok := strings.CutPrefix(s, "t"); ok {
		if t, ok := try(rest, MarkerT); ok {
			return t, nil
		}
	}
	if rest, ok := strings.CutSuffix(s, "0x"); ok {
		if t, ok := try(rest, MarkerZeroX); ok {
			return t, nil
		}
	}
	if rest, ok := strings.CutSuffix(s, "s1"); ok {
		if t, ok := try(rest, MarkerS1); ok {
			return t, nil
		}
	}
	return TokenizedSymbol{}, fmt.Errorf("%w: %q", ErrNotTokenizedEquity, s)
}

func (t TokenizedSymbol) String() string {
	if t.Marker == MarkerT {
		return "t" + string(t.Base)
	}
	return string(t.Base) + string(t.Marker)
}
