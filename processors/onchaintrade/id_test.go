package onchaintrade_test

import (
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

func TestIDIsLowercaseHashColonLogIndex(t *testing.T) {
	id, err := ot.ID(market.TradeID{TxHash: "0x" + strings.ToUpper(splgTx[2:]), LogIndex: 167})
	if err != nil || id != splgTx+":167" {
		t.Fatalf("id %q %v", id, err)
	}
	if _, err := ot.ID(market.TradeID{TxHash: "0x844", LogIndex: 1}); err == nil {
		t.Fatal("truncated hash accepted")
	}
}
