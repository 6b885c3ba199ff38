package chain

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/topics"
)

// BasePyth is the Pyth contract on Base.
var BasePyth = common.HexToAddress("0x8250f4aF4B972684F7b336503E2D6dFeDeB1487a")

// DefaultFeeds are Pyth's equity feed ids (DOMAIN.md s.6.5 seeds them);
// --pyth-feeds adds or replaces.
var DefaultFeeds = map[string]common.Hash{
	"AAPL": common.HexToHash("0x49f6b65cb1de6b10eaf75e7c03ca029c306d0357e91b5311b175084a5ad55688"),
	"MSFT": common.HexToHash("0xd0ca23c1cc005e004ccf1db5bf76aeb6a49218f43dac3d4b275e92de12ded4d1"),
	"GOOG": common.HexToHash("0xe65ff435be42630439c96396653a342829e877e2aafaeaf1a10d0ee5fd2cf3f2"),
	"AMZN": common.HexToHash("0xb5d0e0fa58a1f8b81498ae670ce93c872d14434b72c364885d4fa1b257cbb07a"),
	"NVDA": common.HexToHash("0xb1073854ed24cbc755dc527418f52b7d271f6cc967bbf8d8129112b18860a593"),
	"META": common.HexToHash("0x78a3e3b8e676a8f73c439f5d749737034b139bbbe899ba5775216fba596607fe"),
	"TSLA": common.HexToHash("0x16dad506d7db8da01c87581c87ca897a012a153557d4d578c3b9c9e1bc0632f1"),
	"GME":  common.HexToHash("0x6f9cd89ef1b7fd39f667101a91ad578b6c6ace4579d5f7f285a4b06aa4504be6"),
}

// DefaultETHUSDFeed is Pyth's ETH/USD feed id (DOMAIN.md s.6.6 #6): the
// gas of each fill is priced with it at the fill's block.
// --pyth-eth-usd-feed replaces it.
var DefaultETHUSDFeed = common.HexToHash("0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace")

var selectorGetPriceUnsafe = common.FromHex("0x96834ad3")

// enrich produces one Enrich command per fill: gas from the receipt, the
// Pyth price at the fill's block when its symbol has a feed, and ETH/USD at
// that block (read once per block). Each failure is logged and leaves the
// trade without that piece only: hedging never waits.
func (s *Source) enrich(ctx context.Context, fills []fill) error {
	var recs []*kgo.Record
	receipts := map[common.Hash]onchaintrade.Enrich{}
	// ETH/USD per block; nil once a read failed, so a block's fills ask once.
	ethUSD := map[uint64]*market.PythPrice{}
	for _, f := range fills {
		e, ok := receipts[f.txHash]
		if !ok {
			var err error
			if e, err = s.gas(ctx, f.txHash); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("no receipt: trade left without gas data", "tx", f.txHash.Hex(), "err", err)
				continue
			}
			receipts[f.txHash] = e
		}
		if feed, ok := s.cfg.Feeds[string(f.f.Symbol.Base)]; ok && s.cfg.Pyth != (common.Address{}) {
			p, err := s.pyth(ctx, feed, f.f.BlockNumber)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("no Pyth price: trade left without one", "tx", f.txHash.Hex(), "symbol", f.f.Symbol.Base, "block", f.f.BlockNumber, "err", err)
			} else {
				e.PythPrice = p
			}
		}
		if s.cfg.ETHUSDFeed != (common.Hash{}) && s.cfg.Pyth != (common.Address{}) {
			p, done := ethUSD[f.f.BlockNumber]
			if !done {
				var err error
				if p, err = s.pyth(ctx, s.cfg.ETHUSDFeed, f.f.BlockNumber); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.log.Warn("no ETH/USD Pyth price: the block's trades left without one (gas cost in USD unknown)",
						"block", f.f.BlockNumber, "feed", s.cfg.ETHUSDFeed.Hex(), "err", err)
				}
				ethUSD[f.f.BlockNumber] = p
			}
			e.ETHUSDPrice = p
		}
		rec, err := enrichRecord(f, e)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	return s.produce(ctx, recs)
}

func (s *Source) gas(ctx context.Context, tx common.Hash) (onchaintrade.Enrich, error) {
	var e onchaintrade.Enrich
	err := s.retry.do(ctx, "receipt of "+tx.Hex(), func(ctx context.Context) error {
		r, err := s.cfg.Client.TransactionReceipt(ctx, tx)
		if err != nil {
			return err
		}
		if r.EffectiveGasPrice == nil || !r.EffectiveGasPrice.IsInt64() || r.EffectiveGasPrice.Sign() <= 0 || r.GasUsed == 0 || r.GasUsed > math.MaxInt64 {
			return fmt.Errorf("receipt gas out of range (gas used %d, effective gas price %v)", r.GasUsed, r.EffectiveGasPrice)
		}
		e.GasUsed, e.EffectiveGasPrice = r.GasUsed, r.EffectiveGasPrice.Uint64()
		return nil
	})
	return e, err
}

// pyth reads getPriceUnsafe(feed) at block: PythStructs.Price{int64 price,
// uint64 conf, int32 expo, uint256 publishTime}, four ABI words.
func (s *Source) pyth(ctx context.Context, feed common.Hash, block uint64) (*market.PythPrice, error) {
	var out []byte
	// Analytics only: a few attempts, then the trade goes without a price.
	r := s.retry
	r.attempts = 3
	err := r.do(ctx, "Pyth getPriceUnsafe", func(ctx context.Context) error {
		var err error
		out, err = s.cfg.Client.CallContract(ctx, ethereum.CallMsg{To: &s.cfg.Pyth, Data: append(append([]byte{}, selectorGetPriceUnsafe...), feed[:]...)},
			new(big.Int).SetUint64(block))
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodePythPrice(out)
}

func decodePythPrice(out []byte) (*market.PythPrice, error) {
	if len(out) != 4*32 {
		return nil, fmt.Errorf("getPriceUnsafe returned %d bytes, want 128", len(out))
	}
	word := func(i int) *big.Int { return new(big.Int).SetBytes(out[32*i : 32*i+32]) }
	signed := func(i int) *big.Int { // two's complement of a 256-bit word
		v := word(i)
		if out[32*i]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), 256))
		}
		return v
	}
	price, conf, expo, publish := signed(0), word(1), signed(2), word(3)
	if !price.IsInt64() || !conf.IsUint64() || !expo.IsInt64() || expo.Int64() < math.MinInt32 || expo.Int64() > math.MaxInt32 || !publish.IsInt64() {
		return nil, fmt.Errorf("getPriceUnsafe returned out-of-range fields (price %v, conf %v, expo %v, publish time %v)", price, conf, expo, publish)
	}
	return &market.PythPrice{
		Value: price.String(), Conf: conf.String(), Expo: int32(expo.Int64()),
		PublishTime: time.Unix(publish.Int64(), 0).UTC(),
	}, nil
}

func enrichRecord(f fill, e onchaintrade.Enrich) (*kgo.Record, error) {
	id := f.f.TradeID.String()
	return topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: topics.OnChainTrade, AggregateID: id, CommandID: "enrich:" + id + "@" + f.blockHash.Hex()[2:18],
		IssuedAt: time.Now().UTC(), CorrelationID: "fill:" + id, CausationID: "chain-source",
	}, e, f.key)
}
