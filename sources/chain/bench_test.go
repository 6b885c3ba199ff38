package chain

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/hedgeline/hedgeline/sources/chain/chaintest"
	"github.com/hedgeline/hedgeline/sources/chain/rain"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
)

// BenchmarkBackfill is `make bench`'s backfill figure: a chain of
// HEDGELINE_BENCH_CHAIN_FILLS TakeOrderV3 fills (default 100,000; 100 per
// tx, 10 txs per block) behind a provider that caps eth_getLogs at 10,000
// results, backfilled into onchain-trade.commands (Witness and Enrich with
// the receipt's gas; Pyth off), beside a baseline: the same logs paged with
// raw eth_getLogs calls of the size the source settles on. Reported as
// fills/s of each; the chain is built once, outside the timing.
func BenchmarkBackfill(b *testing.B) {
	n := 100_000
	if v := os.Getenv("HEDGELINE_BENCH_CHAIN_FILLS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("HEDGELINE_BENCH_CHAIN_FILLS=%q: want an integer >= 100", v)
		}
	}
	c := chaintest.New(b, chaintest.Config{Tokens: []chaintest.Token{{Symbol: "USDC", Decimals: 6}, {Symbol: "tAAPL", Decimals: 18}, {Symbol: "NVDAs1", Decimals: 18}}})
	t0 := time.Now()
	const perTx, txPerBlock = 100, 10
	for i := 0; i < n; {
		for tx := 0; tx < txPerBlock && i < n; tx++ {
			recs := make([]chaintest.Record, 0, perTx)
			for j := 0; j < perTx && i < n; j, i = j+1, i+1 {
				sym := []string{"tAAPL", "NVDAs1"}[i%2]
				var to raintest.TakeOrder
				if i%3 == 0 {
					to = raintest.TakeOrder{Order: order(c, owner, sym, "USDC"), Input: raintest.Dec("230"), Output: raintest.Dec("1")}
				} else {
					to = raintest.TakeOrder{Order: order(c, owner, "USDC", sym), Input: raintest.Dec("0.5"), Output: raintest.Dec("115")}
				}
				topic, data := raintest.TakeOrderV3(to)
				recs = append(recs, rec(topic, data))
			}
			c.Send(recs...)
		}
		c.Commit()
	}
	head, _ := c.Head()
	b.Logf("built a chain of %d fills in %d blocks in %s", n, head, time.Since(t0).Round(time.Millisecond))
	px := chaintest.NewProxy(b, c.RPCURL())
	px.LimitLogs(chaintest.LogsLimit{MaxResults: 10_000, Provider: chaintest.Infura})

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		kc := startKafka(b)
		client, err := ethclient.Dial(px.URL())
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(Config{Client: client, Kafka: kc, Orderbook: chaintest.DefaultOrderbook, Owner: owner,
			FromBlock: 1, UntilBlock: head, Cutoff: CutoffLatest, BatchBlocks: 2000,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := s.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		if got := s.Progress().Fills; got != int64(n) {
			b.Fatalf("backfilled %d fills, want %d", got, n)
		}
		batch := s.fetch.batch
		b.ReportMetric(float64(n)/el.Seconds(), "fills/s")

		// Baseline: raw eth_getLogs paging of the same logs, same page size.
		start = time.Now()
		logs := 0
		for from := uint64(1); from <= head; from += batch {
			to := min(head, from+batch-1)
			ls, err := client.FilterLogs(context.Background(), ethereum.FilterQuery{
				FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to),
				Addresses: []common.Address{chaintest.DefaultOrderbook}, Topics: [][]common.Hash{rain.Topics()}})
			if err != nil {
				b.Fatal(err)
			}
			logs += len(ls)
		}
		raw := time.Since(start)
		if logs != n {
			b.Fatalf("raw paging read %d logs, want %d", logs, n)
		}
		b.ReportMetric(float64(n)/raw.Seconds(), "raw-getLogs-logs/s")
		b.Logf("backfill %d fills in %s (%.0f fills/s, settled on %d blocks per eth_getLogs, %d halvings); raw paging %s (%.0f logs/s)",
			n, el.Round(time.Millisecond), float64(n)/el.Seconds(), batch, s.Progress().Stats.Halvings, raw.Round(time.Millisecond), float64(n)/raw.Seconds())
		client.Close()
	}
}
