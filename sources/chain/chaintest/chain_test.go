package chaintest

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

func dial(t *testing.T, url string) *ethclient.Client {
	t.Helper()
	c, err := ethclient.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

func topic(name string) common.Hash { return crypto.Keccak256Hash([]byte(name)) }

func filterOrderbook(t *testing.T, cl *ethclient.Client, addr common.Address, from, to uint64) []types.Log {
	t.Helper()
	logs, err := cl.FilterLogs(context.Background(), ethereum.FilterQuery{
		FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to), Addresses: []common.Address{addr},
	})
	if err != nil {
		t.Fatalf("eth_getLogs %d..%d: %v", from, to, err)
	}
	return logs
}

func TestEmitterWritesRecordsInOrder(t *testing.T) {
	decoy := common.HexToAddress("0x000000000000000000000000000000000000dEc0")
	chain := New(t, Config{Emitters: []common.Address{decoy}})
	cl := dial(t, chain.RPCURL())
	ctx := context.Background()

	records := []Record{
		{Topic0: topic("ClearV3"), Data: bytes.Repeat([]byte{0xab}, 1000)},
		{Topic0: topic("AfterClearV2"), Data: bytes.Repeat([]byte{0x01}, 33)},
		{Topic0: topic("Empty"), Data: nil},
		{Topic0: topic("Odd"), Data: []byte{1, 2, 3}},
	}
	decoyTx := chain.SendTo(decoy, Record{Topic0: topic("ClearV3"), Data: []byte("decoy")})
	tx, block := chain.Emit(records...)

	logs := filterOrderbook(t, cl, chain.Orderbook(), block, block)
	if len(logs) != len(records) {
		t.Fatalf("eth_getLogs on the orderbook returned %d logs, want %d (the decoy emitter's must not count)", len(logs), len(records))
	}
	for i, l := range logs {
		if l.Address != chain.Orderbook() || l.TxHash != tx || l.BlockNumber != block {
			t.Errorf("log %d: address %s tx %s block %d, want %s %s %d", i, l.Address, l.TxHash, l.BlockNumber, chain.Orderbook(), tx, block)
		}
		if len(l.Topics) != 1 || l.Topics[0] != records[i].Topic0 {
			t.Errorf("log %d topics %v, want [%s]", i, l.Topics, records[i].Topic0)
		}
		if !bytes.Equal(l.Data, records[i].Data) {
			t.Errorf("log %d data %x, want %x", i, l.Data, records[i].Data)
		}
		// The decoy's tx came first in the block and holds log index 0.
		if want := uint(i + 1); l.Index != want {
			t.Errorf("log %d has index %d, want %d", i, l.Index, want)
		}
	}
	r, err := cl.TransactionReceipt(ctx, tx)
	if err != nil {
		t.Fatalf("eth_getTransactionReceipt: %v", err)
	}
	if r.Status != types.ReceiptStatusSuccessful || r.GasUsed == 0 || r.EffectiveGasPrice == nil || r.EffectiveGasPrice.Sign() <= 0 || len(r.Logs) != len(records) {
		t.Errorf("receipt: status %d gasUsed %d price %v logs %d", r.Status, r.GasUsed, r.EffectiveGasPrice, len(r.Logs))
	}
	if r.TransactionIndex != 1 {
		t.Errorf("orderbook tx index %d, want 1 (after the decoy)", r.TransactionIndex)
	}
	all, err := cl.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(int64(block)), ToBlock: big.NewInt(int64(block))})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(records)+1 || all[0].Address != decoy || all[0].TxHash != decoyTx {
		t.Errorf("unfiltered logs: %d, first from %s; want %d with the decoy first", len(all), all[0].Address, len(records)+1)
	}
}

func TestSendsShareOneBlock(t *testing.T) {
	chain := New(t, Config{})
	cl := dial(t, chain.RPCURL())
	var txs []common.Hash
	for i := range 3 {
		txs = append(txs, chain.Send(Record{Topic0: topic("A"), Data: []byte{byte(i)}}, Record{Topic0: topic("B")}))
	}
	block := chain.Commit()
	logs := filterOrderbook(t, cl, chain.Orderbook(), 0, block)
	if len(logs) != 6 {
		t.Fatalf("%d logs, want 6", len(logs))
	}
	for i, l := range logs {
		if l.BlockNumber != block || l.TxHash != txs[i/2] || l.TxIndex != uint(i/2) || l.Index != uint(i) {
			t.Errorf("log %d: block %d tx %s (index %d) log index %d; want block %d tx %s (%d) log %d", i, l.BlockNumber, l.TxHash, l.TxIndex, l.Index, block, txs[i/2], i/2, i)
		}
	}
}

func TestTokenStubs(t *testing.T) {
	chain := New(t, Config{Tokens: []Token{{Symbol: "USDC", Decimals: 6}, {Symbol: "tSPLG-with-a-long-symbol-over-32-bytes", Decimals: 18}}})
	cl := dial(t, chain.RPCURL())
	ctx := context.Background()
	call := func(to common.Address, sel string) ([]byte, error) {
		return cl.CallContract(ctx, ethereum.CallMsg{To: &to, Data: selector(sel)}, nil)
	}
	for _, tok := range []struct {
		symbol   string
		decimals uint64
	}{{"USDC", 6}, {"tSPLG-with-a-long-symbol-over-32-bytes", 18}} {
		addr := chain.Token(tok.symbol)
		if addr != TokenAddress(tok.symbol) {
			t.Errorf("Token(%q) = %s, want %s", tok.symbol, addr, TokenAddress(tok.symbol))
		}
		out, err := call(addr, "symbol()")
		if err != nil {
			t.Fatalf("symbol() of %s: %v", tok.symbol, err)
		}
		if got := decodeABIString(t, out); got != tok.symbol {
			t.Errorf("symbol() = %q, want %q", got, tok.symbol)
		}
		out, err = call(addr, "decimals()")
		if err != nil {
			t.Fatalf("decimals() of %s: %v", tok.symbol, err)
		}
		if len(out) != 32 || new(big.Int).SetBytes(out).Uint64() != tok.decimals {
			t.Errorf("decimals() = %x, want %d", out, tok.decimals)
		}
		if _, err := call(addr, "totalSupply()"); err == nil {
			t.Errorf("totalSupply() of the stub did not revert")
		}
	}
}

func decodeABIString(t *testing.T, out []byte) string {
	t.Helper()
	if len(out) < 64 || new(big.Int).SetBytes(out[:32]).Uint64() != 32 {
		t.Fatalf("not an ABI string: %x", out)
	}
	n := new(big.Int).SetBytes(out[32:64]).Uint64()
	if uint64(len(out)) != 64+(n+31)/32*32 {
		t.Fatalf("ABI string of length %d in %d bytes", n, len(out))
	}
	return string(out[64 : 64+n])
}

func TestPythStubAnswersHistoricalCalls(t *testing.T) {
	coin := common.HexToHash("0xfee33f2a978bf32dd6b662b65ba8083c6773b494f8401194ec1870c640860245")
	eth := common.HexToHash("0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace")
	first := Price{Price: 15_445_005, Conf: 21_005, Expo: -5, PublishTime: 1_781_166_017}
	chain := New(t, Config{PythPrices: map[common.Hash]Price{coin: first}})
	cl := dial(t, chain.RPCURL())
	ctx := context.Background()
	pyth := chain.Pyth()
	get := func(feed common.Hash, block uint64) ([]byte, error) {
		data := append(append([]byte(nil), selector("getPriceUnsafe(bytes32)")...), feed[:]...)
		return cl.CallContract(ctx, ethereum.CallMsg{To: &pyth, Data: data}, new(big.Int).SetUint64(block))
	}
	b1 := chain.Commit()
	second := Price{Price: -42, Conf: 7, Expo: -8, PublishTime: 1_781_166_999}
	b2 := chain.SetPythPrice(coin, second)
	chain.Commit()

	for _, tc := range []struct {
		block uint64
		want  Price
	}{{0, first}, {b1, first}, {b2, second}, {b2 + 1, second}} {
		out, err := get(coin, tc.block)
		if err != nil {
			t.Fatalf("getPriceUnsafe at block %d: %v", tc.block, err)
		}
		if got := decodePrice(t, out); got != tc.want {
			t.Errorf("getPriceUnsafe at block %d = %+v, want %+v", tc.block, got, tc.want)
		}
	}
	_, err := get(eth, b2)
	var de rpc.DataError
	if !errors.As(err, &de) {
		t.Fatalf("unknown feed: error %v, want a revert with data", err)
	}
	if data, _ := de.ErrorData().(string); data != hexutil.Encode(selector("PriceFeedNotFound()")) {
		t.Errorf("unknown feed reverted with %v, want PriceFeedNotFound() %x", de.ErrorData(), selector("PriceFeedNotFound()"))
	}
}

func decodePrice(t *testing.T, out []byte) Price {
	t.Helper()
	if len(out) != 128 {
		t.Fatalf("Price is %d bytes, want 128: %x", len(out), out)
	}
	word := func(i int) *big.Int {
		v := new(big.Int).SetBytes(out[32*i : 32*i+32])
		if out[32*i]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), 256))
		}
		return v
	}
	return Price{Price: word(0).Int64(), Conf: word(1).Uint64(), Expo: int32(word(2).Int64()), PublishTime: word(3).Uint64()}
}

func TestForkRemovesBlocksAndLogs(t *testing.T) {
	chain := New(t, Config{})
	cl := dial(t, chain.RPCURL())
	ctx := context.Background()
	chain.Commit()
	parent, parentHash := chain.Head()
	tx, block := chain.Emit(Record{Topic0: topic("ClearV3"), Data: []byte("reorged")})
	old, err := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(block))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(filterOrderbook(t, cl, chain.Orderbook(), 0, block)); n != 1 {
		t.Fatalf("before the fork: %d logs, want 1", n)
	}

	chain.Fork(parentHash)
	if n, err := cl.BlockNumber(ctx); err != nil || n != parent {
		t.Errorf("after Fork eth_blockNumber = %d (%v), want the fork point %d", n, err, parent)
	}
	chain.Commit()
	chain.Commit()
	now, err := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(block))
	if err != nil {
		t.Fatal(err)
	}
	if now.Hash() == old.Hash() {
		t.Fatalf("block %d still has hash %s after the fork", block, old.Hash())
	}
	if logs := filterOrderbook(t, cl, chain.Orderbook(), 0, block+1); len(logs) != 0 {
		t.Errorf("after the fork eth_getLogs still returns %d logs: %+v", len(logs), logs[0])
	}
	if _, err := cl.TransactionReceipt(ctx, tx); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("receipt of the reorged tx: %v, want not found", err)
	}
	if _, err := cl.HeaderByHash(ctx, old.Hash()); err != nil {
		t.Errorf("the old block is gone by hash too (%v); a node keeps side blocks", err)
	}
	// The sender's nonce follows the fork: a new emit works.
	if _, b := chain.Emit(Record{Topic0: topic("after")}); b != block+2 {
		t.Errorf("emit after the fork landed in block %d, want %d", b, block+2)
	}
}

func TestForkKeepTxsMinesThemAgain(t *testing.T) {
	chain := New(t, Config{})
	cl := dial(t, chain.RPCURL())
	_, parentHash := chain.Head()
	tx, block := chain.Emit(Record{Topic0: topic("ClearV3"), Data: []byte("kept")})
	oldHash := chain.BlockHash(block)
	chain.ForkKeepTxs(parentHash)
	again := chain.Commit()
	r, err := cl.TransactionReceipt(context.Background(), tx)
	if err != nil {
		t.Fatalf("receipt after ForkKeepTxs: %v", err)
	}
	if r.BlockNumber.Uint64() != again || r.BlockHash == oldHash {
		t.Errorf("re-mined in block %d %s, want block %d with a hash other than %s", r.BlockNumber, r.BlockHash, again, oldHash)
	}
	logs := filterOrderbook(t, cl, chain.Orderbook(), 0, again)
	if len(logs) != 1 || logs[0].BlockHash != r.BlockHash {
		t.Errorf("logs after ForkKeepTxs: %+v", logs)
	}
}

func TestBlockTagsAndTimestamps(t *testing.T) {
	chain := New(t, Config{})
	cl := dial(t, chain.RPCURL())
	ctx := context.Background()
	for range 40 {
		chain.Commit()
	}
	tag := func(name string) *types.Header {
		var h *types.Header
		if err := cl.Client().CallContext(ctx, &h, "eth_getBlockByNumber", name, false); err != nil || h == nil {
			t.Fatalf("eth_getBlockByNumber(%q): %v %v", name, h, err)
		}
		return h
	}
	if n := tag("latest").Number.Uint64(); n != 40 {
		t.Errorf("latest = %d, want 40", n)
	}
	if n := tag("safe").Number.Uint64(); n != 40 {
		t.Errorf("safe = %d, want 40 (the simulated consensus marks the head safe)", n)
	}
	if n := tag("finalized").Number.Uint64(); n != 32 {
		t.Errorf("finalized = %d, want 32", n)
	}
	genesis := uint64(DefaultGenesisTime.Unix())
	for _, n := range []uint64{0, 1, 39, 40} {
		h, err := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if h.Time != genesis+n {
			t.Errorf("block %d time %d, want genesis+%d = %d", n, h.Time, n, genesis+n)
		}
	}
	b := chain.AdjustTime(time.Hour)
	h, _ := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(b))
	if h.Time != genesis+40+3600 {
		t.Errorf("AdjustTime(1h) block time %d, want %d", h.Time, genesis+40+3600)
	}
}

// Many transactions queued for one block all land in it (the pool used to
// promote some of them only after the block was built).
func TestManySendsFitOneBlock(t *testing.T) {
	chain := New(t, Config{})
	cl := dial(t, chain.RPCURL())
	const txs = 10
	for range 30 {
		for range txs {
			recs := make([]Record, 10)
			for i := range recs {
				recs[i] = Record{Topic0: topic("TakeOrderV3"), Data: make([]byte, 1000)}
			}
			chain.Send(recs...)
		}
		block := chain.Commit()
		b, err := cl.BlockByNumber(context.Background(), new(big.Int).SetUint64(block))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Transactions()) != txs {
			t.Fatalf("block %d has %d transactions, want %d", block, len(b.Transactions()), txs)
		}
	}
}
