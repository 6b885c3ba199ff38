package chaintest

import (
	"context"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
)

// TestMeasureFill times building a chain of fills and paging it back with
// eth_getLogs over HTTP. It only logs (speed is no assertion) and runs when
// HEDGELINE_CHAINTEST_MEASURE is set to the number of logs (e.g. 10000):
//
//	HEDGELINE_CHAINTEST_MEASURE=10000 go test -run TestMeasureFill -v ./sources/chain/chaintest
func TestMeasureFill(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("HEDGELINE_CHAINTEST_MEASURE"))
	if total <= 0 {
		t.Skip("set HEDGELINE_CHAINTEST_MEASURE=<logs> to measure")
	}
	const dataLen = 1000 // about a ClearV3/TakeOrderV3 with two orders
	for _, shape := range []struct {
		name                      string
		blocks, txsPerBlock, logs int // logs per tx
	}{
		{"100 logs per tx, 1 tx per block", total / 100, 1, 100},
		{"100 logs per tx, 10 txs per block", total / 1000, 10, 100},
		{"1 log per tx, 100 txs per block", total / 100, 100, 1},
		{"10 logs per tx, 10 txs per block", total / 100, 10, 10},
		{"1 log per tx, 1 tx per block (first 1000)", min(total, 1000), 1, 1},
	} {
		t.Run(shape.name, func(t *testing.T) {
			chain := New(t, Config{})
			data := make([]byte, dataLen)
			rec := Record{Topic0: topic("ClearV3"), Data: data}
			start := time.Now()
			n := 0
			for range shape.blocks {
				for range shape.txsPerBlock {
					recs := make([]Record, shape.logs)
					for i := range recs {
						n++
						recs[i] = rec
						recs[i].Data = append([]byte(nil), data...)
						recs[i].Data[0], recs[i].Data[1] = byte(n>>8), byte(n)
					}
					chain.Send(recs...)
				}
				chain.Commit()
			}
			fill := time.Since(start)
			t.Logf("fill: %d logs in %d blocks: %s (%.0f logs/s, %.1f ms/block)", n, shape.blocks, fill.Round(time.Millisecond),
				float64(n)/fill.Seconds(), float64(fill.Milliseconds())/float64(shape.blocks))

			cl := dial(t, chain.RPCURL())
			head, _ := chain.Head()
			for _, page := range []uint64{10, 100, 1000} {
				start = time.Now()
				got := 0
				for from := uint64(0); from <= head; from += page {
					logs, err := cl.FilterLogs(context.Background(), ethereum.FilterQuery{
						FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(min(from+page-1, head)),
						Addresses: []common.Address{chain.Orderbook()},
					})
					if err != nil {
						t.Fatalf("eth_getLogs from %d: %v", from, err)
					}
					got += len(logs)
				}
				if got != n {
					t.Fatalf("paged %d logs, want %d", got, n)
				}
				d := time.Since(start)
				t.Logf("eth_getLogs over HTTP, %d-block pages: %d logs in %s (%.0f logs/s)", page, got, d.Round(time.Millisecond), float64(got)/d.Seconds())
			}
		})
	}
}
