package file

import (
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// WitnessRecord turns a fill into the Witness command that records it: key
// "BASE|tx:log" (onchain-trade topics are partitioned by base symbol, so a
// symbol's fills stay in chain order) and command id "witness:tx:log", so a
// fill produced twice is refused by the trade, not counted twice.
func WitnessRecord(f Fill, issuedAt time.Time) (key string, value []byte, err error) {
	return WitnessCommand(f, issuedAt, "witness:"+f.TradeID.String(), "file-source")
}

// WitnessCommand is WitnessRecord with the command id and causation (the
// source's name) chosen by the caller.
func WitnessCommand(f Fill, issuedAt time.Time, commandID, causation string) (key string, value []byte, err error) {
	id := f.TradeID.String()
	key = topics.SymbolKey(string(f.Symbol.Base), id)
	r, err := topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: topics.OnChainTrade, AggregateID: id, CommandID: commandID,
		IssuedAt: issuedAt.UTC(), CorrelationID: "fill:" + id, CausationID: causation,
	}, onchaintrade.Witness{
		TradeID: f.TradeID, Symbol: f.Symbol.String(), Amount: f.Amount, Direction: f.Direction,
		PriceUSDC: f.PriceUSDC, BlockNumber: f.BlockNumber, BlockTimestamp: f.BlockTimestamp,
	}, key)
	if err != nil {
		return "", nil, err
	}
	return key, r.Value, nil
}

// SeenAt says which time a source records as when the pipeline saw a fill
// (the Witness command's issue time, which every event it causes carries,
// up to the hedge it triggers).
type SeenAt string

const (
	// SeenAuto is SeenBlock for a fill over market.HistoricalAfter old
	// (history being replayed) and SeenNow otherwise. The default.
	SeenAuto SeenAt = "auto"
	// SeenBlock records a fill as seen at its block time: history replayed
	// as if seen live, so hedges, their fills (dry-run event clock) and
	// the latency views fall on the history's own timeline.
	SeenBlock SeenAt = "block"
	// SeenNow records the time of ingestion.
	SeenNow SeenAt = "now"
)

// ParseSeenAt reads auto, block or now ("" is auto).
func ParseSeenAt(s string) (SeenAt, error) {
	switch v := SeenAt(s); v {
	case "":
		return SeenAuto, nil
	case SeenAuto, SeenBlock, SeenNow:
		return v, nil
	}
	return "", fmt.Errorf("seen-at %q: want auto, block or now", s)
}

// At is the time fill f is recorded as seen, ingested at now.
func (s SeenAt) At(f Fill, now time.Time) time.Time {
	switch s {
	case SeenBlock:
		return f.BlockTimestamp
	case SeenNow:
		return now
	}
	if market.Historical(f.BlockTimestamp, now) {
		return f.BlockTimestamp
	}
	return now
}
