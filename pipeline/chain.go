package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/hedgeline/hedgeline/sources/chain"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/stack"
)

// chainFlags configure the chain source: `ingest chain` names them plainly
// (--rpc-url), `run` with a chain- prefix (--chain-rpc-url).
type chainFlags struct {
	rpcURL, orderbook, owner, cutoff string
	fromBlock, untilBlock            uint64
	confirmations, batchBlocks       uint64
	pollInterval                     time.Duration
	pyth, feeds, ethUSDFeed          string
}

func (c *chainFlags) register(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.rpcURL, prefix+"rpc-url", "", "Ethereum JSON-RPC endpoint of the chain (HTTP(S) or WS), e.g. https://mainnet.base.org")
	fs.StringVar(&c.orderbook, prefix+"orderbook", "", "address of the Raindex orderbook contract (V4 and V5 events are both read)")
	fs.StringVar(&c.owner, prefix+"owner", "", "address of the market maker: the owner of the orders whose fills are hedged")
	fs.Uint64Var(&c.fromBlock, prefix+"from-block", 0, "first block to ingest (inclusive; a checkpoint further on wins)")
	if prefix == "" {
		fs.Uint64Var(&c.untilBlock, "until-block", 0, "last block to ingest (inclusive); then exit 0. 0: tail new blocks until stopped")
	}
	fs.StringVar(&c.cutoff, prefix+"cutoff", "", "newest block ingested: latest (minus --"+prefix+"confirmations), safe or finalized (default: safe when the node answers it, else latest minus confirmations)")
	fs.Uint64Var(&c.confirmations, prefix+"confirmations", 12, "with cutoff latest (or a node without a safe block): blocks to stay behind the head")
	fs.Uint64Var(&c.batchBlocks, prefix+"batch-blocks", 2000, "largest eth_getLogs range in blocks (halved when the node says too large)")
	fs.DurationVar(&c.pollInterval, prefix+"poll-interval", 2*time.Second, "how often new blocks are looked for once caught up")
	fs.StringVar(&c.pyth, prefix+"pyth-address", chain.BasePyth.Hex(), "Pyth contract read for each fill's price at its block (empty: no Pyth enrichment)")
	fs.StringVar(&c.feeds, prefix+"pyth-feeds", "", "extra Pyth feed ids, SYMBOL=0xFEED,... (AAPL, MSFT, GOOG, AMZN, NVDA, META, TSLA, GME are built in)")
	fs.StringVar(&c.ethUSDFeed, prefix+"pyth-eth-usd-feed", chain.DefaultETHUSDFeed.Hex(), "Pyth ETH/USD feed id read at each fill's block, for the gas cost in USD (empty: not read)")
}

// config checks the flags into the chain source's configuration, naming
// the flags (with prefix) in every problem.
func (c chainFlags) config(prefix string) (stack.Chain, error) {
	var errs []error
	addr := func(name, v string) common.Address {
		if !common.IsHexAddress(v) {
			errs = append(errs, fmt.Errorf("--%s%s: want a 0x address, got %q", prefix, name, v))
			return common.Address{}
		}
		return common.HexToAddress(v)
	}
	if c.rpcURL == "" {
		errs = append(errs, fmt.Errorf("--%srpc-url: required", prefix))
	}
	orderbook, owner := addr("orderbook", c.orderbook), addr("owner", c.owner)
	var pyth common.Address
	if c.pyth != "" {
		pyth = addr("pyth-address", c.pyth)
	}
	cutoff, err := chain.ParseCutoff(c.cutoff)
	if err != nil {
		errs = append(errs, fmt.Errorf("--%scutoff: %w", prefix, err))
	}
	feeds := maps.Clone(chain.DefaultFeeds)
	for _, kv := range strings.Split(c.feeds, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		sym, id, ok := strings.Cut(kv, "=")
		if !ok || len(common.FromHex(id)) != 32 {
			errs = append(errs, fmt.Errorf("--%spyth-feeds: %q is not SYMBOL=0x<32-byte feed id>", prefix, kv))
			continue
		}
		feeds[strings.ToUpper(strings.TrimSpace(sym))] = common.HexToHash(id)
	}
	var ethUSD common.Hash
	if id := strings.TrimSpace(c.ethUSDFeed); id != "" {
		if b, err := hexutil.Decode(id); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("--%spyth-eth-usd-feed: %q is not 0x and a 32-byte feed id", prefix, id))
		} else {
			ethUSD = common.BytesToHash(b)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return stack.Chain{}, usageErrorf("%v", err)
	}
	return stack.Chain{RPCURL: c.rpcURL, Source: chain.Config{
		Orderbook: orderbook, Owner: owner,
		FromBlock: c.fromBlock, UntilBlock: c.untilBlock, Cutoff: cutoff, Confirmations: c.confirmations,
		BatchBlocks: c.batchBlocks, PollInterval: c.pollInterval, Pyth: pyth, Feeds: feeds, ETHUSDFeed: ethUSD,
		SeenAt: file.SeenAuto,
	}}, nil
}

// runIngestChain is `ingest chain`: backfill (and with no --until-block,
// tail) the orderbook's fills into onchain-trade.commands.
func runIngestChain(ctx context.Context, k kafkaFlags, c chainFlags, log *slog.Logger, stdout io.Writer) error {
	kc, err := k.producer()
	if err != nil {
		return err
	}
	defer kc.Close()
	if err := ensureTopics(ctx, kadm.NewClient(kc), k, log); err != nil {
		return err
	}
	var last chain.Progress
	cc, err := c.config("")
	if err != nil {
		return err
	}
	src, closeRPC, err := stack.OpenChain(ctx, cc, kc, log, nil)
	if err != nil {
		return err
	}
	defer closeRPC()
	start := time.Now()
	if err := src.Run(ctx); err != nil {
		return err
	}
	last = src.Progress()
	through := c.untilBlock
	if through == 0 && last.Next > 0 { // a tail stopped by a signal
		through = last.Next - 1
	}
	fmt.Fprintf(stdout, "ingested through block %d in %s: %d fills, %d owner logs reported as no fill, %d fills reverted\n",
		through, time.Since(start).Round(time.Millisecond), last.Fills, last.Skipped, last.Reverted)
	return nil
}
