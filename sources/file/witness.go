package file

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// WitnessRecord turns a fill into the Witness command that records it: key
// "BASE|tx:log" (onchain-trade topics are partitioned by base symbol, so a
// symbol's fills stay in chain order) and command id "witness:tx:log", so a
// fill produced twice is refused by the trade, not counted twice.
func WitnessRecord(f Fill, issuedAt time.Time) (key string, value []byte, err error) {
	id := f.TradeID.String()
	payload, err := json.Marshal(onchaintrade.Witness{
		TradeID: f.TradeID, Symbol: f.Symbol.String(), Amount: f.Amount, Direction: f.Direction,
		PriceUSDC: f.PriceUSDC, BlockNumber: f.BlockNumber, BlockTimestamp: f.BlockTimestamp,
	})
	if err != nil {
		return "", nil, fmt.Errorf("encode witness %s: %w", id, err)
	}
	value, err = topics.EncodeCommand(topics.CommandEnvelope{
		AggregateType: topics.OnChainTrade, AggregateID: id, CommandID: "witness:" + id,
		CommandType: (onchaintrade.Witness{}).CommandType(), CommandVersion: topics.CommandVersion,
		IssuedAt: issuedAt.UTC(), CorrelationID: "fill:" + id, CausationID: "file-source", Payload: payload,
	})
	if err != nil {
		return "", nil, fmt.Errorf("encode witness envelope %s: %w", id, err)
	}
	return topics.SymbolKey(string(f.Symbol.Base), id), value, nil
}
