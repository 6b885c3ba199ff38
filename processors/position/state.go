package position

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// State is one position. Net is what still needs hedging; the accumulated
// fields are gross on-chain volume: hedges never reduce them (the legacy
// model did, which made its consistency check meaningless), only a
// reverted fill takes its own volume back out.
type State struct {
	Symbol           market.Symbol   `json:"symbol"`
	Net              decimal.Decimal `json:"net"`
	AccumulatedLong  decimal.Decimal `json:"accumulated_long"`
	AccumulatedShort decimal.Decimal `json:"accumulated_short"`
	// HedgedShares is the signed hedge volume net counts beyond the
	// migrated net (Buy +, Sell -): every filled hedge except a reserved
	// one (already in the migrated net), less a reserved hedge that failed
	// (its shares go back). So Net = migrated net + on-chain signed volume
	// + HedgedShares.
	HedgedShares decimal.Decimal `json:"hedged_shares"`
	Pending      *Pending        `json:"pending"`
	// Migrated: the position was opened by Migrate. Live: it has applied
	// a fill since (on-chain or hedge), after which no legacy history can
	// be recorded behind it.
	Migrated bool `json:"migrated,omitempty"`
	Live     bool `json:"live,omitempty"`
	// History is the newest recorded legacy fill (see MigratedFillRecorded).
	History *HistoryMark `json:"history,omitempty"`
	// omitzero: market.Threshold and market.Broker reject their own zero
	// JSON, and a lifecycle that failed before genesis has a zero state that
	// the runner must still be able to store and load.
	Threshold     market.Threshold `json:"threshold,omitzero"`
	Execution     market.Execution `json:"execution,omitzero"`
	LastPriceUSDC *decimal.Decimal `json:"last_price_usdc"`
	LastUpdated   time.Time        `json:"last_updated"`
	// LastFill is the chain-order watermark of applied on-chain fills. A
	// revert moves it back to the newest fill still applied (without its
	// trade id), so the canonical chain's fills after the fork are
	// accepted again.
	LastFill *FillMark `json:"last_fill"`
	// Revertible are the newest applied fills, oldest first: at most
	// RevertWindowFills, none more than RevertWindowBlocks below the newest.
	// Only these can be reverted. A reverted one stays, marked, until it
	// leaves the window, so a repeated revert is told apart.
	Revertible []AppliedFill `json:"revertible,omitempty"`
	// Settled is the newest applied fill that left the window: the
	// watermark once every fill in the window is reverted.
	Settled *FillMark `json:"settled,omitempty"`
}

// The revert window. A reorg deeper than the chain source's confirmations
// is rare on Base (2 s blocks): RevertWindowBlocks is ~33 minutes. The
// fill bound keeps the state (stored on every command) small in a burst.
const (
	RevertWindowBlocks = 1000
	RevertWindowFills  = 32
)

// AppliedFill is an applied on-chain fill in the revert window: where it
// is in chain order and a digest of what it was (trade id, fill sequence,
// side, amount, price), which a revert must repeat. It is stored as one
// short string ("block:log_index:digest", ":r" appended once reverted):
// the state is written on every command, and a window of JSON objects
// with tx hashes made its encoding several times slower.
type AppliedFill struct {
	BlockNumber uint64
	LogIndex    uint64
	Digest      uint64
	Reverted    bool
}

// mark is the fill's place in chain order (without its trade id, which
// the window does not keep).
func (f AppliedFill) mark() FillMark {
	return FillMark{BlockNumber: f.BlockNumber, LogIndex: f.LogIndex}
}

// fillDigest is FNV-1a over what identifies and sizes a fill, decimals in
// canonical form ("3.0" and "3" are one amount).
func fillDigest(id market.TradeID, fillSequence uint64, d market.Direction, amount, price decimal.Decimal) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id.String() + "|" + strconv.FormatUint(fillSeq(fillSequence), 10) + "|" + string(d) + "|" +
		amount.String() + "|" + price.String()))
	return h.Sum64()
}

// MarshalText (not MarshalJSON: encoding/json re-validates a Marshaler's
// output).
func (f AppliedFill) MarshalText() ([]byte, error) {
	b := make([]byte, 0, 48)
	b = strconv.AppendUint(b, f.BlockNumber, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, f.LogIndex, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, f.Digest, 16)
	if f.Reverted {
		b = append(b, ":r"...)
	}
	return b, nil
}

func (f *AppliedFill) UnmarshalText(raw []byte) error {
	s := string(raw)
	p := strings.Split(s, ":")
	rev := len(p) == 4 && p[3] == "r"
	if rev {
		p = p[:3]
	}
	if len(p) != 3 {
		return fmt.Errorf("applied fill %q: want block:log_index:digest[:r]", s)
	}
	var n [3]uint64
	for i, base := range []int{10, 10, 16} {
		v, err := strconv.ParseUint(p[i], base, 64)
		if err != nil {
			return fmt.Errorf("applied fill %q: %w", s, err)
		}
		n[i] = v
	}
	*f = AppliedFill{BlockNumber: n[0], LogIndex: n[1], Digest: n[2], Reverted: rev}
	return nil
}

// fillSeq reads an omitted fill sequence as the trade's first fill.
func fillSeq(n uint64) uint64 { return max(n, 1) }

// Pending is the one hedge in flight; there is never more than one.
type Pending struct {
	ExecutionID string           `json:"execution_id"`
	Shares      decimal.Decimal  `json:"shares"`
	Direction   market.Direction `json:"direction"`
	PlacedAt    time.Time        `json:"placed_at"`
	// Reserved: a migrated legacy hedge whose shares net already counts.
	Reserved bool `json:"reserved,omitempty"`
}

// HistoryMark is where the recorded legacy history stands. The migrate
// tool sends it in legacy time order, so a fill dated before At, or one of
// the fills Keys ("venue:source_id") recorded at At, is a re-run's repeat.
// Only the keys at the newest time are kept: the state is stored on every
// command, and a migration may record 100k fills.
type HistoryMark struct {
	At    time.Time `json:"at"`
	Keys  []string  `json:"keys"`
	Count uint64    `json:"count"`
}

// recorded reports whether the legacy fill (venue, sourceID) at at was
// already recorded (or is dated before the newest recorded one).
func (h *HistoryMark) recorded(venue, sourceID string, at time.Time) bool {
	switch {
	case h == nil || at.After(h.At):
		return false
	case at.Before(h.At):
		return true
	}
	return slices.Contains(h.Keys, historyKey(venue, sourceID))
}

func historyKey(venue, sourceID string) string { return venue + ":" + sourceID }

// FillMark is where an on-chain fill sits in chain order. Fills of one symbol
// arrive in chain order, so a fill at or below the last mark was already
// applied (a redelivery) or is out of order; either way applying it would
// count it twice or out of sequence.
type FillMark struct {
	BlockNumber uint64         `json:"block_number"`
	LogIndex    uint64         `json:"log_index"`
	TradeID     market.TradeID `json:"trade_id"`
}

// Before reports whether m comes strictly before o in chain order.
func (m FillMark) Before(o FillMark) bool {
	return m.BlockNumber < o.BlockNumber || m.BlockNumber == o.BlockNumber && m.LogIndex < o.LogIndex
}
