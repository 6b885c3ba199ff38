package onchaintrade_test

import (
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

func genAmount(t *rapid.T, label string) decimal.Decimal {
	return decimal.New(rapid.Int64Range(-5, 1e15).Draw(t, label+"_coef"), rapid.Int32Range(-20, 6).Draw(t, label+"_exp"))
}

func genCommand(t *rapid.T) aggregate.Command {
	tid := market.TradeID{TxHash: rapid.SampledFrom([]string{splgTx, "0xABC", ""}).Draw(t, "tx"), LogIndex: rapid.Uint64().Draw(t, "log")}
	sym := rapid.SampledFrom([]string{"tSPLG", "AAPL0x", "NVDAs1", "USDC", "AAPL", "t", ""}).Draw(t, "symbol")
	dir := rapid.SampledFrom([]market.Direction{market.Buy, market.Sell, ""}).Draw(t, "direction")
	ts := rapid.SampledFrom([]time.Time{blockTime, {}}).Draw(t, "ts")
	var pyth *market.PythPrice
	if rapid.Bool().Draw(t, "has_pyth") {
		pyth = &market.PythPrice{
			Value: rapid.SampledFrom([]string{"15445005", "-1", "0", "x"}).Draw(t, "pv"),
			Expo:  rapid.Int32Range(-40, 40).Draw(t, "pe"), Conf: "21005", PublishTime: ts,
		}
	}
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		return ot.Witness{TradeID: tid, Symbol: sym, Amount: genAmount(t, "amount"), Direction: dir,
			PriceUSDC: genAmount(t, "price"), BlockNumber: rapid.Uint64Range(0, 3).Draw(t, "block"), BlockTimestamp: ts}
	case 3:
		return ot.Revert{TradeID: tid, BlockNumber: rapid.Uint64Range(0, 3).Draw(t, "rblock"),
			Reason:    rapid.SampledFrom([]ot.RevertReason{ot.RevertReorg, ot.RevertManual, ""}).Draw(t, "reason"),
			ForkBlock: rapid.Uint64Range(0, 3).Draw(t, "fork"), ForkHash: rapid.SampledFrom([]string{"", forkHash, "0x1"}).Draw(t, "fhash")}
	case 1:
		var eth *market.PythPrice
		if rapid.Bool().Draw(t, "has_eth_usd") {
			eth = &market.PythPrice{
				Value: rapid.SampledFrom([]string{"300012345000", "-1", "0", "x"}).Draw(t, "ev"),
				Expo:  rapid.Int32Range(-40, 40).Draw(t, "ee"), Conf: "150000000", PublishTime: ts,
			}
		}
		return ot.Enrich{GasUsed: rapid.Uint64().Draw(t, "gas"), EffectiveGasPrice: rapid.Uint64().Draw(t, "gp"), PythPrice: pyth, ETHUSDPrice: eth}
	}
	var gas *uint64
	if rapid.Bool().Draw(t, "has_gas") {
		gas = u64(rapid.Uint64Range(0, 3).Draw(t, "mgas"))
	}
	return ot.Migrate{TradeID: tid, Symbol: sym, Amount: genAmount(t, "amount"), Direction: dir,
		PriceUSDC: genAmount(t, "price"), BlockTimestamp: ts, GasUsed: gas, PythPrice: pyth}
}

// Whatever the commands, an accepted one never fails the trade, and
// replaying the recorded events gives the state Execute produced.
func TestPropertyDecidedEventsNeverFailTheTrade(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var l aggregate.Lifecycle[ot.State]
		var log []aggregate.Event
		for i := range rapid.IntRange(1, 6).Draw(t, "n") {
			c := genCommand(t)
			next, events, err := aggregate.Execute(ot.Definition, l, c, meta)
			if err != nil {
				continue
			}
			if next.Status != aggregate.Live {
				t.Fatalf("command %d %#v failed the trade: %s", i, c, next.Failure)
			}
			l, log = next, append(log, events...)
		}
		if r := aggregate.Replay(ot.Definition, log); r.Status != l.Status || r.Version != l.Version {
			t.Fatalf("replay %+v != %+v", r, l)
		}
	})
}
