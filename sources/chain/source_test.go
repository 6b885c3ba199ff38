package chain

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/sources/chain/chaintest"
	"github.com/hedgeline/hedgeline/sources/chain/rain/raintest"
	"github.com/hedgeline/hedgeline/topics"
)

var (
	owner = common.HexToAddress("0x71b94911FD1CE621FC40970450004c544e5287a8")
	other = common.HexToAddress("0x1111111111111111111111111111111111111111")
	decoy = common.HexToAddress("0x2222222222222222222222222222222222222222")
)

// testChain is a chain with USDC and three tokenized equities.
func testChain(t *testing.T) *chaintest.Chain {
	return chaintest.New(t, chaintest.Config{
		Emitters: []common.Address{decoy},
		Tokens: []chaintest.Token{
			{Symbol: "USDC", Decimals: 6}, {Symbol: "tSPLG", Decimals: 18},
			{Symbol: "NVDAs1", Decimals: 18}, {Symbol: "tAAPL", Decimals: 18},
		},
	})
}

func startKafka(t testing.TB) *kgo.Client {
	t.Helper()
	b, err := kafka.Start(kafka.Config{Listen: "127.0.0.1:0", Partitions: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(topics.ClientOpts(kafkasec.Plaintext(b.Addr()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := topics.Ensure(context.Background(), kadm.NewClient(cl), topics.Catalog(2, 1)); err != nil {
		t.Fatal(err)
	}
	return cl
}

func order(c *chaintest.Chain, who common.Address, in, out string) raintest.Order {
	return raintest.Order{Owner: who,
		Inputs:  []raintest.IO{{Token: c.Token(in), Decimals: decimalsOf(in)}},
		Outputs: []raintest.IO{{Token: c.Token(out), Decimals: decimalsOf(out)}}}
}

func decimalsOf(sym string) uint8 {
	if sym == "USDC" {
		return 6
	}
	return 18
}

func rec(topic common.Hash, data []byte) chaintest.Record {
	return chaintest.Record{Topic0: topic, Data: data}
}

// emitScenario writes DOMAIN.md's vectors and the cases around them, one
// block each, and returns the fills the owner must get, in chain order
// (symbol, direction, shares, USDC).
func emitScenario(t *testing.T, c *chaintest.Chain) []string {
	// tSPLG TakeOrderV3: the order gave 2 tSPLG for 160.15507752 USDC.
	c.Emit(rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "USDC", "tSPLG"),
		Input:  raintest.FloatBytes([32]byte(common.FromHex("ffffffee00000000000000000000000000000000000000001bc16d674ec80000"))),
		Output: raintest.FloatBytes([32]byte(common.FromHex("ffffffe500000000000000000000000000000002057d2cd516a29b6174400000")))})))
	// NVDAs1 "175x" regression, V4: 0.374 shares for 64.169234 USDC.
	c.Emit(rec(raintest.TakeOrderV2(raintest.TakeOrder{Order: order(c, owner, "USDC", "NVDAs1"),
		Input: raintest.Units("0.374", 18), Output: raintest.Units("64.169234", 6)})))
	// A decoy: another owner's take, and a log of the owner on another contract.
	c.Emit(rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, other, "USDC", "tAAPL"),
		Input: raintest.Dec("1"), Output: raintest.Dec("230")})))
	c.Send() // keep block numbers simple: the decoy emitter below is its own block
	c.Commit()
	_ = c.SendTo(decoy, rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "USDC", "tAAPL"),
		Input: raintest.Dec("5"), Output: raintest.Dec("1150")})))
	c.Commit()
	// ClearV3 with the owner as alice (she buys 3 tAAPL for 690 USDC), and
	// its AfterClearV2 in the same tx.
	topic, data := raintest.ClearV3(raintest.Clear{Alice: order(c, owner, "tAAPL", "USDC"), Bob: order(c, other, "USDC", "tAAPL")})
	atopic, adata := raintest.AfterClearV2(raintest.StateChange{AliceInput: raintest.Dec("3"), AliceOutput: raintest.Dec("690"),
		BobInput: raintest.Dec("690"), BobOutput: raintest.Dec("3")})
	c.Emit(rec(topic, data), rec(atopic, adata))
	// ClearV2 with the owner as bob (sells 0.5 NVDAs1 for 90 USDC).
	topic, data = raintest.ClearV2(raintest.Clear{Alice: order(c, other, "NVDAs1", "USDC"), Bob: order(c, owner, "USDC", "NVDAs1")})
	atopic, adata = raintest.AfterClear(raintest.StateChange{AliceInput: raintest.Units("0.5", 18), AliceOutput: raintest.Units("90", 6),
		BobInput: raintest.Units("90", 6), BobOutput: raintest.Units("0.5", 18)})
	c.Emit(rec(topic, data), rec(atopic, adata))
	// A ClearV3 of the owner whose only AfterClearV2 is in another tx of the
	// same block: not a fill, reported.
	topic, data = raintest.ClearV3(raintest.Clear{Alice: order(c, owner, "tAAPL", "USDC"), Bob: order(c, other, "USDC", "tAAPL")})
	atopic, adata = raintest.AfterClearV2(raintest.StateChange{AliceInput: raintest.Dec("1"), AliceOutput: raintest.Dec("230"),
		BobInput: raintest.Dec("230"), BobOutput: raintest.Dec("1")})
	c.Send(rec(topic, data))
	c.Send(rec(atopic, adata))
	c.Commit()
	return []string{
		"tSPLG Sell 2 @80.07753876",
		"NVDAs1 Sell 0.374 @171.575491978609625668",
		"tAAPL Buy 3 @230",
		"NVDAs1 Sell 0.5 @180",
	}
}

// witnesses reads every Witness command and rejection produced so far.
func witnesses(t *testing.T, cl *kgo.Client) (ws []onchaintrade.Witness, ids []string, enriched int, rejections []topics.Rejection) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, topic := range []string{topics.OnChainTradeCommands, topics.OnChainTradeRejections} {
		for _, r := range readAll(ctx, t, cl, topic) {
			if topic == topics.OnChainTradeRejections {
				rej, err := topics.DecodeRejection(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				rejections = append(rejections, rej)
				continue
			}
			env, err := topics.DecodeCommand(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			switch env.CommandType {
			case "Witness":
				var w onchaintrade.Witness
				if err := json.Unmarshal(env.Payload, &w); err != nil {
					t.Fatal(err)
				}
				ws = append(ws, w)
				ids = append(ids, env.CommandID)
			case "Enrich":
				enriched++
			}
		}
	}
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].BlockNumber != ws[j].BlockNumber {
			return ws[i].BlockNumber < ws[j].BlockNumber
		}
		return ws[i].TradeID.LogIndex < ws[j].TradeID.LogIndex
	})
	return ws, ids, enriched, rejections
}

func readAll(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	seeds := []kgo.Opt{kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...)}
	if err := topics.ReadToEnd(ctx, seeds, topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}

func describe(ws []onchaintrade.Witness) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Symbol + " " + string(w.Direction) + " " + w.Amount.String() + " @" + w.PriceUSDC.String()
	}
	return out
}

// newSource is a source of the owner's fills; opts change its configuration
// (Pyth is off unless one sets it).
func newSource(t *testing.T, rpcURL string, kc *kgo.Client, from, until uint64, batch uint64, opts ...func(*Config)) *Source {
	t.Helper()
	client, err := ethclient.Dial(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	cfg := Config{Client: client, Kafka: kc, Orderbook: chaintest.DefaultOrderbook, Owner: owner,
		FromBlock: from, UntilBlock: until, Cutoff: CutoffLatest, BatchBlocks: batch, PollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.retry.min = 10 * time.Millisecond
	s.fetch.retry = s.retry
	s.tokens.retry = s.retry
	return s
}

func run(t *testing.T, s *Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestBackfillThroughProviderFaults: the vectors and decoys through a
// provider that caps eth_getLogs at 2 blocks (Infura's wording), answers
// 429 and 502 now and then, and is slow once; every fill of the owner
// arrives once, in chain order, the Clear without its AfterClear is
// reported with its tx, and a restart resumes after the checkpoint.
func TestBackfillThroughProviderFaults(t *testing.T) {
	c := testChain(t)
	want := emitScenario(t, c)
	head, _ := c.Head()
	px := chaintest.NewProxy(t, c.RPCURL())
	px.LimitLogs(chaintest.LogsLimit{MaxRange: 2, Provider: chaintest.Infura})
	px.Inject("eth_getLogs", 1, chaintest.TooManyRequests("1"))
	px.Inject("eth_call", 1, chaintest.HTTPError(502))
	px.Inject("eth_getBlockByNumber", 1, chaintest.Delay(200*time.Millisecond))
	kc := startKafka(t)

	// First up to the middle, then a second source resumes from the
	// checkpoint up to the head.
	mid := head / 2
	first := newSource(t, px.URL(), kc, 1, mid, 50)
	run(t, first)
	s := newSource(t, px.URL(), kc, 1, head, 50)
	run(t, s)

	ws, ids, enriched, rejs := witnesses(t, kc)
	if got := describe(ws); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("witnessed fills:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("command %s produced twice", id)
		}
		seen[id] = true
	}
	if enriched != len(want) {
		t.Errorf("%d Enrich commands, want %d", enriched, len(want))
	}
	if len(rejs) != 1 || !strings.Contains(rejs[0].Reason, "AfterClear") {
		t.Fatalf("rejections %+v, want the Clear without its AfterClear", rejs)
	}
	if p, q := first.Progress(), s.Progress(); p.Stats.Halvings+q.Stats.Halvings == 0 || p.Stats.Retries+q.Stats.Retries < 2 {
		t.Errorf("the provider's limits and faults were not met: %+v then %+v", p.Stats, q.Stats)
	}
	if p := s.Progress(); p.From != mid+1 {
		t.Errorf("the second run started at block %d, want %d (after the checkpoint)", p.From, mid+1)
	}
	if n := px.Calls("eth_getLogs"); n < int(head/2) {
		t.Errorf("%d eth_getLogs calls for %d blocks capped at 2 per call", n, head)
	}
	for _, w := range ws {
		if w.BlockTimestamp.Year() != 2030 {
			t.Errorf("fill %s: block timestamp %s, want the block's (2030)", w.TradeID, w.BlockTimestamp)
		}
	}
}

// TestProvidersLimits: each provider's way of saying "fewer blocks" or
// "fewer results" makes the source shrink its range, never skip blocks.
func TestProvidersLimits(t *testing.T) {
	c := testChain(t)
	want := emitScenario(t, c)
	head, _ := c.Head()
	for _, tc := range []struct {
		name  string
		limit chaintest.LogsLimit
	}{
		{"alchemy range", chaintest.LogsLimit{MaxRange: 3, Provider: chaintest.Alchemy}},
		{"alchemy results", chaintest.LogsLimit{MaxResults: 2, Provider: chaintest.Alchemy}},
		{"quicknode range (HTTP 413)", chaintest.LogsLimit{MaxRange: 3, Provider: chaintest.QuickNode}},
		{"infura results", chaintest.LogsLimit{MaxResults: 2, Provider: chaintest.Infura}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := chaintest.NewProxy(t, c.RPCURL())
			px.LimitLogs(tc.limit)
			kc := startKafka(t)
			s := newSource(t, px.URL(), kc, 1, head, 64)
			run(t, s)
			ws, _, _, _ := witnesses(t, kc)
			if got := describe(ws); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("witnessed fills:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if s.Progress().Stats.Halvings == 0 {
				t.Error("the limit never made the source halve its range")
			}
		})
	}
}

// TestReorgRevertsOrphanedFills: a block with a fill is replaced by a fork
// whose block holds another fill; the source reverts the orphaned fill and
// witnesses the new one.
func TestReorgRevertsOrphanedFills(t *testing.T) {
	c := testChain(t)
	c.Emit(rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "USDC", "tAAPL"),
		Input: raintest.Dec("1"), Output: raintest.Dec("230")})))
	n1, _ := c.Head()
	_, h1 := c.Head()
	c.Emit(rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "USDC", "tAAPL"),
		Input: raintest.Dec("2"), Output: raintest.Dec("462")})))
	kc := startKafka(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSource(t, c.RPCURL(), kc, 1, 0, 50)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, func() bool { return s.Progress().Fills == 2 })

	c.Fork(h1) // the second fill's block leaves the chain
	c.Emit(rec(raintest.TakeOrderV3(raintest.TakeOrder{Order: order(c, owner, "tAAPL", "USDC"),
		Input: raintest.Dec("230"), Output: raintest.Dec("1")})))
	c.Commit() // longer than the orphaned branch
	waitFor(t, func() bool { return s.Progress().Reverted == 1 && s.Progress().Fills == 3 })
	cancel()
	<-done

	var reverts []onchaintrade.Revert
	for _, r := range readAll(context.Background(), t, kc, topics.OnChainTradeCommands) {
		env, err := topics.DecodeCommand(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if env.CommandType == "Revert" {
			var rv onchaintrade.Revert
			if err := json.Unmarshal(env.Payload, &rv); err != nil {
				t.Fatal(err)
			}
			reverts = append(reverts, rv)
		}
	}
	if len(reverts) != 1 || reverts[0].BlockNumber != n1+1 || reverts[0].Reason != onchaintrade.RevertReorg || reverts[0].ForkBlock != n1+1 {
		t.Fatalf("reverts %+v, want the fill of block %d", reverts, n1+1)
	}
	ws, _, _, _ := witnesses(t, kc)
	if got := describe(ws); len(got) != 3 || got[2] != "tAAPL Buy 1 @230" {
		t.Fatalf("witnessed %v, want the new canonical fill last", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDecodePythPrice: the COIN vector of DOMAIN.md s.6.6.
func TestDecodePythPrice(t *testing.T) {
	word := func(v *big.Int) []byte { return common.LeftPadBytes(v.Bytes(), 32) }
	neg := func(v int64) []byte { // two's complement word
		b := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(v))
		return b.Bytes()
	}
	out := append(append(append(word(big.NewInt(15_445_005)), word(big.NewInt(21_005))...), neg(-5)...), word(big.NewInt(1_781_166_017))...)
	p, err := decodePythPrice(out)
	if err != nil {
		t.Fatal(err)
	}
	price, _ := p.Price()
	if price.String() != "154.45005" || p.Conf != "21005" || p.Expo != -5 || p.PublishTime.Unix() != 1_781_166_017 {
		t.Fatalf("decoded %+v (price %s)", p, price)
	}
	if _, err := decodePythPrice(out[:100]); err == nil {
		t.Error("a short answer decoded")
	}
}
