// Package loadgen makes realistic synthetic fills for load tests and
// benchmarks: many symbols, both directions, fractional amounts, prices
// that wander near real ones, in chain order. Deterministic per seed.
package loadgen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/shopspring/decimal"
)

// Generator yields fills one at a time.
type Generator struct {
	rng     *rand.Rand
	symbols []market.TokenizedSymbol
	prices  []float64
	block   uint64
	log     uint64
	at      time.Time
	n       uint64
	seed    uint64
	// resumed is the block ResumeAfter continued after (0: from the
	// start), mixed into transaction hashes so a resumed run's trade ids
	// differ from those of the run before it.
	resumed uint64
}

var markers = []market.Marker{market.MarkerT, market.MarkerZeroX, market.MarkerS1}

// New makes a generator over n symbols (AAA, AAB, ... style tickers beyond
// the well-known ones).
func New(symbols int, seed uint64) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), block: 34844164, seed: seed,
		at: time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)}
	known := []string{"AAPL", "NVDA", "TSLA", "MSFT", "GOOG", "AMZN", "META", "COIN"}
	for i := 0; i < symbols; i++ {
		base := ""
		if i < len(known) {
			base = known[i]
		} else {
			base = ticker(i)
		}
		g.symbols = append(g.symbols, market.TokenizedSymbol{Base: market.Symbol(base), Marker: markers[i%len(markers)]})
		g.prices = append(g.prices, 20+g.rng.Float64()*480)
	}
	return g
}

func ticker(i int) string {
	b := []byte{'X', 'A', 'A', 'A'}
	for p := 3; p > 0 && i > 0; p-- {
		b[p] = byte('A' + i%26)
		i /= 26
	}
	return string(b)
}

// ResumeAfter makes the next fills come strictly after the chain position
// (block, logIndex), timed from at: a second run against a stack that
// already holds fills continues the chain instead of repeating it (the
// positions refuse fills at or below their watermark). Call it before Next.
func (g *Generator) ResumeAfter(block, logIndex uint64, at time.Time) {
	g.block, g.log, g.resumed = block, logIndex, block
	if !at.IsZero() {
		g.at = at
	}
}

// Next returns the next fill in chain order.
func (g *Generator) Next() file.Fill {
	g.n++
	if g.rng.IntN(4) == 0 {
		g.block++
		g.log = 0
		g.at = g.at.Add(2 * time.Second)
	} else {
		g.log++
	}
	i := g.rng.IntN(len(g.symbols))
	g.prices[i] *= 1 + (g.rng.Float64()-0.5)*0.002
	price := decimal.NewFromFloat(g.prices[i]).Round(4)
	amount := decimal.New(int64(1+g.rng.IntN(30000)), -4) // 0.0001 .. 3.0000
	dir := market.Buy
	if g.rng.IntN(2) == 0 {
		dir = market.Sell
	}
	// Transaction hashes look like real ones (uniformly random hex, per seed
	// and fill): zero-padded counters made every key share a 60-character
	// prefix, which slowed the LevelDB key comparisons of the tables.
	salt := binary.AppendUvarint(binary.AppendUvarint(nil, g.seed), g.n)
	if g.resumed != 0 {
		salt = binary.AppendUvarint(salt, g.resumed)
	}
	h := sha256.Sum256(salt)
	id, err := market.NewTradeID("0x"+hex.EncodeToString(h[:]), g.log)
	if err != nil {
		panic(err) // the format always yields a valid hash
	}
	return file.Fill{TradeID: id, BlockNumber: g.block, BlockTimestamp: g.at, Symbol: g.symbols[i],
		Direction: dir, Amount: amount, PriceUSDC: price}
}
