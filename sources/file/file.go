// Package file reads on-chain fills from a JSONL file, one fill per line,
// for backtests, demos and tests. A line carries the same facts as the
// OnChainTrade Witness command:
//
//	{"tx_hash":"0x…","log_index":3,"block_number":34844164,
//	 "block_timestamp":"2025-11-04T14:30:00Z","symbol":"tAAPL",
//	 "direction":"Buy","amount":"0.25","price_usdc":"228.41"}
//
// symbol is the tokenized symbol as on chain, direction the bot's side of
// the fill, amount (shares) and price_usdc decimal strings (JSON numbers
// are rejected: they invite float parsing). Unknown fields are rejected.
package file

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

// MaxLineBytes bounds one line (without its newline).
const MaxLineBytes = 1 << 20

// Fill is one validated on-chain fill.
type Fill struct {
	TradeID        market.TradeID
	BlockNumber    uint64
	BlockTimestamp time.Time // UTC
	Symbol         market.TokenizedSymbol
	Direction      market.Direction
	Amount         decimal.Decimal // shares, > 0
	PriceUSDC      decimal.Decimal // USDC per share, > 0
}

// fields are the keys of a line, in the order MarshalJSON writes them.
var fields = []string{"tx_hash", "log_index", "block_number", "block_timestamp", "symbol", "direction", "amount", "price_usdc"}

// FieldError is a problem with one field of a line.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Field+" ") || strings.HasPrefix(msg, e.Field+":") { // already named
		return msg
	}
	return e.Field + ": " + msg
}
func (e *FieldError) Unwrap() error { return e.Err }

var (
	ErrMissing   = errors.New("missing")
	ErrDuplicate = errors.New("duplicate")
	ErrTooLong   = fmt.Errorf("line longer than %d bytes", MaxLineBytes)
)

// Plain decimal syntax only: no exponent (a huge exponent would make the
// range check allocate without bound), no '+', no leading or trailing dot.
var decimalSyntax = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// ParseLine parses and validates one JSONL line.
func ParseLine(b []byte) (Fill, error) {
	raw, err := object(b)
	if err != nil {
		return Fill{}, fmt.Errorf("invalid JSON object: %w", err)
	}

	var f Fill
	var errs []error
	field := func(name string, err error) {
		if err != nil {
			errs = append(errs, &FieldError{Field: name, Err: err})
		}
	}

	txHash, err := str(raw["tx_hash"])
	if err == nil {
		_, err = market.NewTradeID(txHash, 0)
	}
	field("tx_hash", err)
	logIndex, err := integer(raw["log_index"])
	field("log_index", err)
	f.TradeID, _ = market.NewTradeID(txHash, logIndex) // errors reported above

	f.BlockNumber, err = integer(raw["block_number"])
	if err == nil && f.BlockNumber == 0 {
		err = errors.New("must be greater than 0")
	}
	field("block_number", err)

	f.BlockTimestamp, err = timestamp(raw["block_timestamp"])
	field("block_timestamp", err)

	s, err := str(raw["symbol"])
	if err == nil {
		f.Symbol, err = market.ParseTokenized(s)
	}
	field("symbol", err)

	s, err = str(raw["direction"])
	if err == nil {
		f.Direction, err = market.ParseDirection(s)
	}
	field("direction", err)

	f.Amount, err = amount("amount", raw["amount"])
	field("amount", err)
	f.PriceUSDC, err = amount("price_usdc", raw["price_usdc"])
	field("price_usdc", err)

	if len(errs) > 0 {
		return Fill{}, fieldErrors(errs)
	}
	return f, nil
}

// fieldErrors reports every bad field of a line on one line of text.
type fieldErrors []error

func (e fieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e fieldErrors) Unwrap() []error { return e }

// object splits one JSON object into its known fields. It rejects unknown
// and repeated keys (encoding/json would match keys case-insensitively
// and let the last repeat win) and anything after the object.
func object(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object, got %v", tok)
	}
	out := make(map[string]json.RawMessage, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a field name, got %v", tok)
		}
		if !slices.Contains(fields, key) {
			return nil, fmt.Errorf("unknown field %q", key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("repeated field %q", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the object")
	}
	return out, nil
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

func str(raw json.RawMessage) (string, error) {
	if !present(raw) {
		return "", ErrMissing
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("must be a string, got %s", raw)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

func integer(raw json.RawMessage) (uint64, error) {
	if !present(raw) {
		return 0, ErrMissing
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("must be a non-negative integer, got %s", raw)
	}
	return n, nil
}

func timestamp(raw json.RawMessage) (time.Time, error) {
	s, err := str(raw)
	if err != nil {
		return time.Time{}, err
	}
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339, got %q", s)
	}
	if ts.IsZero() {
		return time.Time{}, fmt.Errorf("must not be the zero time, got %q", s)
	}
	return ts.UTC(), nil
}

func amount(name string, raw json.RawMessage) (decimal.Decimal, error) {
	if !present(raw) {
		return decimal.Zero, ErrMissing
	}
	if raw[0] != '"' {
		return decimal.Zero, fmt.Errorf("%s must be a decimal string, got %s", name, raw)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return decimal.Zero, err
	}
	if !decimalSyntax.MatchString(s) {
		return decimal.Zero, fmt.Errorf("%s must be a decimal string, got %q", name, s)
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("%s must be a decimal string, got %q", name, s)
	}
	if err := market.PositiveAmount(name, v); err != nil {
		return decimal.Zero, err
	}
	return v, nil
}

// MarshalJSON writes the line form that ParseLine reads.
func (f Fill) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		TxHash         string `json:"tx_hash"`
		LogIndex       uint64 `json:"log_index"`
		BlockNumber    uint64 `json:"block_number"`
		BlockTimestamp string `json:"block_timestamp"`
		Symbol         string `json:"symbol"`
		Direction      string `json:"direction"`
		Amount         string `json:"amount"`
		PriceUSDC      string `json:"price_usdc"`
	}{
		f.TradeID.TxHash, f.TradeID.LogIndex, f.BlockNumber,
		f.BlockTimestamp.UTC().Format(time.RFC3339Nano), f.Symbol.String(),
		string(f.Direction), f.Amount.String(), f.PriceUSDC.String(),
	})
}

// LineError is a line that could not be used; Line counts from 1,
// blank lines included.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e LineError) Unwrap() error { return e.Err }

// Read parses every line of r, skipping blank ones. A line fails when it
// does not parse or repeats the (tx_hash, log_index) of an earlier line
// (the earlier one is kept). In lenient mode (strict false) failures are
// collected in bad and reading goes on; in strict mode the first failure
// is returned as err (a LineError) with no fills. An I/O error is
// returned as err together with what was read before it. Fills come back
// in file order; see SortChainOrder.
func Read(r io.Reader, strict bool) (fills []Fill, bad []LineError, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	seen := make(map[market.TradeID]int)
	for n := 1; ; n++ {
		text, rerr := readLine(br)
		if rerr != nil && !errors.Is(rerr, ErrTooLong) {
			if rerr == io.EOF {
				return fills, bad, nil
			}
			return fills, bad, fmt.Errorf("line %d: read: %w", n, rerr)
		}
		var lerr error
		if rerr != nil {
			lerr = rerr
		} else {
			if n == 1 {
				text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")) // UTF-8 BOM
			}
			text = bytes.TrimSpace(text)
			if len(text) == 0 {
				continue
			}
			var f Fill
			if f, lerr = ParseLine(text); lerr == nil {
				if first, dup := seen[f.TradeID]; dup {
					lerr = fmt.Errorf("trade %s: %w of line %d", f.TradeID, ErrDuplicate, first)
				} else {
					seen[f.TradeID] = n
					fills = append(fills, f)
				}
			}
		}
		if lerr != nil {
			le := LineError{Line: n, Err: lerr}
			if strict {
				return nil, nil, le
			}
			bad = append(bad, le)
		}
	}
}

// readLine returns the next line without its newline, io.EOF after the
// last one, or ErrTooLong (having consumed the whole line) for a line over
// MaxLineBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+2 { // room for "\r\n"
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(buf) > 0 || tooLong):
			// last line without a newline
		case err != nil:
			return nil, err
		}
		if tooLong {
			return nil, ErrTooLong
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > MaxLineBytes {
			return nil, ErrTooLong
		}
		return buf, nil
	}
}

// SortChainOrder sorts fills by (block number, log index), keeping the
// file order of ties: the Position must see a symbol's fills in chain
// order.
func SortChainOrder(fills []Fill) {
	slices.SortStableFunc(fills, func(a, b Fill) int {
		if c := cmp.Compare(a.BlockNumber, b.BlockNumber); c != 0 {
			return c
		}
		return cmp.Compare(a.TradeID.LogIndex, b.TradeID.LogIndex)
	})
}
