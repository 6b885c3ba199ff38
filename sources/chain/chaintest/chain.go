// Package chaintest is a test chain for the chain source, used by tests only
// (like net/http/httptest): go-ethereum's simulated chain served over real
// JSON-RPC on 127.0.0.1, with stub contracts in the genesis state:
//
//   - at the orderbook address, an emitter: every call emits the LOG1 records
//     its calldata lists (Record), so a test writes ClearV3/AfterClearV2 or
//     TakeOrderV3 logs with exactly the bytes it wants;
//   - one ERC20 stub per configured token, answering symbol() and decimals();
//   - a Pyth stub answering getPriceUnsafe(bytes32) from stored prices.
//
// Blocks are only made by the test (Commit, Emit, AdjustTime); Fork rewinds
// the head to make a reorg. Proxy sits between the code under test and the
// chain and injects provider faults (429, 5xx, delays, eth_getLogs limits).
//
// Block timestamps are deterministic: genesis is at Config.GenesisTime
// (default 2030-01-01T00:00:00Z) and every sealed block is one second after
// the previously sealed block, on whichever branch (after a Fork the new
// blocks continue from the latest timestamp sealed, not from the fork
// point). AdjustTime seals an empty block d after the head instead.
//
// Block tags: "latest" is the head; the simulated consensus reports "safe" as
// the head too, and "finalized" as the last block whose number is a multiple
// of 32 (block n finalizes itself when n%32 == 0, else (n-1)/32*32; genesis
// before block 32).
package chaintest

import (
	"crypto/ecdsa"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// Defaults: the HEAD production orderbook and the Pyth contract on Base, so a
// test that does not care uses realistic addresses.
var (
	DefaultOrderbook = common.HexToAddress("0xe522cB4a5fCb2eb31a52Ff41a4653d85A4fd7C9D")
	DefaultPyth      = common.HexToAddress("0x8250f4aF4B972684F7b336503E2D6dFeDeB1487a")
	// DefaultGenesisTime is in the future so that block times never depend
	// on the wall clock (see the package comment).
	DefaultGenesisTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ChainID is the simulated chain's id (go-ethereum's dev chain).
const ChainID = 1337

// DefaultBlockGasLimit is far above mainnet's so that blocks of thousands of
// emits stay under the EIP-1559 target and the base fee never climbs.
const DefaultBlockGasLimit = 2_000_000_000

// maxTxGas is EIP-7825's per-transaction gas cap (Osaka, active here).
const maxTxGas = 1 << 24

// Config describes the genesis state. The zero value is a chain with the
// emitter at DefaultOrderbook, no tokens and an empty Pyth stub.
type Config struct {
	Orderbook common.Address // emitter address; zero means DefaultOrderbook
	// Emitters are further addresses running the emitter code, for logs a
	// filter on the orderbook address must not return.
	Emitters []common.Address
	Tokens   []Token
	Pyth     common.Address // zero means DefaultPyth
	// PythPrices are the stub's prices at genesis; SetPythPrice changes one
	// later. Feeds not listed revert with PriceFeedNotFound().
	PythPrices    map[common.Hash]Price
	GenesisTime   time.Time // zero means DefaultGenesisTime; must be in the future
	BlockGasLimit uint64    // zero means DefaultBlockGasLimit
}

// Token is an ERC20 stub. Its address is Address, or if zero, derived from the
// symbol (TokenAddress).
type Token struct {
	Symbol   string
	Decimals uint8
	Address  common.Address
}

// TokenAddress is the address a Token without one gets: the last 20 bytes of
// keccak256("chaintest token " + symbol).
func TokenAddress(symbol string) common.Address {
	return common.BytesToAddress(crypto.Keccak256([]byte("chaintest token " + symbol))[12:])
}

// Price is a PythStructs.Price.
type Price struct {
	Price       int64
	Conf        uint64
	Expo        int32
	PublishTime uint64
}

// Record is one log the emitter writes: LOG1 with topic0 and data.
type Record struct {
	Topic0 common.Hash
	Data   []byte
}

// EncodeRecords is the emitter's calldata for records:
// topic0 | uint256 len(data) | data, per record.
func EncodeRecords(records ...Record) []byte {
	var out []byte
	for _, r := range records {
		out = append(out, r.Topic0[:]...)
		out = append(out, common.BigToHash(big.NewInt(int64(len(r.Data)))).Bytes()...)
		out = append(out, r.Data...)
	}
	return out
}

// Chain is a running simulated chain with an HTTP JSON-RPC endpoint. Its
// methods fail the test on error and are meant for the test's goroutine.
type Chain struct {
	t      testing.TB
	cfg    Config
	tokens map[string]common.Address
	stack  *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	url    string

	mu     sync.Mutex // serializes sends, commits and forks
	key    *ecdsa.PrivateKey
	from   common.Address
	signer types.Signer
	nonce  uint64
	queued []*types.Transaction // sent, not yet in the pool
}

// senderKey is the funded account every stub transaction comes from.
var senderKey, _ = crypto.ToECDSA(crypto.Keccak256([]byte("chaintest sender")))

// New starts a chain with cfg's genesis and serves it on a free port of
// 127.0.0.1; t.Cleanup stops it.
func New(t testing.TB, cfg Config) *Chain {
	t.Helper()
	if cfg.Orderbook == (common.Address{}) {
		cfg.Orderbook = DefaultOrderbook
	}
	if cfg.Pyth == (common.Address{}) {
		cfg.Pyth = DefaultPyth
	}
	if cfg.GenesisTime.IsZero() {
		cfg.GenesisTime = DefaultGenesisTime
	}
	if cfg.BlockGasLimit == 0 {
		cfg.BlockGasLimit = DefaultBlockGasLimit
	}
	// The simulated consensus stamps a block with max(now, last+1): a genesis
	// in the future keeps that at last+1 for any realistic test length.
	if !cfg.GenesisTime.After(time.Now().Add(time.Hour)) {
		t.Fatalf("chaintest: GenesisTime %s must be more than an hour in the future (block times would follow the wall clock)", cfg.GenesisTime.Format(time.RFC3339))
	}
	c := &Chain{t: t, cfg: cfg, tokens: map[string]common.Address{}, key: senderKey,
		from: crypto.PubkeyToAddress(senderKey.PublicKey), signer: types.LatestSignerForChainID(big.NewInt(ChainID))}
	alloc, err := c.genesisAlloc()
	if err != nil {
		t.Fatalf("chaintest: %v", err)
	}
	if err := c.start(alloc); err != nil {
		t.Fatalf("chaintest: start the simulated chain: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *Chain) genesisAlloc() (types.GenesisAlloc, error) {
	alloc := types.GenesisAlloc{
		c.from: {Balance: new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)},
	}
	claim := func(addr common.Address, what string, acct types.Account) error {
		if _, dup := alloc[addr]; dup {
			return fmt.Errorf("address %s of %s is already taken by another stub", addr, what)
		}
		alloc[addr] = acct
		return nil
	}
	emitter := emitterCode()
	for _, addr := range append([]common.Address{c.cfg.Orderbook}, c.cfg.Emitters...) {
		if err := claim(addr, "an emitter", types.Account{Code: emitter, Balance: new(big.Int)}); err != nil {
			return nil, err
		}
	}
	for _, tok := range c.cfg.Tokens {
		addr := tok.Address
		if addr == (common.Address{}) {
			addr = TokenAddress(tok.Symbol)
		}
		if _, dup := c.tokens[tok.Symbol]; dup {
			return nil, fmt.Errorf("token %q configured twice", tok.Symbol)
		}
		c.tokens[tok.Symbol] = addr
		code := responderCode(map[[4]byte][]byte{
			[4]byte(selector("symbol()")):   abiString(tok.Symbol),
			[4]byte(selector("decimals()")): common.BigToHash(big.NewInt(int64(tok.Decimals))).Bytes(),
		})
		if err := claim(addr, "token "+tok.Symbol, types.Account{Code: code, Balance: new(big.Int)}); err != nil {
			return nil, err
		}
	}
	storage := map[common.Hash]common.Hash{}
	for feed, p := range c.cfg.PythPrices {
		if p.PublishTime == 0 {
			return nil, fmt.Errorf("pyth price of feed %s has publishTime 0, which the stub reads as unknown", feed)
		}
		for i, w := range priceWords(p) {
			storage[pythSlot(feed, i)] = w
		}
	}
	if err := claim(c.cfg.Pyth, "the Pyth stub", types.Account{Code: pythCode(), Storage: storage, Balance: new(big.Int)}); err != nil {
		return nil, err
	}
	return alloc, nil
}

// start assembles the node the way ethclient/simulated.NewBackend does, with
// HTTP on a free port of 127.0.0.1, archive state (eth_call at any past
// block) and the beacon kept so that tests drive Commit/Fork/AdjustTime
// directly. simulated.Backend hides its node, so its HTTP endpoint would be
// unreachable.
func (c *Chain) start(alloc types.GenesisAlloc) error {
	nodeConf := node.DefaultConfig
	nodeConf.DataDir = "" // in memory
	nodeConf.P2P = p2p.Config{NoDiscovery: true}
	nodeConf.HTTPHost = "127.0.0.1"
	nodeConf.HTTPPort = 0 // free port; HTTPEndpoint tells which
	nodeConf.HTTPModules = []string{"eth", "net", "web3"}
	nodeConf.WSPort = 0

	genesisAlloc := core.SystemContractAllocs()
	maps.Copy(genesisAlloc, alloc)
	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{
		Config:    params.AllDevChainProtocolChanges,
		GasLimit:  c.cfg.BlockGasLimit,
		Timestamp: uint64(c.cfg.GenesisTime.Unix()),
		Alloc:     genesisAlloc,
	}
	ethConf.Miner.GasCeil = c.cfg.BlockGasLimit
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.NoPruning = true // archive: historical eth_call never misses state
	ethConf.StateScheme = rawdb.HashScheme
	ethConf.LogNoHistory = true // no background log index: eth_getLogs scans blooms, deterministic
	ethConf.TxPool.NoLocals = true
	// One sender queues a whole block's transactions before Commit.
	ethConf.TxPool.AccountSlots = 1 << 20
	ethConf.TxPool.GlobalSlots = 1 << 20
	ethConf.TxPool.AccountQueue = 1 << 20
	ethConf.TxPool.GlobalQueue = 1 << 20

	stack, err := node.New(&nodeConf)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		return fmt.Errorf("eth service: %w", err)
	}
	filterSystem := filters.NewFilterSystem(backend.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)}})
	if err := stack.Start(); err != nil {
		stack.Close()
		return fmt.Errorf("node start: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		return fmt.Errorf("simulated beacon: %w", err)
	}
	// As simulated.NewBackend does: take the head through the beacon once.
	if err := beacon.Fork(backend.BlockChain().GetCanonicalHash(0)); err != nil {
		stack.Close()
		return fmt.Errorf("simulated beacon: %w", err)
	}
	c.stack, c.eth, c.beacon = stack, backend, beacon
	c.url = stack.HTTPEndpoint()
	return nil
}

func (c *Chain) close() {
	c.beacon.Stop()
	if err := c.stack.Close(); err != nil {
		c.t.Errorf("chaintest: close the node: %v", err)
	}
}

// RPCURL is the chain's HTTP JSON-RPC endpoint, for ethclient.Dial.
func (c *Chain) RPCURL() string { return c.url }

// Orderbook is the emitter's address.
func (c *Chain) Orderbook() common.Address { return c.cfg.Orderbook }

// Pyth is the Pyth stub's address.
func (c *Chain) Pyth() common.Address { return c.cfg.Pyth }

// Sender is the account that sends every transaction of the harness.
func (c *Chain) Sender() common.Address { return c.from }

// Token is the address of a configured token; an unknown symbol fails the test.
func (c *Chain) Token(symbol string) common.Address {
	c.t.Helper()
	addr, ok := c.tokens[symbol]
	if !ok {
		c.t.Fatalf("chaintest: token %q is not configured (have %s)", symbol, strings.Join(slices.Sorted(maps.Keys(c.tokens)), ", "))
	}
	return addr
}

// Head is the canonical head's number and hash.
func (c *Chain) Head() (uint64, common.Hash) {
	h := c.eth.BlockChain().CurrentBlock()
	return h.Number.Uint64(), h.Hash()
}

// BlockHash is the canonical hash at number (zero hash when there is none).
func (c *Chain) BlockHash(number uint64) common.Hash {
	return c.eth.BlockChain().GetCanonicalHash(number)
}

// Emit sends one transaction to the orderbook emitting records in order and
// mines it in a new block of its own. It returns the tx hash and the block.
// Transactions already queued by Send land in the same block.
func (c *Chain) Emit(records ...Record) (common.Hash, uint64) {
	c.t.Helper()
	h := c.Send(records...)
	return h, c.Commit()
}

// Send queues a transaction to the orderbook emitting records; the next
// Commit mines it. Several Sends before a Commit share one block, in order
// (transaction index = order of Send).
func (c *Chain) Send(records ...Record) common.Hash {
	c.t.Helper()
	return c.SendTo(c.cfg.Orderbook, records...)
}

// SendTo is Send to another emitter (Config.Emitters).
func (c *Chain) SendTo(emitter common.Address, records ...Record) common.Hash {
	c.t.Helper()
	if emitter != c.cfg.Orderbook && !slices.Contains(c.cfg.Emitters, emitter) {
		c.t.Fatalf("chaintest: SendTo %s, which is neither the orderbook nor in Config.Emitters (the call would emit nothing)", emitter)
	}
	data := EncodeRecords(records...)
	// Execution: per record the loop (~100), LOG1 (750 + 8/byte) and the
	// memory of the largest record, well above what it uses.
	gas := uint64(21_000 + 40*len(data))
	maxData := 0
	for _, r := range records {
		gas += 1_000 + 8*uint64(len(r.Data)) + 3*uint64(len(r.Data)+31)/32
		maxData = max(maxData, len(r.Data))
	}
	words := uint64(maxData+31) / 32
	gas += 3*words + words*words/512
	return c.send(emitter, data, gas)
}

// SendPythPrice queues a transaction setting feed's price in the Pyth stub;
// eth_call at blocks from the next Commit on sees it.
func (c *Chain) SendPythPrice(feed common.Hash, p Price) common.Hash {
	c.t.Helper()
	data := append(append([]byte(nil), selSetPrice...), feed[:]...)
	for _, w := range priceWords(p) {
		data = append(data, w[:]...)
	}
	return c.send(c.cfg.Pyth, data, 200_000)
}

// SetPythPrice sets feed's price from a new block on and returns that block.
func (c *Chain) SetPythPrice(feed common.Hash, p Price) uint64 {
	c.t.Helper()
	c.SendPythPrice(feed, p)
	return c.Commit()
}

func (c *Chain) send(to common.Address, data []byte, gas uint64) common.Hash {
	c.t.Helper()
	if gas > maxTxGas {
		c.t.Fatalf("chaintest: a transaction of %d bytes of records needs ~%d gas, over the %d per-transaction cap: split the records over several Sends", len(data), gas, maxTxGas)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tip := big.NewInt(params.GWei)
	// Blocks stay under the gas target, so the base fee only falls.
	feeCap := new(big.Int).Add(new(big.Int).Mul(c.eth.BlockChain().CurrentBlock().BaseFee, big.NewInt(2)), tip)
	tx := types.MustSignNewTx(c.key, c.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(ChainID), Nonce: c.nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas, To: &to, Data: data,
	})
	c.queued = append(c.queued, tx)
	c.nonce++
	return tx.Hash()
}

// Commit mines the queued transactions into a new block on the head and
// returns its number. All of them must fit in it.
func (c *Chain) Commit() uint64 {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Added in one synchronous batch: with asynchronous adds the block was
	// sometimes built before the pool had promoted the last transactions.
	for i, err := range c.eth.TxPool().Add(c.queued, true) {
		if err != nil {
			c.t.Fatalf("chaintest: add transaction %d of %d (to %s, nonce %d) to the pool: %v", i, len(c.queued), c.queued[i].To(), c.queued[i].Nonce(), err)
		}
	}
	c.queued = nil
	before := c.eth.BlockChain().CurrentBlock().Number.Uint64()
	c.beacon.Commit()
	head := c.eth.BlockChain().CurrentBlock().Number.Uint64()
	if head != before+1 {
		c.t.Fatalf("chaintest: Commit on block %d made the head %d, not %d", before, head, before+1)
	}
	if err := c.eth.TxPool().Sync(); err != nil {
		c.t.Fatalf("chaintest: txpool sync: %v", err)
	}
	if pending, queued := c.eth.TxPool().Stats(); pending+queued > 0 {
		c.t.Fatalf("chaintest: %d queued transactions did not fit in block %d (gas limit %d): Commit more often", pending+queued, head, c.cfg.BlockGasLimit)
	}
	return head
}

// AdjustTime seals an empty block d after the head's timestamp (at least one
// second after the last sealed block) and returns its number. Nothing may be
// queued.
func (c *Chain) AdjustTime(d time.Duration) uint64 {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requireNothingQueued("AdjustTime")
	if err := c.beacon.AdjustTime(d); err != nil {
		c.t.Fatalf("chaintest: AdjustTime(%s): %v", d, err)
	}
	return c.eth.BlockChain().CurrentBlock().Number.Uint64()
}

// Fork rewinds the canonical head to parent: the blocks above it stop being
// canonical at once (eth_blockNumber answers parent's number, their logs leave
// eth_getLogs) and the next Commits build the new branch. The rewound
// blocks' transactions are dropped; ForkKeepTxs re-includes them instead.
func (c *Chain) Fork(parent common.Hash) {
	c.t.Helper()
	c.fork(parent, false)
}

// ForkKeepTxs is Fork, but the rewound blocks' transactions go back to the
// pool (as a real node does) and the next Commit mines them again, in a new
// block with a new hash.
func (c *Chain) ForkKeepTxs(parent common.Hash) {
	c.t.Helper()
	c.fork(parent, true)
}

func (c *Chain) fork(parent common.Hash, keep bool) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requireNothingQueued("Fork")
	if err := c.beacon.Fork(parent); err != nil {
		c.t.Fatalf("chaintest: Fork at %s: %v", parent, err)
	}
	// The pool reinjects the rewound transactions on its reset; wait for it.
	if err := c.eth.TxPool().Sync(); err != nil {
		c.t.Fatalf("chaintest: txpool sync: %v", err)
	}
	if !keep {
		c.eth.TxPool().Clear()
	}
	c.nonce = c.eth.TxPool().Nonce(c.from)
}

func (c *Chain) requireNothingQueued(what string) {
	c.t.Helper()
	if len(c.queued) > 0 {
		c.t.Fatalf("chaintest: %s with %d sent transactions not committed: Commit first", what, len(c.queued))
	}
}

// abiString is the ABI encoding of a lone string return value.
func abiString(s string) []byte {
	out := common.BigToHash(big.NewInt(32)).Bytes()
	out = append(out, common.BigToHash(big.NewInt(int64(len(s)))).Bytes()...)
	padded := make([]byte, (len(s)+31)/32*32)
	copy(padded, s)
	return append(out, padded...)
}

// priceWords are the four ABI words of a PythStructs.Price.
func priceWords(p Price) [4]common.Hash {
	return [4]common.Hash{
		signedWord(big.NewInt(p.Price)),
		common.BigToHash(new(big.Int).SetUint64(p.Conf)),
		signedWord(big.NewInt(int64(p.Expo))),
		common.BigToHash(new(big.Int).SetUint64(p.PublishTime)),
	}
}

// signedWord is v as a two's-complement 256-bit word.
func signedWord(v *big.Int) common.Hash {
	if v.Sign() >= 0 {
		return common.BigToHash(v)
	}
	return common.BigToHash(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 256), v))
}

// pythSlot is the i-th storage slot of a feed's price.
func pythSlot(feed common.Hash, i int) common.Hash {
	base := new(big.Int).SetBytes(crypto.Keccak256(feed[:]))
	return common.BigToHash(base.Add(base, big.NewInt(int64(i))))
}
