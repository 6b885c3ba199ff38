package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/sources/chain"
	"github.com/hedgeline/hedgeline/sources/chain/chaintest"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
	"github.com/hedgeline/hedgeline/sources/file"
)

// TestChainSourceEndToEnd: fills emitted as real TakeOrderV3 logs on a
// simulated chain (over HTTP JSON-RPC) are ingested by `hedgeline ingest
// chain` (the first half) and the chain role of `run` (the rest, resuming
// after the checkpoint), hedged by the pipeline, and pnl.events equals the
// independent FIFO of the fills as they are on chain. Another run over the
// same blocks produces nothing.
func TestChainSourceEndToEnd(t *testing.T) {
	owner := common.HexToAddress("0x71b94911FD1CE621FC40970450004c544e5287a8")
	gen := kitGenFills(kitSeed(t, "chain fills"), 120, 4, 1)
	tokens := []chaintest.Token{{Symbol: "USDC", Decimals: 6}}
	seen := map[string]bool{}
	for _, f := range gen {
		if s := f.Symbol.String(); !seen[s] {
			seen[s] = true
			tokens = append(tokens, chaintest.Token{Symbol: s, Decimals: 18})
		}
	}
	c := chaintest.New(t, chaintest.Config{Tokens: tokens})
	ios := func(sym string, dec uint8) []raintest.IO { return []raintest.IO{{Token: c.Token(sym), Decimals: dec}} }

	// One block per fill, in the generator's order; the fills as the chain
	// has them (tx hash, log index, block, time) are what the pipeline must
	// account for.
	var fills []file.Fill
	for _, f := range gen {
		usdc := f.Amount.Mul(f.PriceUSDC)
		sym := f.Symbol.String()
		to := raintest.TakeOrder{}
		if f.Direction == market.Sell { // the order gave equity for USDC
			to.Order = raintest.Order{Owner: owner, Inputs: ios("USDC", 6), Outputs: ios(sym, 18)}
			to.Input, to.Output = raintest.Dec(f.Amount.String()), raintest.Dec(usdc.String())
		} else {
			to.Order = raintest.Order{Owner: owner, Inputs: ios(sym, 18), Outputs: ios("USDC", 6)}
			to.Input, to.Output = raintest.Dec(usdc.String()), raintest.Dec(f.Amount.String())
		}
		topic, data := raintest.TakeOrderV3(to)
		tx, block := c.Emit(chaintest.Record{Topic0: topic, Data: data})
		id, err := market.NewTradeID(tx.Hex(), 0)
		if err != nil {
			t.Fatal(err)
		}
		f.TradeID, f.BlockNumber = id, block
		fills = append(fills, f)
	}
	head, _ := c.Head()
	// Block times are the chain's.
	rpc, err := ethclient.Dial(c.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	for i := range fills {
		h, err := rpc.HeaderByNumber(context.Background(), new(big.Int).SetUint64(fills[i].BlockNumber))
		if err != nil {
			t.Fatal(err)
		}
		fills[i].BlockTimestamp = time.Unix(int64(h.Time), 0).UTC()
	}

	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	chainArgs := func(prefix string) []string {
		return []string{"--" + prefix + "rpc-url", c.RPCURL(), "--" + prefix + "orderbook", c.Orderbook().Hex(),
			"--" + prefix + "owner", strings.ToLower(owner.Hex()), "--" + prefix + "from-block", "1",
			"--" + prefix + "cutoff", "latest", "--" + prefix + "confirmations", "0", "--" + prefix + "batch-blocks", "25"}
	}
	ingest := func(until uint64) string {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args := append([]string{"ingest", "chain", "--brokers", addr, "--partitions", fmt.Sprint(testPartitions),
			"--until-block", fmt.Sprint(until), "--log-level", "error"}, chainArgs("")...)
		if err := dispatch(ctx, args, &out, io.Discard); err != nil {
			t.Fatalf("ingest chain: %v\n%s", err, out.String())
		}
		return out.String()
	}
	// The first half with `ingest chain`, the rest by the chain role of
	// `run`, which resumes after the checkpoint the first one left.
	mid := head / 2
	out := ingest(mid)
	firstHalf := 0
	for _, f := range fills {
		if f.BlockNumber <= mid {
			firstHalf++
		}
	}
	if !strings.Contains(out, fmt.Sprintf(": %d fills", firstHalf)) {
		t.Fatalf("ingest chain printed %q, want %d fills", out, firstHalf)
	}
	maddr := kitFreeAddr(t)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger,
		append(chainArgs("chain-"), "--metrics-listen", maddr)...))
	snap := kitWaitSettled(t, addr, fills, settleTimeout)
	kitCheckFinal(t, snap, fills, []string{ledger})

	// The chain gauges: ingested up to head (no confirmations), no lag;
	// every fill (both halves) came in through the stage.
	fams, err := kitScrape(maddr)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"hedgeline_chain_target_block": float64(head),
		"hedgeline_chain_next_block": float64(head + 1), "hedgeline_chain_lag_blocks": 0, "hedgeline_fills_total": float64(len(fills))} {
		if got, n := kitMetric(fams, name, nil); n != 1 || got != want {
			t.Errorf("%s = %v (%d series), want %v", name, got, n, want)
		}
	}

	// The checkpoint says everything up to head is done: another run
	// ingests nothing.
	if out := ingest(head); !strings.Contains(out, ": 0 fills") {
		t.Errorf("a second run over the same blocks printed %q, want 0 fills", out)
	}
}

// TestChainReorgReHedges: the chain role ingests three fills and hedges
// them (the owner bought 6 shares on chain; the hedges sold 6). A fork then
// drops the block of the third fill (3 shares): the source reverts it, the
// position is 3 short, and it hedges back with a Buy of 3. Nothing else
// changes: the first two fills stand.
func TestChainReorgReHedges(t *testing.T) {
	owner := common.HexToAddress("0x71b94911FD1CE621FC40970450004c544e5287a8")
	c := chaintest.New(t, chaintest.Config{Tokens: []chaintest.Token{{Symbol: "USDC", Decimals: 6}, {Symbol: "tAAPL", Decimals: 18}}})
	buy := func(shares, usdc string) {
		topic, data := raintest.TakeOrderV3(raintest.TakeOrder{
			Order: raintest.Order{Owner: owner, Inputs: []raintest.IO{{Token: c.Token("tAAPL"), Decimals: 18}}, Outputs: []raintest.IO{{Token: c.Token("USDC"), Decimals: 6}}},
			Input: raintest.Dec(usdc), Output: raintest.Dec(shares)})
		c.Emit(chaintest.Record{Topic0: topic, Data: data})
	}
	buy("1", "230")
	buy("2", "460")
	_, second := c.Head()
	buy("3", "690")

	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger,
		"--chain-rpc-url", c.RPCURL(), "--chain-orderbook", c.Orderbook().Hex(), "--chain-owner", owner.Hex(),
		"--chain-from-block", "1", "--chain-cutoff", "latest", "--chain-confirmations", "0", "--chain-poll-interval", "50ms",
		"--chain-pyth-address", ""))

	position := func() (net string, pending bool, reverted int, err error) {
		recs, err := readTopic(context.Background(), kitCluster(addr), "position.events")
		if err != nil {
			return "", false, 0, err
		}
		for _, r := range recs {
			if bytes.Contains(r.Value, []byte("PositionEvent::OnChainFillReverted")) {
				reverted++
			}
		}
		states, err := foldPositions(recs)
		if err != nil {
			return "", false, 0, err
		}
		s, ok := states["AAPL"]
		if !ok {
			return "", false, reverted, fmt.Errorf("no AAPL position yet")
		}
		return s.State.Net.String(), s.State.Pending != nil, reverted, nil
	}
	settled := func(wantReverted int) func() (bool, string) {
		return func() (bool, string) {
			net, pending, reverted, err := position()
			if err != nil {
				return false, err.Error()
			}
			return net == "0" && !pending && reverted == wantReverted, fmt.Sprintf("net %s, hedge pending %v, %d reverted", net, pending, reverted)
		}
	}
	kitWaitFor(t, time.Minute, "the three fills hedged", settled(0))

	c.Fork(second) // the third fill's block leaves the chain
	c.Commit()
	c.Commit()
	kitWaitFor(t, time.Minute, "the third fill reverted and hedged back", settled(1))

	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"side":"Buy"`) || !strings.Contains(last, `"quantity":"3"`) {
		t.Errorf("the last hedge is %s, want a Buy of 3 (the reverted fill's shares back)", last)
	}
	recs, err := readTopic(context.Background(), kitCluster(addr), "onchain-trade.events")
	if err != nil {
		t.Fatal(err)
	}
	reverts := 0
	for _, r := range recs {
		if bytes.Contains(r.Value, []byte(`"Reverted"`)) || bytes.Contains(r.Value, []byte("::Reverted")) {
			reverts++
		}
	}
	if reverts != 1 {
		t.Errorf("%d trades reverted, want only the third", reverts)
	}
}

// TestChainFlagsETHUSDFeed: the ETH/USD feed defaults to Pyth's, may be
// replaced (flag or HEDGELINE_ env) or turned off with an empty value, and
// a malformed id is a usage error naming the flag.
func TestChainFlagsETHUSDFeed(t *testing.T) {
	base := []string{"--chain-rpc-url", "http://127.0.0.1:1", "--chain-orderbook", chaintest.DefaultOrderbook.Hex(),
		"--chain-owner", "0x71b94911FD1CE621FC40970450004c544e5287a8"}
	other := "0x" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, env string
		args      []string
		want      common.Hash
		err       string
	}{
		{"default", "", nil, chain.DefaultETHUSDFeed, ""},
		{"flag", "", []string{"--chain-pyth-eth-usd-feed", other}, common.HexToHash(other), ""},
		{"env", other, nil, common.HexToHash(other), ""},
		{"off", "", []string{"--chain-pyth-eth-usd-feed", ""}, common.Hash{}, ""},
		{"short", "", []string{"--chain-pyth-eth-usd-feed", "0xff61"}, common.Hash{}, "--chain-pyth-eth-usd-feed"},
		{"no 0x", "", []string{"--chain-pyth-eth-usd-feed", strings.Repeat("ab", 32)}, common.Hash{}, "--chain-pyth-eth-usd-feed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("HEDGELINE_CHAIN_PYTH_ETH_USD_FEED", tc.env)
			}
			var c chainFlags
			fs := newFlagSet("test", io.Discard)
			c.register(fs, "chain-")
			if err := parse(fs, append(append([]string{}, base...), tc.args...)); err != nil {
				t.Fatal(err)
			}
			cc, err := c.config("chain-")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cc.Source.ETHUSDFeed != tc.want {
				t.Errorf("ETH/USD feed %s, want %s", cc.Source.ETHUSDFeed.Hex(), tc.want.Hex())
			}
		})
	}
}
