package onchaintrade

import "github.com/hedgeline/hedgeline/market"

// ID is the aggregate id of a fill, "0x<64 lowercase hex>:<log index>". It
// validates and lowercases the hash, so the same fill always maps to the
// same aggregate whatever case its source used.
func ID(t market.TradeID) (string, error) {
	n, err := market.NewTradeID(t.TxHash, t.LogIndex)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
