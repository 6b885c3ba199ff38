package position

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// TriggerKind says why a hedge was placed.
type TriggerKind string

const (
	TriggerShares  TriggerKind = "shares"
	TriggerDollars TriggerKind = "dollars"
	TriggerManual  TriggerKind = "manual"
)

func (k *TriggerKind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("trigger kind: %w", err)
	}
	switch v := TriggerKind(s); v {
	case TriggerShares, TriggerDollars, TriggerManual:
		*k = v
		return nil
	}
	return fmt.Errorf("invalid trigger kind %q: want shares, dollars or manual", s)
}

// TriggerReason records what the position looked like when the hedge was
// placed. NetPosition is signed; the other fields depend on Kind.
type TriggerReason struct {
	Kind             TriggerKind      `json:"kind"`
	NetPosition      decimal.Decimal  `json:"net_position"`
	ThresholdShares  *decimal.Decimal `json:"threshold_shares,omitempty"`
	DollarValue      *decimal.Decimal `json:"dollar_value,omitempty"`
	PriceUSDC        *decimal.Decimal `json:"price_usdc,omitempty"`
	ThresholdDollars *decimal.Decimal `json:"threshold_dollars,omitempty"`
}

// HedgeDirection is the broker side that reduces net: Sell a long exposure,
// Buy a short one. ok is false when there is nothing to hedge.
func HedgeDirection(net decimal.Decimal) (d market.Direction, ok bool) {
	switch net.Sign() {
	case 1:
		return market.Sell, true
	case -1:
		return market.Buy, true
	}
	return "", false
}

// ReadyToHedge reports the hedge the position needs now: nothing pending,
// the threshold met and a non-zero quantity (trunc(|net|) for whole-share
// execution, |net| for fractional). The remainder stays in net.
func (s State) ReadyToHedge() (shares decimal.Decimal, direction market.Direction, reason TriggerReason, ok bool) {
	h, ok, err := s.hedge()
	if err != nil || !ok {
		return decimal.Zero, "", TriggerReason{}, false
	}
	return h.shares, h.direction, h.reason, true
}

type hedge struct {
	shares    decimal.Decimal
	direction market.Direction
	reason    TriggerReason
}

// hedge is ReadyToHedge with the arithmetic error Decide must surface.
func (s State) hedge() (hedge, bool, error) {
	if s.Pending != nil {
		return hedge{}, false, nil
	}
	dir, ok := HedgeDirection(s.Net)
	if !ok {
		return hedge{}, false, nil
	}
	reason, met, err := s.thresholdMet()
	if err != nil || !met {
		return hedge{}, false, err
	}
	shares := s.Net.Abs()
	if !s.Execution.Fractional {
		shares = shares.Truncate(0)
	}
	if shares.IsZero() {
		return hedge{}, false, nil
	}
	return hedge{shares: shares, direction: dir, reason: reason}, true, nil
}

func (s State) thresholdMet() (TriggerReason, bool, error) {
	abs := s.Net.Abs()
	switch t := s.Threshold; {
	case t.Shares != nil:
		if abs.LessThan(*t.Shares) {
			return TriggerReason{}, false, nil
		}
		return TriggerReason{Kind: TriggerShares, NetPosition: s.Net, ThresholdShares: ptr(*t.Shares)}, true, nil
	case t.Dollars != nil:
		if s.LastPriceUSDC == nil {
			return TriggerReason{}, false, nil // no price yet: the value is unknown
		}
		price := *s.LastPriceUSDC
		value := price.Mul(abs)
		if value.LessThan(*t.Dollars) {
			return TriggerReason{}, false, nil
		}
		// Recorded on the 18-digit grid the views store. Truncating cannot
		// take it below the threshold, which lies on that grid.
		value = value.Truncate(market.MaxScale)
		if market.CheckAmount(value) != nil {
			return TriggerReason{}, false, &market.ArithmeticError{Op: "*", LHS: price, RHS: abs}
		}
		return TriggerReason{Kind: TriggerDollars, NetPosition: s.Net, DollarValue: &value,
			PriceUSDC: &price, ThresholdDollars: ptr(*t.Dollars)}, true, nil
	}
	return TriggerReason{}, false, nil
}

// ExecutionNamespace is the UUIDv5 namespace of execution ids. Changing it
// changes every id a replay derives, so it is fixed forever.
const ExecutionNamespace = "89905b58-7ebe-4260-9148-4eb9a5897ece"

var executionNS = uuid.MustParse(ExecutionNamespace)

// ExecutionID derives the id of the hedge placed by the event at sequence
// seq of the symbol's position: a replay or a redelivery derives the same id,
// and the order manager uses it as the broker's client order id.
func ExecutionID(symbol market.Symbol, seq uint64) string {
	return uuid.NewSHA1(executionNS, []byte(string(symbol)+":"+strconv.FormatUint(seq, 10))).String()
}

func ptr[T any](v T) *T { return &v }
