package onchaintrade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// fill is the part every Witness, Migrate, Filled and Migrated shares.
type fill struct {
	TradeID        market.TradeID
	Symbol         string
	Amount         decimal.Decimal
	Direction      market.Direction
	PriceUSDC      decimal.Decimal
	BlockNumber    uint64
	BlockTimestamp time.Time
}

// check validates every field (all problems joined) and returns the
// canonical (lowercase) trade id and the parsed symbol. A live fill needs a
// block number; a migrated one may have 0, as the legacy table had none.
func (f fill) check(needBlock bool) (market.TradeID, market.TokenizedSymbol, error) {
	tid, errID := market.NewTradeID(f.TradeID.TxHash, f.TradeID.LogIndex)
	sym, errSym := market.ParseTokenized(f.Symbol)
	errs := []error{
		fieldErr("trade_id", errID),
		fieldErr("symbol", errSym),
		fieldErr("amount", market.PositiveAmount("amount", f.Amount)),
		fieldErr("price_usdc", market.PositiveAmount("price_usdc", f.PriceUSDC)),
	}
	if !f.Direction.Valid() {
		errs = append(errs, fieldErr("direction", fmt.Errorf("%q is not Buy or Sell", f.Direction)))
	}
	if needBlock && f.BlockNumber == 0 {
		errs = append(errs, fieldErr("block_number", errors.New("must be positive")))
	}
	if f.BlockTimestamp.IsZero() {
		errs = append(errs, fieldErr("block_timestamp", errors.New("must be set")))
	}
	return tid, sym, errors.Join(errs...)
}

// checkEvent additionally requires what Decide derived: the trade id
// already lowercase and the base symbol matching the tokenized one.
func (f fill) checkEvent(needBlock bool, base market.Symbol) error {
	tid, sym, err := f.check(needBlock)
	if err != nil {
		return err
	}
	var errs []error
	if tid != f.TradeID {
		errs = append(errs, fieldErr("trade_id", fmt.Errorf("%s is not lowercase", f.TradeID)))
	}
	if sym.Base != base {
		errs = append(errs, fieldErr("base_symbol", fmt.Errorf("%q is not the base of %q", base, f.Symbol)))
	}
	return errors.Join(errs...)
}

// check validates a Revert against the trade it addresses.
func (c Revert) check(s State) error {
	var errs []error
	if tid, err := market.NewTradeID(c.TradeID.TxHash, c.TradeID.LogIndex); err != nil {
		errs = append(errs, fieldErr("trade_id", err))
	} else if tid != s.TradeID {
		errs = append(errs, fieldErr("trade_id", fmt.Errorf("%s is not this trade (%s)", tid, s.TradeID)))
	}
	if c.BlockNumber != s.BlockNumber {
		errs = append(errs, fieldErr("block_number", fmt.Errorf("the trade's current fill is in block %d, not %d", s.BlockNumber, c.BlockNumber)))
	}
	errs = append(errs, checkReason(c.Reason, c.ForkBlock, strings.ToLower(c.ForkHash), s.BlockNumber))
	return errors.Join(errs...)
}

// checkReason: a reorg names its fork point, at or before the fill's block
// (a fill before the fork is still canonical); a manual revert names none.
func checkReason(r RevertReason, forkBlock uint64, forkHash string, block uint64) error {
	switch r {
	case RevertReorg:
		var errs []error
		if forkBlock == 0 || forkBlock > block {
			errs = append(errs, fieldErr("fork_block", fmt.Errorf("%d is not in 1..%d (the fill's block)", forkBlock, block)))
		}
		if !isHash(forkHash) {
			errs = append(errs, fieldErr("fork_hash", fmt.Errorf("%q is not 0x and 64 lowercase hex digits", forkHash)))
		}
		return errors.Join(errs...)
	case RevertManual:
		if forkBlock != 0 || forkHash != "" {
			return fieldErr("fork_block", errors.New("a manual revert names no fork"))
		}
		return nil
	}
	return fieldErr("reason", fmt.Errorf("%q is not reorg or manual", r))
}

func isHash(h string) bool {
	if len(h) != 66 || !strings.HasPrefix(h, "0x") {
		return false
	}
	for _, c := range h[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkGas bounds a gas figure to what the legacy INTEGER columns (and
// upstream's GasPriceOutOfRange) allow. Zero is rejected: a mined
// transaction always uses gas and pays for it, and an omitted JSON field
// decodes as zero.
func checkGas(field string, v uint64) error {
	switch {
	case v == 0:
		return fieldErr(field, errors.New("must be positive"))
	case v > math.MaxInt64:
		return fieldErr(field, fmt.Errorf("%d exceeds %d", v, int64(math.MaxInt64)))
	}
	return nil
}

// maxPythExpo bounds the exponent before any decimal arithmetic: a huge
// exponent would make rescaling (and so CheckAmount) arbitrarily expensive.
const maxPythExpo = 38

// checkPyth validates an optional Pyth reading of field: value an int64
// whose scaled price is positive and representable, conf a uint64, a
// publish time.
func checkPyth(field string, p *market.PythPrice) error {
	if p == nil {
		return nil
	}
	var errs []error
	if p.Expo < -maxPythExpo || p.Expo > maxPythExpo {
		errs = append(errs, fmt.Errorf("expo %d outside ±%d", p.Expo, maxPythExpo))
	} else if _, err := strconv.ParseInt(p.Value, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("value %q is not an int64", p.Value))
	} else if price, err := p.Price(); err != nil {
		errs = append(errs, err)
	} else if err := market.PositiveAmount("price", price); err != nil {
		errs = append(errs, err)
	}
	if _, err := strconv.ParseUint(p.Conf, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("conf %q is not a uint64", p.Conf))
	}
	if p.PublishTime.IsZero() {
		errs = append(errs, errors.New("publish_time must be set"))
	}
	return fieldErr(field, errors.Join(errs...))
}

func utc(t time.Time) time.Time { return t.UTC() }

func copyGas(p *uint64) *uint64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// pythUTC copies a Pyth reading with its publish time in UTC.
func pythUTC(p *market.PythPrice) *market.PythPrice {
	if p == nil {
		return nil
	}
	c := *p
	c.PublishTime = c.PublishTime.UTC()
	return &c
}
