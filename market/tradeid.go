package market

import (
	"fmt"
	"strconv"
	"strings"
)

// TradeID identifies one on-chain fill: the transaction and the log index
// of its event. It is the OnChainTrade aggregate id, "0xabc...:5".
type TradeID struct {
	TxHash   string `json:"tx_hash"`
	LogIndex uint64 `json:"log_index"`
}

// NewTradeID validates a 32-byte 0x-hex hash and lowercases it, so the same
// fill always has the same id whatever case the source used.
func NewTradeID(txHash string, logIndex uint64) (TradeID, error) {
	h := strings.ToLower(txHash)
	if len(h) != 66 || !strings.HasPrefix(h, "0x") {
		return TradeID{}, fmt.Errorf("invalid tx hash %q: want 0x and 64 hex digits", txHash)
	}
	for _, c := range h[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return TradeID{}, fmt.Errorf("invalid tx hash %q: non-hex digit %q", txHash, c)
		}
	}
	return TradeID{TxHash: h, LogIndex: logIndex}, nil
}

// ParseTradeID parses "tx_hash:log_index".
func ParseTradeID(s string) (TradeID, error) {
	h, idx, ok := strings.Cut(s, ":")
	if !ok {
		return TradeID{}, fmt.Errorf("invalid trade id %q: want tx_hash:log_index", s)
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return TradeID{}, fmt.Errorf("invalid trade id %q: log index: %w", s, err)
	}
	return NewTradeID(h, n)
}

func (t TradeID) String() string { return t.TxHash + ":" + strconv.FormatUint(t.LogIndex, 10) }
