package dryrun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// LedgerEntry is one accepted order, one JSON line in the ledger file.
type LedgerEntry struct {
	ClientOrderID string
	BrokerOrderID string
	Symbol        market.Symbol
	Side          market.Direction
	Quantity      decimal.Decimal
	Price         decimal.Decimal
	AcceptedAt    time.Time // UTC
}

// ledgerLine is the wire form: decimals as strings, side "Buy"/"Sell",
// accepted_at RFC 3339 with nanoseconds in UTC.
type ledgerLine struct {
	ClientOrderID string `json:"client_order_id"`
	BrokerOrderID string `json:"broker_order_id"`
	Symbol        string `json:"symbol"`
	Side          string `json:"side"`
	Quantity      string `json:"quantity"`
	Price         string `json:"price"`
	AcceptedAt    string `json:"accepted_at"`
}

func (e LedgerEntry) marshal() ([]byte, error) {
	b, err := json.Marshal(ledgerLine{
		ClientOrderID: e.ClientOrderID,
		BrokerOrderID: e.BrokerOrderID,
		Symbol:        string(e.Symbol),
		Side:          string(e.Side),
		Quantity:      e.Quantity.String(),
		Price:         e.Price.String(),
		AcceptedAt:    e.AcceptedAt.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func parseLine(line []byte) (LedgerEntry, error) {
	var l ledgerLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return LedgerEntry{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return LedgerEntry{}, errors.New("invalid JSON: trailing data")
	}
	var errs []error
	if l.ClientOrderID == "" {
		errs = append(errs, errors.New("client_order_id is empty"))
	}
	if l.BrokerOrderID == "" {
		errs = append(errs, errors.New("broker_order_id is empty"))
	}
	sym, err := market.NewSymbol(l.Symbol)
	if err != nil {
		errs = append(errs, fmt.Errorf("symbol: %w", err))
	}
	side := market.Direction(l.Side)
	if !side.Valid() {
		errs = append(errs, fmt.Errorf("side %q: want Buy or Sell", l.Side))
	}
	qty, err := decimal.NewFromString(l.Quantity)
	if err != nil {
		errs = append(errs, fmt.Errorf("quantity: %w", err))
	}
	price, err := decimal.NewFromString(l.Price)
	if err != nil {
		errs = append(errs, fmt.Errorf("price: %w", err))
	}
	at, err := time.Parse(time.RFC3339Nano, l.AcceptedAt)
	if err != nil {
		errs = append(errs, fmt.Errorf("accepted_at: %w", err))
	}
	if len(errs) > 0 {
		return LedgerEntry{}, errors.Join(errs...)
	}
	return LedgerEntry{
		ClientOrderID: l.ClientOrderID,
		BrokerOrderID: l.BrokerOrderID,
		Symbol:        sym,
		Side:          side,
		Quantity:      qty,
		Price:         price,
		AcceptedAt:    at.UTC(),
	}, nil
}

// parseLedger passes each complete line of data to fn, numbering them from
// line+1, and returns the length of the prefix passed (everything after it
// is a torn last line without its newline, or the line that failed). The
// error names path and line number of a line that does not parse or that
// fn refuses.
func parseLedger(path string, data []byte, line int, fn func(LedgerEntry) error) (complete int, err error) {
	for complete < len(data) {
		nl := bytes.IndexByte(data[complete:], '\n')
		if nl < 0 {
			break // torn last line
		}
		line++
		e, err := parseLine(data[complete : complete+nl])
		if err == nil {
			err = fn(e)
		}
		if err != nil {
			return complete, fmt.Errorf("ledger %s line %d: %w", path, line, err)
		}
		complete += nl + 1
	}
	return complete, nil
}

// ReadLedger reads every entry of a ledger file without opening a broker on
// it, in file order (duplicates, which a healthy ledger never has, are
// returned as they are). A torn last line without its newline, as a crash
// mid-write leaves it, is ignored; the file is not modified. A missing file
// has no entries.
func ReadLedger(path string) ([]LedgerEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	var entries []LedgerEntry
	_, err = parseLedger(path, data, 0, func(e LedgerEntry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}
