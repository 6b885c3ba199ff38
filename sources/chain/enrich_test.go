package chain

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/sources/chain/chaintest"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
	"github.com/hedgeline/hedgeline/topics"
)

var (
	aaplFeed = DefaultFeeds["AAPL"]
	// Pyth's feeds report ETH/USD with expo -8 and equities with -5.
	aaplAt1 = chaintest.Price{Price: 23_012_345, Conf: 2_100, Expo: -5, PublishTime: 1_893_456_000}
	aaplAt2 = chaintest.Price{Price: 23_100_000, Conf: 2_000, Expo: -5, PublishTime: 1_893_456_010}
	ethAt1  = chaintest.Price{Price: 300_012_345_000, Conf: 150_000_000, Expo: -8, PublishTime: 1_893_456_001}
	ethAt2  = chaintest.Price{Price: 312_000_000_000, Conf: 160_000_000, Expo: -8, PublishTime: 1_893_456_011}
)

// enrichScenario writes two fills of the owner in one transaction (one
// block), moves both prices, then one more fill in a later block. It
// returns the three trade ids in chain order and the two blocks.
func enrichScenario(t *testing.T, c *chaintest.Chain) (ids []string, first, second uint64) {
	t.Helper()
	buy := func(shares, usdc string) chaintest.Record {
		return rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "tAAPL", "USDC"),
			Input: raintest.Dec(usdc), Output: raintest.Dec(shares)}))
	}
	tx1, first := c.Emit(buy("1", "230"), buy("2", "460"))
	c.SendPythPrice(DefaultETHUSDFeed, ethAt2)
	c.SendPythPrice(aaplFeed, aaplAt2)
	c.Commit()
	tx2, second := c.Emit(buy("3", "693"))
	return []string{tradeID(t, tx1, 0), tradeID(t, tx1, 1), tradeID(t, tx2, 0)}, first, second
}

func tradeID(t *testing.T, tx common.Hash, logIndex uint64) string {
	t.Helper()
	id, err := market.NewTradeID(tx.Hex(), logIndex)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// enrichments reads every Enrich command produced, by trade id.
func enrichments(t *testing.T, cl *kgo.Client) map[string]onchaintrade.Enrich {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]onchaintrade.Enrich{}
	for _, r := range readAll(ctx, t, cl, topics.OnChainTradeCommands) {
		env, err := topics.DecodeCommand(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if env.CommandType != "Enrich" {
			continue
		}
		var e onchaintrade.Enrich
		if err := json.Unmarshal(env.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[env.AggregateID]; dup {
			t.Errorf("two Enrich commands for %s", env.AggregateID)
		}
		out[env.AggregateID] = e
	}
	return out
}

// withPyth turns on both readings against the chain's Pyth stub.
func withPyth(c *chaintest.Chain, ethUSD common.Hash) func(*Config) {
	return func(cfg *Config) {
		cfg.Pyth, cfg.Feeds, cfg.ETHUSDFeed = c.Pyth(), DefaultFeeds, ethUSD
	}
}

// wantPyth compares a reading with the stub's price, field by field.
func wantPyth(t *testing.T, what string, got *market.PythPrice, want chaintest.Price) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no reading, want %+v", what, want)
		return
	}
	if got.Value != big.NewInt(want.Price).String() || got.Expo != want.Expo || got.Conf != big.NewInt(0).SetUint64(want.Conf).String() ||
		got.PublishTime.Unix() != int64(want.PublishTime) {
		t.Errorf("%s: reading %+v, want %+v", what, got, want)
	}
}

// checkGas compares each Enrich's gas with the receipt, read here on
// another connection.
func checkGas(t *testing.T, rpcURL string, got map[string]onchaintrade.Enrich, ids []string) {
	t.Helper()
	cl, err := ethclient.Dial(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, id := range ids {
		e, ok := got[id]
		if !ok {
			t.Errorf("no Enrich for %s", id)
			continue
		}
		tx, _, _ := strings.Cut(id, ":")
		r, err := cl.TransactionReceipt(context.Background(), common.HexToHash(tx))
		if err != nil {
			t.Fatal(err)
		}
		if e.GasUsed != r.GasUsed || r.EffectiveGasPrice == nil || e.EffectiveGasPrice != r.EffectiveGasPrice.Uint64() || e.GasUsed == 0 {
			t.Errorf("%s: gas %d at %d wei, receipt %d at %v", id, e.GasUsed, e.EffectiveGasPrice, r.GasUsed, r.EffectiveGasPrice)
		}
	}
}

// TestEnrichReadsETHUSDAtTheFillBlock: every fill's Enrich carries its
// receipt's gas, the equity's Pyth price and Pyth's ETH/USD as they were
// at the fill's block (the prices move between the blocks), and ETH/USD is
// read once per block, not once per fill.
func TestEnrichReadsETHUSDAtTheFillBlock(t *testing.T) {
	c := chaintest.New(t, chaintest.Config{
		Tokens:     []chaintest.Token{{Symbol: "USDC", Decimals: 6}, {Symbol: "tAAPL", Decimals: 18}},
		PythPrices: map[common.Hash]chaintest.Price{aaplFeed: aaplAt1, DefaultETHUSDFeed: ethAt1},
	})
	ids, first, second := enrichScenario(t, c)
	px := chaintest.NewProxy(t, c.RPCURL())
	kc := startKafka(t)
	run(t, newSource(t, px.URL(), kc, 1, second, 50, withPyth(c, DefaultETHUSDFeed)))

	got := enrichments(t, kc)
	if len(got) != 3 {
		t.Fatalf("%d Enrich commands, want 3", len(got))
	}
	checkGas(t, c.RPCURL(), got, ids)
	for i, id := range ids {
		aapl, eth := aaplAt1, ethAt1
		if i == 2 {
			aapl, eth = aaplAt2, ethAt2
		}
		wantPyth(t, id+" AAPL", got[id].PythPrice, aapl)
		wantPyth(t, id+" ETH/USD", got[id].ETHUSDPrice, eth)
	}
	if p, _ := got[ids[0]].ETHUSDPrice.Price(); p.String() != "3000.12345" {
		t.Errorf("ETH/USD at block %d = %s, want 3000.12345", first, p)
	}
	// One getPriceUnsafe(ETH/USD) per block with fills: the two fills of
	// the first block share theirs.
	feed := strings.TrimPrefix(DefaultETHUSDFeed.Hex(), "0x")
	n := 0
	for _, p := range px.Params("eth_call") {
		if strings.Contains(string(p), feed) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d ETH/USD reads for 3 fills in 2 blocks, want 2", n)
	}
}

// TestEnrichWithoutETHUSD: a Pyth contract without the ETH/USD feed (its
// read reverts) costs the trades only that reading; gas and the equity's
// price arrive as usual. A zero feed id does not read it at all.
func TestEnrichWithoutETHUSD(t *testing.T) {
	c := chaintest.New(t, chaintest.Config{
		Tokens:     []chaintest.Token{{Symbol: "USDC", Decimals: 6}, {Symbol: "tAAPL", Decimals: 18}},
		PythPrices: map[common.Hash]chaintest.Price{aaplFeed: aaplAt1},
	})
	ids, _, second := enrichScenario(t, c)
	for _, tc := range []struct {
		name string
		feed common.Hash
	}{{"feed reverts", DefaultETHUSDFeed}, {"feed off", common.Hash{}}} {
		t.Run(tc.name, func(t *testing.T) {
			px := chaintest.NewProxy(t, c.RPCURL())
			kc := startKafka(t)
			run(t, newSource(t, px.URL(), kc, 1, second, 50, withPyth(c, tc.feed)))
			got := enrichments(t, kc)
			if len(got) != 3 {
				t.Fatalf("%d Enrich commands, want 3", len(got))
			}
			checkGas(t, c.RPCURL(), got, ids)
			for i, id := range ids {
				aapl := aaplAt1
				if i == 2 {
					aapl = aaplAt2
				}
				wantPyth(t, id+" AAPL", got[id].PythPrice, aapl)
				if got[id].ETHUSDPrice != nil {
					t.Errorf("%s: ETH/USD %+v from a Pyth without the feed", id, got[id].ETHUSDPrice)
				}
			}
			n := 0
			for _, p := range px.Params("eth_call") {
				if strings.Contains(string(p), strings.TrimPrefix(DefaultETHUSDFeed.Hex(), "0x")) {
					n++
				}
			}
			// A revert is an answer: one read per block, no retries.
			if want := map[bool]int{true: 2, false: 0}[tc.feed != common.Hash{}]; n != want {
				t.Errorf("%d ETH/USD reads, want %d", n, want)
			}
		})
	}
}
