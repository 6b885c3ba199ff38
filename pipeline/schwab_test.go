package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab/schwabtest"
	"github.com/hedgeline/hedgeline/internal/testlog"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	testKeyHex   = "5f2b9c0e71a84d36b2e9f0c1d4a7653e8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	otherKeyHex  = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
	testCallback = schwabtest.RedirectURI
)

// schwabSetup is a fake Schwab, a key file and the flags that point at
// them (the app secret only in the environment, as documented).
type schwabSetup struct {
	fake    *schwabtest.Server
	keyFile string
	dir     string
}

func newSchwabSetup(t *testing.T) *schwabSetup {
	t.Helper()
	s := &schwabSetup{fake: schwabtest.New(), dir: t.TempDir()}
	t.Cleanup(s.fake.Close)
	s.keyFile = filepath.Join(s.dir, "key.hex")
	if err := os.WriteFile(s.keyFile, []byte(testKeyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEDGELINE_SCHWAB_APP_SECRET", schwabtest.AppSecret)
	return s
}

// flags are the Schwab flags shared by login and run.
func (s *schwabSetup) flags() []string {
	return []string{"--schwab-app-key", schwabtest.AppKey, "--schwab-callback-url", testCallback, "--schwab-url", s.fake.URL}
}

// runConfig is a test run config with the Schwab flags and the key file.
func (s *schwabSetup) runConfig(t *testing.T, addr string, extra ...string) runConfig {
	t.Helper()
	cfg := testRunConfig(t, addr, filepath.Join(s.dir, "state"), filepath.Join(s.dir, "ledger.jsonl"),
		append(append(s.flags(), "--encryption-key-file", s.keyFile), extra...)...)
	cfg.brokers.schwab.appSecret = schwabtest.AppSecret // testRunConfig parses no environment
	return cfg
}

// login runs `hedgeline broker-auth login` as a child process with the
// key in the environment and the code the fake accepts now.
func (s *schwabSetup) login(t *testing.T, addr, keyHex string, extra ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv(keyEnv, keyHex)
	redirected := testCallback + "/?code=" + url.QueryEscape(s.fake.Code) + "&session=0b8c1b6a"
	args := append([]string{"broker-auth", "login", "--brokers", addr, "--partitions", fmt.Sprint(testPartitions),
		"--code", redirected, "--timeout", "30s", "--log-level", "debug"}, s.flags()...)
	return runCLI(t, s.dir, append(args, extra...)...)
}

// debugLogger keeps every line at debug level.
func debugLogger(buf *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// authEvents decodes broker-auth.events.
func authEvents(t *testing.T, addr string) []kitEvent {
	t.Helper()
	evs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.BrokerAuthEvents))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func mustKey(t *testing.T, h string) brokerauth.Key {
	t.Helper()
	k, err := brokerauth.ParseKey(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretsIn reports which of the secrets of a Schwab setup appear in text.
func secretsIn(text string) []string {
	basic := base64.StdEncoding.EncodeToString([]byte(schwabtest.AppKey + ":" + schwabtest.AppSecret))
	var found []string
	for _, s := range []string{"ACCESS-TOKEN", "REFRESH-TOKEN", "REFRESH-ROTATED", schwabtest.AppSecret, basic, "AUTHCODE", "AUTHCODX",
		testKeyHex, strings.ToUpper(testKeyHex), otherKeyHex, "eyJ0eXAi"} {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			found = append(found, fmt.Sprintf("%q in ...%s...", s, text[max(0, i-150):min(len(text), i+80)]))
		}
	}
	return found
}

// allRecords is every record of every topic on the broker, keys, values
// and headers, as text.
func allRecords(t *testing.T, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, name := range list.Names() {
		for _, r := range kitReadTopic(t, addr, name) {
			fmt.Fprintf(&b, "%s %s %s\n", name, r.Key, r.Value)
			for _, h := range r.Headers {
				fmt.Fprintf(&b, "  %s=%s\n", h.Key, h.Value)
			}
		}
	}
	return b.String()
}

// TestBrokerAuthLogin: `broker-auth login` exchanges the code at the fake
// Schwab, encrypts, and the broker-auth stage of a running pipeline stores
// TokensStored (decrypting to the tokens Schwab issued); status reports
// it; a login under another key is refused naming the field. Then every
// log line (pipeline and CLI), every output and every record of every
// topic is searched for the tokens, the code, the app secret and the key.
func TestBrokerAuthLogin(t *testing.T) {
	addr := kitStartBroker(t)
	s := newSchwabSetup(t)
	logs := &testlog.Buffer{}
	kitStartPipelineLog(t, "pipeline", s.runConfig(t, addr, "--roles", "broker-auth"), debugLogger(logs))

	out, errOut, code := s.login(t, addr, testKeyHex, "--json")
	if code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	var res loginResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != "stored" || !res.RefreshTokenExpiresAt.Equal(res.RefreshTokenFetchedAt.Add(7*24*time.Hour)) {
		t.Fatalf("login output %q: %+v, %v", out, res, err)
	}
	evs := authEvents(t, addr)
	if len(evs) != 1 || evs[0].EventType != "TokensStored" || evs[0].CommandID != res.CommandID {
		t.Fatalf("broker-auth.events: %+v", evs)
	}
	e, err := brokerauth.Events.Decode(evs[0].EventType, evs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	ts := e.(brokerauth.TokensStored)
	key := mustKey(t, testKeyHex)
	if a, err := brokerauth.Decrypt(key, ts.AccessToken); err != nil || a != s.fake.Access {
		t.Fatalf("stored access token does not decrypt to the issued one: %v", err)
	}
	if r, err := brokerauth.Decrypt(key, ts.RefreshToken); err != nil || r != s.fake.Refresh {
		t.Fatalf("stored refresh token does not decrypt to the issued one: %v", err)
	}

	st, stErr, code := runCLI(t, s.dir, "broker-auth", "status", "--brokers", addr, "--json")
	var status authStatus
	if code != 0 || json.Unmarshal([]byte(st), &status) != nil || !status.Authenticated || status.RefreshTokenExpired ||
		!status.AccessTokenExpiresAt.Equal(status.AccessTokenFetchedAt.Add(30*time.Minute)) {
		t.Fatalf("status: exit %d %s %s", code, st, stErr)
	}

	// A login under another key than the stage's: refused, naming the field.
	s.fake.Mu.Lock()
	s.fake.Code = "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODX@"
	s.fake.Mu.Unlock()
	out2, errOut2, code := s.login(t, addr, otherKeyHex)
	if code != 1 || !strings.Contains(errOut2, "refused the login") || !strings.Contains(errOut2, "access_token") || !strings.Contains(errOut2, "does not decrypt under the configured key") {
		t.Fatalf("login under another key: exit %d\n%s\n%s", code, out2, errOut2)
	}
	if rej := kitReadRejections(t, addr, topics.BrokerAuthRejections); len(rej) != 1 {
		t.Fatalf("%d rejections on %s, want 1", len(rej), topics.BrokerAuthRejections)
	}
	if n := len(authEvents(t, addr)); n != 1 {
		t.Fatalf("%d events after a refused login", n)
	}

	// Without --code: the login page is printed, the redirected URL read
	// from stdin.
	s.fake.Mu.Lock()
	s.fake.Code = "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE3@"
	s.fake.Mu.Unlock()
	t.Setenv(keyEnv, testKeyHex)
	out3, errOut3, code := runCLIStdin(t, s.dir, testCallback+"/?code="+url.QueryEscape(s.fake.Code)+"&session=x\n",
		append([]string{"broker-auth", "login", "--brokers", addr, "--timeout", "30s"}, s.flags()...)...)
	if code != 0 || !strings.Contains(out3, "/v1/oauth/authorize?client_id="+schwabtest.AppKey) || !strings.Contains(out3, "Schwab login stored") {
		t.Fatalf("login reading stdin: exit %d\n%s\n%s", code, out3, errOut3)
	}
	if n := len(authEvents(t, addr)); n != 2 {
		t.Fatalf("%d events after the second login, want 2", n)
	}

	helpOut, _, code := runCLI(t, s.dir, "broker-auth", "login", "--help")
	if code != 0 || !strings.Contains(helpOut, "--schwab-url") || !strings.Contains(helpOut, "--encryption-key-file") {
		t.Fatalf("login --help: exit %d\n%s", code, helpOut)
	}

	all := logs.String() + out + errOut + st + stErr + out2 + errOut2 + out3 + errOut3 + allRecords(t, addr)
	if leaks := secretsIn(all); len(leaks) > 0 {
		t.Fatalf("secrets leaked:\n%s", strings.Join(leaks, "\n"))
	}
	if !strings.Contains(all, "TokensStored") || !strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatal("the scenario did not produce what is searched")
	}
}

// TestBrokerAuthRoleNeedsKeyForSchwab: without a key the broker-auth role
// is skipped (one info line); with --broker schwab it is an error naming
// both ways to give the key.
func TestBrokerAuthRoleNeedsKeyForSchwab(t *testing.T) {
	t.Setenv(keyEnv, "") // restored after the test
	os.Unsetenv(keyEnv)
	cfg := runConfig{roles: "all", broker: "schwab", stateDir: "x"}
	set := stack.Config{Roles: stack.Roles{"broker-auth": true, "order-manager": true}, Execution: market.DefaultExecution(market.Schwab)}
	logs := &testlog.Buffer{}
	_, err := brokerAuthKey(cfg, set, debugLogger(logs))
	if err == nil || !strings.Contains(err.Error(), "--encryption-key-file") || !strings.Contains(err.Error(), keyEnv) {
		t.Fatalf("schwab without a key: %v", err)
	}
	set.Execution = market.DefaultExecution(market.DryRun)
	if _, err := brokerAuthKey(cfg, set, debugLogger(logs)); err != nil || set.Roles["broker-auth"] {
		t.Fatalf("dry-run without a key: %v, roles %v", err, set.Roles)
	}
	if n := strings.Count(logs.String(), "broker-auth role does not run"); n != 1 {
		t.Fatalf("%d info lines:\n%s", n, logs.String())
	}
	bad := filepath.Join(t.TempDir(), "key")
	os.WriteFile(bad, []byte(testKeyHex[:60]), 0o600)
	cfg.key.file = bad
	if _, err := brokerAuthKey(cfg, set, debugLogger(logs)); err == nil || strings.Contains(err.Error(), testKeyHex[:60]) {
		t.Fatalf("short key: %v", err)
	}
}

// fakeSchwabClock is the Schwab broker's clock in a run: wall time plus an
// offset that each refresh-loop sleep advances once the test releases it.
type fakeSchwabClock struct {
	mu     sync.Mutex
	offset time.Duration
	slept  chan time.Duration
	gate   chan struct{}
}

func (c *fakeSchwabClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeSchwabClock) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case c.slept <- d:
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.gate:
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	return nil
}

// TestSchwabRunEndToEnd: `run --broker schwab --schwab-url <fake>` after a
// login. Fills hedge in whole shares at the fake, which fills them in two
// legs (e.g. 2 @ 22.7299 + 1 @ 22.7302 = 22.73 average); the polled fill
// completes the hedge and PnL is booked at that price. Then the refresh
// loop (on a fake clock) refreshes a minute before expiry and stores
// AccessTokenRefreshed; a refused refresh token stops trading (one error
// line, the run keeps going, Place fails with the re-login message); a new
// login resumes it without a restart.
func TestSchwabRunEndToEnd(t *testing.T) {
	addr := kitStartBroker(t)
	s := newSchwabSetup(t)
	// Two legs averaging 22.73: qty-1 @ 22.7299 and 1 @ 22.73+(qty-1)*0.0001.
	s.fake.AutoFill = func(symbol, instruction string, qty decimal.Decimal) []schwabtest.Leg {
		rest := qty.Sub(decimal.NewFromInt(1))
		return []schwabtest.Leg{{Qty: rest, Price: decimal.RequireFromString("22.7299")},
			{Qty: decimal.NewFromInt(1), Price: decimal.RequireFromString("22.73").Add(rest.Mul(decimal.RequireFromString("0.0001")))}}
	}
	// Log in through a broker-auth-only run.
	auth := kitStartPipeline(t, "auth", s.runConfig(t, addr, "--roles", "broker-auth"))
	if out, errOut, code := s.login(t, addr, testKeyHex); code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	auth.stop(t)

	clk := &fakeSchwabClock{slept: make(chan time.Duration, 1), gate: make(chan struct{})}
	s.fake.Mu.Lock()
	s.fake.Now = clk.now
	s.fake.Mu.Unlock()
	saved := schwabClock
	schwabClock.now, schwabClock.sleep = clk.now, clk.sleep
	t.Cleanup(func() { schwabClock = saved })
	logs := &testlog.Buffer{}
	p := kitStartPipelineLog(t, "pipeline", s.runConfig(t, addr, "--broker", "schwab", "--poll-interval", "200ms"), debugLogger(logs))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log (tail):\n%s", kitTail(logs.String(), 60))
		}
	})

	gme := func(block uint64, dir market.Direction, amount, price string) file.Fill {
		tid, err := market.NewTradeID(fmt.Sprintf("0x%064x", block), 1)
		if err != nil {
			t.Fatal(err)
		}
		return file.Fill{TradeID: tid, BlockNumber: block, BlockTimestamp: time.Date(2025, 11, 4, 14, 30, int(block), 0, time.UTC),
			Symbol: market.TokenizedSymbol{Base: "GME", Marker: market.MarkerT}, Direction: dir,
			Amount: decimal.RequireFromString(amount), PriceUSDC: decimal.RequireFromString(price)}
	}
	cl := kitNewProducer(t, addr)
	fills := []file.Fill{gme(1, market.Buy, "3.5", "22.50")} // net 3.5: sell 3
	kitProduceFills(t, cl, fills)
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	checkSchwabHedges(t, snap, 1)

	// The refresh loop sleeps until a minute before the access token's 30
	// minutes are up, then refreshes and stores it.
	first := <-clk.slept
	if first > 29*time.Minute || first < 28*time.Minute {
		t.Fatalf("refresh loop sleeps %s, want just under 29m", first)
	}
	clk.gate <- struct{}{}
	var refreshed *kitEvent
	kitWaitFor(t, 20*time.Second, "AccessTokenRefreshed", func() (bool, string) {
		for _, e := range authEvents(t, addr) {
			if e.EventType == "AccessTokenRefreshed" {
				refreshed = &e
				return true, ""
			}
		}
		return false, "no AccessTokenRefreshed yet"
	})
	ev, err := brokerauth.Events.Decode(refreshed.EventType, refreshed.Payload)
	if err != nil {
		t.Fatal(err)
	}
	s.fake.Mu.Lock()
	issued := s.fake.Access
	s.fake.Mu.Unlock()
	if a, err := brokerauth.Decrypt(mustKey(t, testKeyHex), ev.(brokerauth.AccessTokenRefreshed).AccessToken); err != nil || a != issued || issued != "ACCESS-TOKEN-2-xyz" {
		t.Fatalf("refreshed token: %v (issued %s)", err, issued)
	}
	if d := <-clk.slept; d > 29*time.Minute || d < 28*time.Minute {
		t.Fatalf("sleep after the refresh %s, want 29m from the refresh", d)
	}

	// Schwab refuses the refresh token: trading stops, the run goes on.
	s.fake.SetRefresh("REFRESH-ROTATED-2")
	clk.gate <- struct{}{}
	kitWaitFor(t, 20*time.Second, "re-authentication stop logged", func() (bool, string) {
		return strings.Contains(logs.String(), "schwab refresh token is no longer valid"), "not logged"
	})
	more := []file.Fill{gme(3, market.Sell, "7", "22.70")} // net -6.5: buy 6
	kitProduceFills(t, cl, more)
	kitWaitFor(t, 20*time.Second, "Place failing with the re-login message", func() (bool, string) {
		p.check(t)
		return strings.Count(logs.String(), "hedgeline broker-auth login") >= 3, "not yet"
	})
	if n := strings.Count(logs.String(), "schwab refresh token is no longer valid"); n != 1 {
		t.Fatalf("re-authentication stop logged %d times, want once", n)
	}
	if n := s.fake.Count("POST /trader"); n != 1 {
		t.Fatalf("%d orders posted while stopped", n)
	}

	// A new login: picked up without a restart, the hedge goes through.
	s.fake.Mu.Lock()
	s.fake.Code = "C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.AUTHCODE2@"
	s.fake.Mu.Unlock()
	if out, errOut, code := s.login(t, addr, testKeyHex); code != 0 {
		t.Fatalf("second login: exit %d\n%s\n%s", code, out, errOut)
	}
	go func() { // later refreshes may sleep again; let them
		for {
			select {
			case <-clk.slept:
			case <-time.After(time.Minute):
				return
			}
		}
	}()
	snap = kitWaitSettled(t, addr, append(fills, more...), settleTimeout, p.check)
	checkSchwabHedges(t, snap, 2)
	if !strings.Contains(logs.String(), "trading resumes") {
		t.Fatal("resume not logged")
	}
	if leaks := secretsIn(logs.String() + allRecords(t, addr)); len(leaks) > 0 {
		t.Fatalf("secrets leaked:\n%s", strings.Join(leaks, "\n"))
	}
}

// checkSchwabHedges: GME has n filled hedges, each in whole shares at the
// fake's two-leg average 22.73 with a Schwab order id, and PnL matches the
// reference FIFO over the position's events (hedges at their fill price).
func checkSchwabHedges(t *testing.T, snap *kitSnapshot, n int) {
	t.Helper()
	h := snap.positions["GME"]
	if h == nil {
		t.Fatal("no GME position")
	}
	var filled []position.OffChainOrderFilled
	for _, e := range h.events {
		ev, err := position.Events.Decode(e.EventType, e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := ev.(position.OffChainOrderFilled); ok {
			filled = append(filled, f)
		}
	}
	if len(filled) != n {
		t.Fatalf("%d filled hedges, want %d", len(filled), n)
	}
	for _, f := range filled {
		if !f.Price.Equal(decimal.RequireFromString("22.73")) || !f.SharesFilled.IsInteger() || !strings.HasPrefix(f.BrokerOrderID, "100405553815") {
			t.Errorf("hedge %+v: want whole shares at 22.73 with a Schwab order id", f)
		}
	}
	ref, err := kitReferencePnL(h)
	if err != nil {
		t.Fatal(err)
	}
	kitReport(t, kitComparePnL("GME", snap.pnl["GME"], ref, true))
}

// TestSchwabRunNeedsLogin: `run --broker schwab` without a stored login
// stops at once with an error saying to log in.
func TestSchwabRunNeedsLogin(t *testing.T) {
	addr := kitStartBroker(t)
	s := newSchwabSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := runPipeline(ctx, s.runConfig(t, addr, "--broker", "schwab"), testLogger(t, "pipeline"), nil)
	if err == nil || !strings.Contains(err.Error(), "not authenticated: run `hedgeline broker-auth login`") {
		t.Fatalf("run without a login: %v", err)
	}
}
