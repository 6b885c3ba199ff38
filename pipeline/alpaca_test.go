package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/alpaca/alpacatest"
	"github.com/hedgeline/hedgeline/internal/testlog"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	alpacaTestKeyID  = "PKE2EKEYID7Q4ZJ3M9XA"
	alpacaTestSecret = "e2e-s3cret-N0t-For-Logs-4b1f9c0d7e2a"
)

// alpacaRig is a pipeline hedging at a fake Alpaca account.
type alpacaRig struct {
	addr string
	fake *alpacatest.Server
	p    *kitPipelineInstance
	logs *testlog.Buffer
}

// startAlpacaRig starts a fake Alpaca (prepared by prep before the
// pipeline sees it) and a pipeline with --broker alpaca against it, whole
// shares so the position rules of kitCheckPositionAt apply. The pipeline
// logs at level into rig.logs.
func startAlpacaRig(t *testing.T, level slog.Level, prep func(*alpacatest.Server), extra ...string) *alpacaRig {
	t.Helper()
	r := &alpacaRig{addr: kitStartBroker(t), fake: alpacatest.NewServer(t, alpacaTestKeyID, alpacaTestSecret)}
	if prep != nil {
		prep(r.fake)
	}
	dir := t.TempDir()
	args := append([]string{"--broker", "alpaca", "--alpaca-url", r.fake.URL,
		"--alpaca-key-id", alpacaTestKeyID, "--alpaca-secret-key", alpacaTestSecret,
		"--fractional", "false",
		// Outcomes come pushed; the walk of the order table (and the poll
		// of orders while the stream is down) every 200 ms.
		"--poll-interval", "200ms"}, extra...)
	cfg := testRunConfig(t, r.addr, filepath.Join(dir, "state"), filepath.Join(dir, "unused-ledger.jsonl"), args...)
	var log *slog.Logger
	log, r.logs = kitLogSink(t, "pipeline", level)
	r.p = kitStartPipelineLog(t, "pipeline", cfg, log)
	return r
}

// alpacaFillPrice is the price the fake fills a symbol at: near, not at,
// the generator's on-chain prices, so a hedge booked at the on-chain price
// shows.
func alpacaFillPrice(o alpacatest.Order) decimal.Decimal {
	for _, s := range kitGenSymbols {
		if s.base == o.Symbol {
			return decimal.RequireFromString(s.price).Add(decimal.RequireFromString("0.4137"))
		}
	}
	return decimal.RequireFromString("100.0001")
}

// alpacaOrdersCheck compares the fake's orders with the hedges: one
// order per hedge and no other (client_order_id = execution id), a market
// day order for the hedge's symbol, side and shares; every filled hedge
// filled there, at the fake's price and order id.
func alpacaOrdersCheck(f *alpacatest.Server) func(map[string]position.OffChainOrderPlaced, map[string]position.OffChainOrderFilled) []string {
	return func(placed map[string]position.OffChainOrderPlaced, filled map[string]position.OffChainOrderFilled) []string {
		var problems []string
		byClient := map[string][]alpacatest.Order{}
		for _, o := range f.Orders() {
			byClient[o.ClientOrderID] = append(byClient[o.ClientOrderID], o)
		}
		for cid, os := range byClient {
			if len(os) != 1 {
				problems = append(problems, fmt.Sprintf("alpaca: %d orders with client_order_id %s", len(os), cid))
			}
			o := os[0]
			p, ok := placed[cid]
			if !ok {
				problems = append(problems, fmt.Sprintf("alpaca order %s (client %s): no position placed it", o.ID, cid))
				continue
			}
			if o.Symbol != string(p.Symbol) || o.Side != strings.ToLower(string(p.Direction)) || !o.Qty.Equal(p.Shares) ||
				o.Type != "market" || o.TimeInForce != "day" {
				problems = append(problems, fmt.Sprintf("alpaca order %+v does not match hedge %s: %s %s %s", o, cid, p.Direction, p.Shares, p.Symbol))
			}
		}
		for id, fl := range filled {
			os := byClient[id]
			if len(os) == 0 {
				problems = append(problems, fmt.Sprintf("hedge %s filled but never placed at alpaca", id))
				continue
			}
			o := os[0]
			if o.Status != "filled" || o.ID != fl.BrokerOrderID || !o.FilledAvgPrice.Equal(fl.Price) || !o.FilledQty.Equal(fl.SharesFilled) {
				problems = append(problems, fmt.Sprintf("hedge %s filled %s at %s (order %s); alpaca has %s %s at %s (order %s)",
					id, fl.SharesFilled, fl.Price, fl.BrokerOrderID, o.Status, o.FilledQty, o.FilledAvgPrice, o.ID))
			}
		}
		return problems
	}
}

// settle waits for the pipeline to work through fills and checks
// everything it published against the fake's orders; it returns how many
// hedges filled.
func (r *alpacaRig) settle(t *testing.T, fills []file.Fill) int {
	t.Helper()
	snap := kitWaitSettled(t, r.addr, fills, settleTimeout, r.p.check)
	sums := kitCheckFinalAt(t, snap, fills, market.Alpaca, alpacaOrdersCheck(r.fake))
	kitNoRejections(t, r.addr)
	hedges := 0
	for _, s := range sums {
		hedges += len(s.filled)
	}
	if hedges == 0 || r.fake.OrdersCreated() != hedges {
		t.Errorf("%d hedges filled, %d orders at alpaca: want the same, more than 0", hedges, r.fake.OrdersCreated())
	}
	t.Logf("alpaca: %d orders, %d place requests, %d status polls, %d clock reads, %d stream connections listened",
		r.fake.OrdersCreated(), r.fake.Count("POST", "/v2/orders"), r.fake.StatusGets(), r.fake.Count("GET", "/v2/clock"), r.fake.Listening())
	return hedges
}

// Fills of three symbols hedge at Alpaca: each hedge an order under its
// execution id, filled by the account and booked at the account's price.
//
// Every outcome comes pushed over trade_updates: with the stream listening
// throughout, no order's status is ever polled.
func TestAlpacaHedgesEndToEnd(t *testing.T) {
	r := startAlpacaRig(t, slog.LevelInfo, func(f *alpacatest.Server) {
		f.FillAfterPlacement(20*time.Millisecond, alpacaFillPrice)
	})
	kitWaitFor(t, 30*time.Second, "the order manager listening to trade_updates", func() (bool, string) {
		return strings.Contains(r.logs.String(), "broker order updates listening"), ""
	})
	fills := kitGenFills(kitSeed(t, "fills"), 40, 3, 36_000_000)
	kitProduceFills(t, kitNewProducer(t, r.addr), fills)
	r.settle(t, fills)
	if n := r.fake.StatusGets(); n != 0 || r.fake.Listening() != 1 {
		t.Errorf("%d order status polls, %d stream connections listened: want every outcome pushed on the one stream", n, r.fake.Listening())
	}
	for _, o := range r.fake.Orders() {
		if n := r.fake.PlaceAttempts(o.ClientOrderID); n != 1 {
			t.Errorf("hedge %s: %d place requests, want 1 (no failure to retry)", o.ClientOrderID, n)
		}
	}
}

// While the fake's clock says closed, hedges wait in their positions and
// no order reaches Alpaca; once it opens they are placed and fill.
func TestAlpacaWaitsForTheMarketToOpen(t *testing.T) {
	r := startAlpacaRig(t, slog.LevelWarn, func(f *alpacatest.Server) {
		f.SetMarketClosed(2 * time.Second)
		f.FillAfterPlacement(20*time.Millisecond, alpacaFillPrice)
	})
	fills := kitGenFills(kitSeed(t, "fills"), 30, 3, 36_100_000)
	kitProduceFills(t, kitNewProducer(t, r.addr), fills)

	// Positions decide hedges while closed...
	kitWaitFor(t, 30*time.Second, "hedges pending in positions", func() (bool, string) {
		evs, err := kitReadTopicErr(r.addr, topics.PositionEvents)
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, rec := range evs {
			if strings.Contains(string(rec.Value), (position.OffChainOrderPlaced{}).EventType()) {
				n++
			}
		}
		return n > 0, fmt.Sprintf("%d hedges placed", n)
	})
	// ...and the order manager reads the clock again after that, so it had
	// its chance to place them.
	clockReads := r.fake.Count("GET", "/v2/clock")
	kitWaitFor(t, 30*time.Second, "the clock read while closed", func() (bool, string) {
		n := r.fake.Count("GET", "/v2/clock")
		return n > clockReads, fmt.Sprintf("%d clock reads", n)
	})
	if n := r.fake.Count("POST", "/v2/orders"); n != 0 || r.fake.OrdersCreated() != 0 {
		t.Fatalf("market closed: %d place requests reached alpaca, want none", n)
	}
	r.fake.SetMarketOpen()
	r.settle(t, fills)
}

// The trade_updates stream drops while orders fill (after each batch of
// fills, once an order is open at Alpaca) and stays down through a whole
// batch once (its fill events are never delivered): every hedge still
// completes, exactly once.
func TestAlpacaStreamDropsLoseNoOutcome(t *testing.T) {
	r := startAlpacaRig(t, slog.LevelWarn, func(f *alpacatest.Server) {
		f.FillAfterPlacement(300*time.Millisecond, alpacaFillPrice)
	})
	cl := kitNewProducer(t, r.addr)
	fills := kitGenFills(kitSeed(t, "fills"), 80, 4, 36_200_000)
	const batch = 20
	drops := 0
	for b := range len(fills) / batch {
		upto := (b + 1) * batch
		if b == 1 {
			r.fake.SetStreamDown(true)
			kitProduceFills(t, cl, fills[b*batch:upto])
			kitWaitSettled(t, r.addr, fills[:upto], settleTimeout, r.p.check)
			r.fake.SetStreamDown(false)
			continue
		}
		kitProduceFills(t, cl, fills[b*batch:upto])
		kitWaitFor(t, 30*time.Second, fmt.Sprintf("batch %d: an order open at alpaca, or the batch settled", b), func() (bool, string) {
			r.p.check(t)
			for _, o := range r.fake.Orders() {
				if o.Status == "new" {
					return true, ""
				}
			}
			snap, err := kitTakeSnapshot(r.addr)
			if err != nil {
				return false, err.Error()
			}
			return snap.settled(fills[:upto])
		})
		drops += r.fake.ListeningNow()
		r.fake.DropStreams()
	}
	hedges := r.settle(t, fills)
	t.Logf("%d hedges; %d listening streams dropped", hedges, drops)
}

// Neither API key shows in a log line (at debug level), in any record of
// any topic, or in `run --help` when both come from the environment. The
// run goes through the error paths, where keys leak most easily: 429s, a
// 500, and a place whose response is lost (retried: still one order).
// The metrics count those errors by kind (on this run, since its errors
// cost seconds of backoff).
func TestAlpacaKeysNeverLoggedOrPublished(t *testing.T) {
	maddr := kitFreeAddr(t)
	r := startAlpacaRig(t, slog.LevelDebug, func(f *alpacatest.Server) {
		f.FillAfterPlacement(20*time.Millisecond, alpacaFillPrice)
		f.RateLimitNext(2, "1")
		f.FailNext(1, 500)
		f.DropPlaceResponses(1)
	}, "--metrics-listen", maddr)
	fills := kitGenFills(kitSeed(t, "fills"), 12, 2, 36_300_000)
	kitProduceFills(t, kitNewProducer(t, r.addr), fills)
	r.settle(t, fills)
	// The dropped answer is the one network error.
	kitCheckBrokerRequests(t, maddr, "alpaca", map[string]float64{"rate_limited": 2, "server_error": 1, "network_error": 1, "client_error": 0}, len(r.fake.Orders()))
	// The first order's answer was lost: settle checked it is still one
	// order, filled once (confirmed by its pushed events or a retry).
	if first := r.fake.Orders()[0]; !strings.Contains(r.logs.String(), "alpaca place "+first.ClientOrderID) {
		t.Errorf("hedge %s: no failed place in the logs; the lost answer was not exercised", first.ClientOrderID)
	}

	logs := r.logs.String()
	if !strings.Contains(logs, "hedgeline ready") || !strings.Contains(logs, "alpaca broker") || !strings.Contains(logs, "order placed") {
		t.Fatalf("the log capture missed the pipeline's lines:\n%s", kitTail(logs, 40))
	}
	for name, secret := range map[string]string{"secret key": alpacaTestSecret, "key id": alpacaTestKeyID} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(r.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := listed.Names()
	sort.Strings(names)
	records := 0
	for _, topic := range names {
		for _, rec := range kitReadTopic(t, r.addr, topic) {
			records++
			all := string(rec.Key) + string(rec.Value)
			for _, h := range rec.Headers {
				all += h.Key + string(h.Value)
			}
			if strings.Contains(all, alpacaTestSecret) || strings.Contains(all, alpacaTestKeyID) {
				t.Errorf("%s[%d]@%d carries an API key", topic, rec.Partition, rec.Offset)
			}
		}
	}
	if records == 0 || len(names) < 5 {
		t.Fatalf("read %d records of %d topics", records, len(names))
	}

	t.Setenv("HEDGELINE_ALPACA_KEY_ID", alpacaTestKeyID)
	t.Setenv("HEDGELINE_ALPACA_SECRET_KEY", alpacaTestSecret)
	out, errOut, code := runCLI(t, t.TempDir(), "run", "--broker", "alpaca", "--help")
	if code != 0 || !strings.Contains(out, "--alpaca-secret-key") || !strings.Contains(out, "--alpaca-key-id") {
		t.Fatalf("run --help: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, alpacaTestSecret) || strings.Contains(out+errOut, alpacaTestKeyID) {
		t.Errorf("run --help shows a key from the environment:\n%s", out)
	}
}

// Keys Alpaca refuses stop the start with an error that says so, without
// the keys.
func TestAlpacaRefusedKeysStopTheStart(t *testing.T) {
	addr := kitStartBroker(t)
	fake := alpacatest.NewServer(t, alpacaTestKeyID, alpacaTestSecret)
	dir := t.TempDir()
	wrong := "wrong-" + alpacaTestSecret
	cfg := testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"), "--broker", "alpaca",
		"--alpaca-url", fake.URL, "--alpaca-key-id", alpacaTestKeyID, "--alpaca-secret-key", wrong)
	log, logs := kitLogSink(t, "pipeline", slog.LevelDebug)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := runPipeline(ctx, cfg, log, nil)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "refused the API keys") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("run with refused keys: %v, want a start failure naming the refusal", err)
	}
	if s := err.Error() + logs.String(); strings.Contains(s, wrong) || strings.Contains(s, alpacaTestKeyID) {
		t.Fatalf("a key in the error or the logs: %v\n%s", err, logs)
	}
	if n := fake.Count("GET", "/v2/clock"); n != 1 {
		t.Fatalf("%d clock reads, want the one check", n)
	}
}

// The flags, from the command line or the environment; validation names
// the flag and its env var, never a key.
func TestAlpacaFlags(t *testing.T) {
	resolve := func(args ...string) (runConfig, error) {
		var cfg runConfig
		fs := newFlagSet("run", nil)
		cfg.register(fs)
		if err := parse(fs, args); err != nil {
			t.Fatal(err)
		}
		_, err := cfg.stackConfig()
		return cfg, err
	}
	if _, err := resolve(); err != nil {
		t.Fatalf("dry-run needs no alpaca keys: %v", err)
	}
	_, err := resolve("--broker", "alpaca")
	for _, want := range []string{"--alpaca-key-id", "HEDGELINE_ALPACA_KEY_ID", "--alpaca-secret-key", "HEDGELINE_ALPACA_SECRET_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no keys: %v, want it to name %s", err, want)
		}
	}
	_, err = resolve("--broker", "alpaca", "--alpaca-key-id", alpacaTestKeyID, "--alpaca-secret-key", alpacaTestSecret,
		"--alpaca-mode", "prod", "--alpaca-url", "ftp://user:"+alpacaTestSecret+"@example.com")
	if err == nil || !strings.Contains(err.Error(), "--alpaca-mode") || !strings.Contains(err.Error(), "--alpaca-url") {
		t.Fatalf("bad mode and url: %v", err)
	}
	if strings.Contains(err.Error(), alpacaTestSecret) || strings.Contains(err.Error(), alpacaTestKeyID) {
		t.Fatalf("validation error shows a key: %v", err)
	}

	t.Setenv("HEDGELINE_BROKER", "alpaca")
	t.Setenv("HEDGELINE_ALPACA_KEY_ID", alpacaTestKeyID)
	t.Setenv("HEDGELINE_ALPACA_SECRET_KEY", alpacaTestSecret)
	t.Setenv("HEDGELINE_ALPACA_MODE", "live")
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.brokers.alpaca
	if a.keyID != alpacaTestKeyID || a.secretKey != alpacaTestSecret || a.mode != "live" || a.stack().BaseURL() != "https://api.alpaca.markets" {
		t.Fatalf("from the environment: mode %s url %s", a.mode, a.stack().BaseURL())
	}
	cfg, err = resolve("--alpaca-mode", "paper", "--alpaca-url", "http://127.0.0.1:8080")
	if err != nil || cfg.brokers.alpaca.stack().BaseURL() != "http://127.0.0.1:8080" {
		t.Fatalf("--alpaca-url: %v %s", err, cfg.brokers.alpaca.stack().BaseURL())
	}
	if cfg, _ = resolve("--alpaca-mode", "paper"); cfg.brokers.alpaca.stack().BaseURL() != "https://paper-api.alpaca.markets" {
		t.Fatalf("paper: %s", cfg.brokers.alpaca.stack().BaseURL())
	}
}
