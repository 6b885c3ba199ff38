package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/migrate"
	"github.com/hedgeline/hedgeline/migrate/legacytest"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// commandEnds counts the migration's commands on the commands topics.
func commandEnds(t *testing.T, addr string) int {
	t.Helper()
	l, err := migrate.ReadLog(context.Background(), kitCluster(addr), false)
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Produced)
}

func runMigrateJSON(t *testing.T, args ...string) (migrateOutput, error) {
	t.Helper()
	var out bytes.Buffer
	err := runMigrate(context.Background(), append(args, "--json"), &out)
	var res migrateOutput
	if out.Len() == 0 && err != nil {
		return res, err // refused before any result
	}
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("migrate %v: %v; output %q: %v", args, err, out.String(), jerr)
	}
	return res, err
}

// TestMigrateEndToEnd migrates a generated legacy database (broken rows
// included) into a running pipeline: the dry-run produces nothing and
// names every refused row, the commit is accepted and verifies (positions
// exact, every field, legacy PnL), a second run produces nothing new.
func TestMigrateEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(legacytest.TestKey), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "legacy.db")
	gen, err := legacytest.Create(db, legacytest.V2025_10, legacytest.Options{Broken: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := kitStartBroker(t)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"),
		"--encryption-key-file", keyFile))
	args := []string{"--sqlite", db, "--brokers", addr, "--partitions", "4", "--encryption-key-file", keyFile, "--wait", "60s"}

	before := commandEnds(t, addr)
	dry, err := runMigrateJSON(t, append(args, "--dry-run")...)
	if err != nil {
		t.Fatalf("dry-run: %v", err)
	}
	if after := commandEnds(t, addr); after != before {
		t.Fatalf("dry-run produced %d commands", after-before)
	}
	checkRefused := func(what string, refused []migrate.Refusal) {
		if len(refused) != len(gen.Broken) {
			t.Errorf("%s: refused %v, want %d rows", what, refused, len(gen.Broken))
		}
		for _, b := range gen.Broken {
			found := false
			for _, r := range refused {
				found = found || r.Table == b.Table && r.Row == b.Row && strings.Contains(r.Reason, b.Why)
			}
			if !found {
				t.Errorf("%s: broken %s row %s (%s) not named", what, b.Table, b.Row, b.Why)
			}
		}
	}
	checkRefused("dry-run", dry.Refused)
	if len(dry.Commands) == 0 {
		t.Fatal("dry-run lists no commands")
	}

	// A live fill before the migration: the commit refuses, naming it,
	// until --yes.
	tid, _ := market.NewTradeID("0x"+strings.Repeat("e", 64), 1)
	kitProduceFills(t, kitNewProducer(t, addr), []file.Fill{{TradeID: tid, BlockNumber: 40000000,
		BlockTimestamp: time.Now().UTC().Truncate(time.Second), Symbol: market.TokenizedSymbol{Base: "GOOG", Marker: market.MarkerT},
		Direction: market.Buy, Amount: decimal.RequireFromString("0.5"), PriceUSDC: decimal.RequireFromString("170")}})
	for deadline := time.Now().Add(20 * time.Second); len(kitReadTopic(t, addr, topics.PositionEvents)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the live fill never reached its position")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := runMigrateJSON(t, args...); err == nil || !strings.Contains(err.Error(), topics.OnChainTradeEvents) || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("migrate over live events: %v", err)
	}
	if after := commandEnds(t, addr); after != before {
		t.Fatalf("a refused run produced %d commands", after-before)
	}
	args = append(args, "--yes")

	start := time.Now()
	res, err := runMigrateJSON(t, args...)
	if err != nil {
		t.Fatalf("migrate: %v (rejections %v, verify %+v)", err, res.Rejections, res.Verify)
	}
	t.Logf("migrated in %s", time.Since(start).Round(time.Millisecond))
	checkRefused("migrate", res.Refused)
	produced := 0
	for _, tr := range res.Tables {
		if tr.Accepted != tr.Commands || tr.Produced != tr.Commands {
			t.Errorf("%s: %+v", tr.Table, tr)
		}
		produced += tr.Produced
	}
	if produced != len(dry.Commands) || res.Verify == nil || !res.Verify.OK() || res.Verify.Positions != len(gen.Positions) || res.Verify.PnL == 0 {
		t.Fatalf("produced %d of %d, verify %+v", produced, len(dry.Commands), res.Verify)
	}

	// A second run finds every command on the topics: nothing new.
	ends := commandEnds(t, addr)
	again, err := runMigrateJSON(t, args...)
	if err != nil {
		t.Fatalf("second migrate: %v (live %v)", err, again.Live)
	}
	for _, tr := range again.Tables {
		if tr.Produced != 0 || tr.Skipped != tr.Commands {
			t.Errorf("second run, %s: %+v", tr.Table, tr)
		}
	}
	if n := commandEnds(t, addr); n != ends {
		t.Fatalf("second run produced %d commands", n-ends)
	}
	verified, err := runMigrateJSON(t, append(args, "--verify")...)
	if err != nil || !verified.Verify.OK() {
		t.Fatalf("--verify: %v %+v", err, verified.Verify)
	}
	// The dry-run broker prices a hedge at the position's last on-chain
	// price: a migrated position has it from its legacy fills, so no hedge
	// after the migration is refused for want of one (and re-placed in a loop).
	for _, r := range kitReadTopic(t, addr, topics.OffchainOrderEvents) {
		if strings.Contains(string(r.Value), "no reference price") {
			t.Fatalf("a hedge after the migration failed for want of a price: %s", r.Value)
		}
	}

	// A legacy database that says otherwise: each difference is listed
	// and the exit status is non-zero.
	edited := filepath.Join(dir, "edited.db")
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(edited, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", edited)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE trade_accumulators SET accumulated_long = accumulated_long + 1 WHERE symbol = 'TSLA'`,
		`UPDATE onchain_trades SET price_usdc = 0.2 WHERE id = 5`} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	sdb.Close()
	bad, err := runMigrateJSON(t, append(append([]string{}, args...), "--verify", "--sqlite", edited)...)
	if err == nil || bad.Verify == nil {
		t.Fatalf("--verify of an edited database passed: %+v", bad.Verify)
	}
	joined := strings.Join(bad.Verify.Mismatches, "\n")
	for _, want := range []string{"position TSLA: net legacy 1, aggregate 0", "position TSLA: accumulated_long legacy 1, aggregate 0",
		"onchain_trades row 5: price_usdc: legacy \"0.2\""} {
		if !strings.Contains(joined, want) {
			t.Errorf("mismatches lack %q:\n%s", want, joined)
		}
	}
}

// TestMigrateClickHouseViews: with --clickhouse the verification counts
// the migrated rows of each view against the aggregates.
func TestMigrateClickHouseViews(t *testing.T) {
	dir := t.TempDir()
	addr := kitStartBroker(t)
	chAddr := kitStartClickHouse(t, dir)
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(legacytest.TestKey), 0o600); err != nil {
		t.Fatal(err)
	}
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"),
		"--clickhouse", chAddr, "--dry-run-price", "100", "--encryption-key-file", keyFile))
	db := filepath.Join(dir, "legacy.db")
	if _, err := legacytest.Create(db, legacytest.V2026_01, legacytest.Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := runMigrateJSON(t, "--sqlite", db, "--brokers", addr, "--partitions", "4", "--clickhouse", chAddr, "--wait", "60s", "--broker", "dry-run", "--encryption-key-file", keyFile)
	if err != nil {
		t.Fatalf("migrate: %v %+v", err, res.Verify)
	}
	views := 0
	for _, tb := range res.Verify.Tables {
		if tb.View != nil {
			views++
			if *tb.View != tb.Aggregates || tb.Aggregates != tb.Legacy {
				t.Errorf("%s: %+v view %d", tb.Table, tb, *tb.View)
			}
		}
	}
	if views != 3 {
		t.Fatalf("%d views counted, want trades, orders and positions: %+v", views, res.Verify.Tables)
	}
}
