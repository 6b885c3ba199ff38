package position

import (
	"errors"
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
)

// Initialize opens a position before any fill (genesis).
type Initialize struct {
	Symbol    market.Symbol    `json:"symbol"`
	Threshold market.Threshold `json:"threshold"`
	Execution market.Execution `json:"execution"`
}

// Migrate opens a position from a legacy accumulator row (genesis). It does
// not place a hedge even when over threshold: the legacy system may still
// have an order in flight for that exposure.
type Migrate struct {
	Symbol           market.Symbol    `json:"symbol"`
	NetPosition      decimal.Decimal  `json:"net_position"`
	AccumulatedLong  decimal.Decimal  `json:"accumulated_long"`
	AccumulatedShort decimal.Decimal  `json:"accumulated_short"`
	Threshold        market.Threshold `json:"threshold"`
	Execution        market.Execution `json:"execution"`
	// Pending is the legacy hedge still in flight (a PENDING or SUBMITTED
	// offchain_trades row), whose shares the legacy net already counts.
	Pending *MigratedPending `json:"pending,omitempty"`
}

// MigratedPending is a legacy in-flight hedge. The legacy bot took its
// shares out of net when it placed it, so it becomes the position's
// pending hedge reserved: its fill does not move net again, its failure
// gives the shares back.
type MigratedPending struct {
	ExecutionID string           `json:"execution_id"`
	Shares      decimal.Decimal  `json:"shares"`
	Direction   market.Direction `json:"direction"`
}

// Venues of a migrated fill.
const (
	VenueOnChain  = "onchain"
	VenueOffChain = "offchain"
)

// RecordMigratedFill tells a migrated position one of its legacy fills, in
// legacy time order, for the PnL history. It never moves net: the migrated
// net already counts it. SourceID is the trade id ("0x..:N") or the
// execution id.
type RecordMigratedFill struct {
	Symbol    market.Symbol    `json:"symbol"`
	Venue     string           `json:"venue"`
	SourceID  string           `json:"source_id"`
	Direction market.Direction `json:"direction"`
	Amount    decimal.Decimal  `json:"amount"`
	PriceUSDC decimal.Decimal  `json:"price_usdc"`
	At        time.Time        `json:"at"`
}

// AcknowledgeOnChainFill applies one on-chain fill. Symbol is the token as
// seen on chain (tAAPL, AAPL0x, AAPLs1) or the base ticker. Threshold and
// Execution configure the position when this fill opens it, and are
// ignored (but validated when present) once it exists.
type AcknowledgeOnChainFill struct {
	Symbol         string            `json:"symbol"`
	TradeID        market.TradeID    `json:"trade_id"`
	BlockNumber    uint64            `json:"block_number"`
	Amount         decimal.Decimal   `json:"amount"`
	Direction      market.Direction  `json:"direction"`
	PriceUSDC      decimal.Decimal   `json:"price_usdc"`
	BlockTimestamp time.Time         `json:"block_timestamp"`
	Threshold      *market.Threshold `json:"threshold,omitempty"`
	Execution      *market.Execution `json:"execution,omitempty"`
	// FillSequence is the OnChainTrade event sequence that recorded this
	// fill: omitted (0) for a trade's first fill (sequence 1), set for a
	// fill witnessed again after a revert. A revert names it, so a late
	// revert of one incarnation never withdraws the next.
	FillSequence uint64 `json:"fill_sequence,omitempty"`
}

// RevertOnChainFill withdraws an applied on-chain fill whose block left the
// canonical chain (OnChainTrade Reverted). It repeats the fill, which must
// match the one applied; the exposure it added leaves net, and the hedge
// logic then trades it back.
type RevertOnChainFill struct {
	Symbol       string           `json:"symbol"`
	TradeID      market.TradeID   `json:"trade_id"`
	BlockNumber  uint64           `json:"block_number"`
	FillSequence uint64           `json:"fill_sequence,omitempty"`
	Amount       decimal.Decimal  `json:"amount"`
	Direction    market.Direction `json:"direction"`
	PriceUSDC    decimal.Decimal  `json:"price_usdc"`
	// Reason is the trade's ("reorg", "manual"), for the audit trail.
	Reason string `json:"reason"`
}

// PlaceOffChainOrder is the operator's manual hedge. It does not require the
// threshold to be met (that is the point of an override), but it may only
// reduce the exposure: right direction, at most |net|, whole shares unless
// the execution is fractional.
type PlaceOffChainOrder struct {
	Symbol    market.Symbol    `json:"symbol"`
	Shares    decimal.Decimal  `json:"shares"`
	Direction market.Direction `json:"direction"`
	Broker    market.Broker    `json:"broker"`
}

// CompleteOffChainOrder reports the broker fill of the pending hedge; a
// partial fill leaves the rest of the exposure in net.
type CompleteOffChainOrder struct {
	ExecutionID     string           `json:"execution_id"`
	SharesFilled    decimal.Decimal  `json:"shares_filled"`
	Direction       market.Direction `json:"direction"`
	BrokerOrderID   string           `json:"broker_order_id"`
	Price           decimal.Decimal  `json:"price"`
	BrokerTimestamp time.Time        `json:"broker_timestamp"`
}

// FailOffChainOrder reports that the pending hedge did not execute.
type FailOffChainOrder struct {
	ExecutionID string `json:"execution_id"`
	Error       string `json:"error"`
}

// UpdateThreshold changes when the position hedges.
type UpdateThreshold struct {
	Threshold market.Threshold `json:"threshold"`
}

func (Initialize) CommandType() string             { return "Initialize" }
func (Migrate) CommandType() string                { return "Migrate" }
func (AcknowledgeOnChainFill) CommandType() string { return "AcknowledgeOnChainFill" }
func (RevertOnChainFill) CommandType() string      { return "RevertOnChainFill" }
func (PlaceOffChainOrder) CommandType() string     { return "PlaceOffChainOrder" }
func (CompleteOffChainOrder) CommandType() string  { return "CompleteOffChainOrder" }
func (FailOffChainOrder) CommandType() string      { return "FailOffChainOrder" }
func (UpdateThreshold) CommandType() string        { return "UpdateThreshold" }
func (RecordMigratedFill) CommandType() string     { return "RecordMigratedFill" }

// Commands decodes command payloads by type name.
var Commands = aggregate.Decoder[aggregate.Command]{
	"Initialize":             aggregate.As[Initialize, aggregate.Command],
	"Migrate":                aggregate.As[Migrate, aggregate.Command],
	"AcknowledgeOnChainFill": aggregate.As[AcknowledgeOnChainFill, aggregate.Command],
	"RevertOnChainFill":      aggregate.As[RevertOnChainFill, aggregate.Command],
	"PlaceOffChainOrder":     aggregate.As[PlaceOffChainOrder, aggregate.Command],
	"CompleteOffChainOrder":  aggregate.As[CompleteOffChainOrder, aggregate.Command],
	"FailOffChainOrder":      aggregate.As[FailOffChainOrder, aggregate.Command],
	"UpdateThreshold":        aggregate.As[UpdateThreshold, aggregate.Command],
	"RecordMigratedFill":     aggregate.As[RecordMigratedFill, aggregate.Command],
}

// Field validation. Decoded JSON bypasses the market constructors, so every
// command re-validates what it carries.

func (c Initialize) validate() error {
	return errors.Join(checkSymbol("symbol", c.Symbol), checkThreshold("threshold", c.Threshold),
		checkExecution("execution", c.Execution))
}

func (c Migrate) validate() error {
	return errors.Join(checkSymbol("symbol", c.Symbol),
		checkAmount("net_position", c.NetPosition),
		checkVolume("accumulated_long", c.AccumulatedLong),
		checkVolume("accumulated_short", c.AccumulatedShort),
		checkThreshold("threshold", c.Threshold), checkExecution("execution", c.Execution),
		c.Pending.validate())
}

func (p *MigratedPending) validate() error {
	if p == nil {
		return nil
	}
	return errors.Join(required("pending.execution_id", p.ExecutionID), positive("pending.shares", p.Shares),
		checkDirection("pending.direction", p.Direction))
}

func (c RecordMigratedFill) validate() error {
	var venue error
	if c.Venue != VenueOnChain && c.Venue != VenueOffChain {
		venue = invalid("venue", fmt.Errorf("want %s or %s, got %q", VenueOnChain, VenueOffChain, c.Venue))
	}
	return errors.Join(checkSymbol("symbol", c.Symbol), venue, required("source_id", c.SourceID),
		checkDirection("direction", c.Direction), positive("amount", c.Amount),
		positive("price_usdc", c.PriceUSDC), checkTime("at", c.At))
}

// validate also returns the base symbol the fill counts towards and the
// trade id in canonical (lower-case) form, so a redelivery spelled in
// another case is still recognised.
func (c AcknowledgeOnChainFill) validate() (market.Symbol, market.TradeID, error) {
	base, err := BaseSymbol(c.Symbol)
	if err != nil {
		err = invalid("symbol", err)
	}
	id, idErr := market.NewTradeID(c.TradeID.TxHash, c.TradeID.LogIndex)
	if idErr != nil {
		idErr = invalid("trade_id", idErr)
	}
	errs := []error{err, idErr,
		positive("amount", c.Amount), checkDirection("direction", c.Direction),
		positive("price_usdc", c.PriceUSDC), checkTime("block_timestamp", c.BlockTimestamp)}
	if c.Threshold != nil {
		errs = append(errs, checkThreshold("threshold", *c.Threshold))
	}
	if c.Execution != nil {
		errs = append(errs, checkExecution("execution", *c.Execution))
	}
	return base, id, errors.Join(errs...)
}

// validate returns the base symbol and the canonical trade id, like
// AcknowledgeOnChainFill's.
func (c RevertOnChainFill) validate() (market.Symbol, market.TradeID, error) {
	base, err := BaseSymbol(c.Symbol)
	if err != nil {
		err = invalid("symbol", err)
	}
	id, idErr := market.NewTradeID(c.TradeID.TxHash, c.TradeID.LogIndex)
	if idErr != nil {
		idErr = invalid("trade_id", idErr)
	}
	return base, id, errors.Join(err, idErr, positive("amount", c.Amount), checkDirection("direction", c.Direction),
		positive("price_usdc", c.PriceUSDC), required("reason", c.Reason))
}

func (c PlaceOffChainOrder) validate() error {
	return errors.Join(checkSymbol("symbol", c.Symbol), positive("shares", c.Shares),
		checkDirection("direction", c.Direction), checkBroker("broker", c.Broker))
}

func (c CompleteOffChainOrder) validate() error {
	return errors.Join(required("execution_id", c.ExecutionID), positive("shares_filled", c.SharesFilled),
		checkDirection("direction", c.Direction), required("broker_order_id", c.BrokerOrderID),
		positive("price", c.Price), checkTime("broker_timestamp", c.BrokerTimestamp))
}

func (c FailOffChainOrder) validate() error {
	return errors.Join(required("execution_id", c.ExecutionID), required("error", c.Error))
}

func (c UpdateThreshold) validate() error { return checkThreshold("threshold", c.Threshold) }

// BaseSymbol maps an on-chain token (tAAPL, AAPL0x, AAPLs1) or a base ticker
// to the base ticker that keys the position. Base tickers are upper case, so
// they can never be mistaken for a marked token.
func BaseSymbol(s string) (market.Symbol, error) {
	t, err := market.ParseTokenized(s)
	if err == nil {
		return t.Base, nil
	}
	if !errors.Is(err, market.ErrNotTokenizedEquity) {
		return "", err
	}
	return market.NewSymbol(s)
}

func checkSymbol(field string, s market.Symbol) error {
	if _, err := market.NewSymbol(string(s)); err != nil {
		return invalid(field, err)
	}
	return nil
}

func checkThreshold(field string, t market.Threshold) error {
	if err := t.Validate(); err != nil {
		return invalid(field, err)
	}
	return nil
}

func checkExecution(field string, e market.Execution) error {
	return checkBroker(field+".broker", e.Broker)
}

func checkBroker(field string, b market.Broker) error {
	if p, err := market.ParseBroker(string(b)); err != nil || p != b {
		return invalid(field, fmt.Errorf("unknown broker %q", b))
	}
	return nil
}

func checkDirection(field string, d market.Direction) error {
	if !d.Valid() {
		return invalid(field, fmt.Errorf("want Buy or Sell, got %q", d))
	}
	return nil
}

func positive(field string, v decimal.Decimal) error {
	if err := market.PositiveAmount(field, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	return nil
}

func checkAmount(field string, v decimal.Decimal) error {
	if err := market.CheckAmount(v); err != nil {
		return invalid(field, err)
	}
	return nil
}

func checkVolume(field string, v decimal.Decimal) error {
	if v.IsNegative() {
		return invalid(field, fmt.Errorf("gross volume must not be negative, got %s", v))
	}
	return checkAmount(field, v)
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return invalid(field, errors.New("required"))
	}
	return nil
}

func required(field, v string) error {
	if v == "" {
		return invalid(field, errors.New("required"))
	}
	return nil
}
