package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

// go test ./sources/file -run TestSampleFile -update rewrites the sample.
var update = flag.Bool("update", false, "rewrite testdata/sample.jsonl from the generator")

const samplePath = "testdata/sample.jsonl"

type sampleSymbol struct {
	token  string
	price  int64 // reference price in 1e-4 USD
	weight int
}

var sampleSymbols = []sampleSymbol{
	{"tAAPL", 2280000, 26},
	{"NVDAs1", 1810000, 22},
	{"TSLA0x", 3450000, 20},
	{"tMSFT", 5100000, 16},
	{"tGOOG", 2400000, 16},
}

const (
	sampleFills      = 60
	sampleFirstBlock = 34844164
)

var sampleFirstTime = time.Date(2025, 11, 4, 14, 30, 1, 0, time.UTC)

// generateSample builds the demo file deterministically: a random walk of
// prices (at most 0.4% a step) around each reference price, amounts of
// 0.05-3 shares with 1-4 decimals, blocks 2 s apart, a few fills sharing a
// block (some sharing a transaction), in chain order.
func generateSample() []byte {
	rng := rand.New(rand.NewPCG(20251104, 34844164))
	prices := make([]int64, len(sampleSymbols))
	for i, s := range sampleSymbols {
		prices[i] = s.price
	}
	totalWeight := 0
	for _, s := range sampleSymbols {
		totalWeight += s.weight
	}
	pick := func() int {
		w := rng.IntN(totalWeight)
		for i, s := range sampleSymbols {
			if w < s.weight {
				return i
			}
			w -= s.weight
		}
		panic("unreachable")
	}
	txHash := func(n int) string {
		sum := sha256.Sum256(fmt.Appendf(nil, "hedgeline sample transaction %d", n))
		return "0x" + hex.EncodeToString(sum[:])
	}

	var out bytes.Buffer
	block := uint64(sampleFirstBlock)
	logIndex := uint64(rng.IntN(120))
	tx := 0
	for n := 0; n < sampleFills; n++ {
		if n > 0 {
			switch r := rng.IntN(100); {
			case r < 6: // same transaction, next log
				logIndex += 1 + uint64(rng.IntN(3))
			case r < 14: // same block, another transaction
				tx++
				logIndex += 2 + uint64(rng.IntN(8))
			default:
				tx++
				block += 1 + uint64(rng.IntN(45))
				logIndex = uint64(rng.IntN(150))
			}
		}
		i := pick()
		step := prices[i] * int64(rng.IntN(81)-40) / 10000 // -0.4% .. +0.4%
		prices[i] += step

		k := 1 + rng.IntN(4) // decimals of the amount
		scale := int64(1)
		for range k {
			scale *= 10
		}
		lo, hi := (5*scale+99)/100, 3*scale // 0.05 .. 3
		var units int64
		for units == 0 || (k > 1 && units%10 == 0) { // exactly k decimals
			units = lo + rng.Int64N(hi-lo+1)
		}
		dir := market.Buy
		if rng.IntN(2) == 1 {
			dir = market.Sell
		}
		sym, err := market.ParseTokenized(sampleSymbols[i].token)
		if err != nil {
			panic(err)
		}
		f := Fill{
			TradeID:        market.TradeID{TxHash: txHash(tx), LogIndex: logIndex},
			BlockNumber:    block,
			BlockTimestamp: sampleFirstTime.Add(time.Duration(block-sampleFirstBlock) * 2 * time.Second),
			Symbol:         sym,
			Direction:      dir,
			Amount:         decimal.New(units, int32(-k)),
			PriceUSDC:      decimal.New(prices[i], -4),
		}
		b, err := json.Marshal(f)
		if err != nil {
			panic(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func TestSampleFile(t *testing.T) {
	want := generateSample()
	if *update {
		if err := os.WriteFile(samplePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generator; run go test -run TestSampleFile -update", samplePath)
	}

	fills, bad, err := Read(bytes.NewReader(got), true)
	if err != nil || len(bad) != 0 {
		t.Fatalf("sample: %v %v", bad, err)
	}
	if len(fills) != sampleFills {
		t.Fatalf("%d fills", len(fills))
	}
	if !slices.IsSortedFunc(fills, func(a, b Fill) int {
		if a.BlockNumber != b.BlockNumber {
			return int(a.BlockNumber) - int(b.BlockNumber)
		}
		return int(a.TradeID.LogIndex) - int(b.TradeID.LogIndex)
	}) {
		t.Fatal("sample is not in chain order")
	}
	sorted := slices.Clone(fills)
	SortChainOrder(sorted)
	if !slices.EqualFunc(sorted, fills, func(a, b Fill) bool { return a.TradeID == b.TradeID }) {
		t.Fatal("SortChainOrder reorders the sample")
	}

	ref := map[market.Symbol]decimal.Decimal{}
	for _, s := range sampleSymbols {
		sym, _ := market.ParseTokenized(s.token)
		ref[sym.Base] = decimal.New(s.price, -4)
	}
	perSymbol := map[string]int{}
	dirs := map[market.Direction]int{}
	minA, maxA := decimal.RequireFromString("0.05"), decimal.RequireFromString("3")
	for i, f := range fills {
		perSymbol[f.Symbol.String()]++
		dirs[f.Direction]++
		if f.Amount.LessThan(minA) || f.Amount.GreaterThan(maxA) || f.Amount.Exponent() < -4 {
			t.Errorf("fill %d amount %s", i, f.Amount)
		}
		dev := f.PriceUSDC.Sub(ref[f.Symbol.Base]).Abs().Div(ref[f.Symbol.Base])
		if dev.GreaterThan(decimal.RequireFromString("0.1")) {
			t.Errorf("fill %d: %s price %s is %s off its reference", i, f.Symbol, f.PriceUSDC, dev)
		}
		if f.BlockTimestamp.Month() != time.November || f.BlockTimestamp.Year() != 2025 {
			t.Errorf("fill %d timestamp %s", i, f.BlockTimestamp)
		}
		if want := sampleFirstTime.Add(time.Duration(f.BlockNumber-sampleFirstBlock) * 2 * time.Second); !f.BlockTimestamp.Equal(want) {
			t.Errorf("fill %d timestamp %s, want 2 s per block: %s", i, f.BlockTimestamp, want)
		}
	}
	if len(perSymbol) != len(sampleSymbols) || dirs[market.Buy] < 15 || dirs[market.Sell] < 15 {
		t.Fatalf("poor mix: %v %v", perSymbol, dirs)
	}
	if fills[0].BlockNumber != sampleFirstBlock {
		t.Fatalf("first block %d", fills[0].BlockNumber)
	}
	t.Logf("symbols %v, directions %v, blocks %d..%d", perSymbol, dirs, fills[0].BlockNumber, fills[len(fills)-1].BlockNumber)
}
