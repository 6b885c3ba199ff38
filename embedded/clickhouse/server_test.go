package clickhouse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"
)

// libchdb hosts one engine per process lifetime, so the restart half of the
// test runs the engine supervised in a child process (Spawn re-executes this
// test binary, which RunIfChild turns into the engine).
func TestMain(m *testing.M) {
	RunIfChild()
	os.Exit(m.Run())
}

// testLib finds the library. Outside CI a missing library skips the test;
// in CI (CI=true) it is fetched if need be, and a failure fails the test.
func testLib(t *testing.T) string {
	t.Helper()
	if os.Getenv("CI") == "true" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		p, err := LibPath(ctx)
		if err != nil {
			t.Fatalf("CI=true and libchdb.so is unavailable: %v", err)
		}
		return p
	}
	p, err := CachedLibPath()
	if err != nil {
		t.Skipf("skipping: %v (with CI=true this fails instead)", err)
	}
	return p
}

var testDecimals = []string{
	"0",
	"1",
	"-1",
	"0.000000000000000001",
	"-0.000000000000000001",
	"123.456",
	"99999999999999999999.999999999999999999",  // max of Decimal(38,18)
	"-99999999999999999999.999999999999999999", // min
	"12345678901234567890.123456789012345678",
	"3.141592653589793238",
}

func TestServer(t *testing.T) {
	lib := testLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// The signal trick: Go's fault handlers must survive loading the engine.
	before := saveSignalHandlers()
	httpPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s, err := Start(ctx, Config{DataDir: dir, LibPath: lib, HTTPPort: httpPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in-process start (dlopen + engine + first SELECT 1): %v, %s", time.Since(t0).Round(time.Millisecond), s.Addr())
	stopped := false
	defer func() {
		if !stopped {
			_ = s.Stop(context.Background())
		}
	}()
	if after := saveSignalHandlers(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("signal handlers changed by the engine:\nbefore %v\nafter  %v", before, after)
	}
	if !recoversNilDeref() {
		t.Error("a nil dereference was not recovered")
	}

	if _, err := Start(ctx, Config{DataDir: t.TempDir(), LibPath: lib}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Start while running: err = %v, want 'already running'", err)
	}

	conn, err := ch.Open(s.Options())
	if err != nil {
		t.Fatal(err)
	}
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("ClickHouse %s", version)

	resp, err := http.Get("http://" + s.HTTPAddr() + "/?query=SELECT%20version()")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != version {
		t.Errorf("HTTP interface: %s %q", resp.Status, body)
	}

	if err := conn.Exec(ctx, `CREATE TABLE prices (id UInt32, px Decimal(38, 18), note String)
		ENGINE = MergeTree ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO prices (id, px, note)")
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range testDecimals {
		if err := batch.Append(uint32(i), decimal.RequireFromString(d), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	checkDecimals(ctx, t, conn)

	// Stop with clients still connected: an idle native pool (conn), an
	// idle HTTP keep-alive connection (from http.Get above) and a running
	// query. Past the engine's ~5 s shutdown grace any of them would make
	// it _exit(1) this whole process.
	busy := make(chan error, 1)
	go func() {
		c, err := ch.Open(s.Options())
		if err != nil {
			busy <- err
			return
		}
		defer c.Close()
		busy <- c.Exec(ctx, "SELECT sleepEachRow(0.5) FROM numbers(1000) SETTINGS max_block_size=1 FORMAT Null")
	}()
	time.Sleep(500 * time.Millisecond)

	t1 := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-busy; err == nil {
		t.Error("a query running across Stop did not fail")
	}
	conn.Close()
	stopped = true
	t.Logf("stop: %v", time.Since(t1).Round(time.Millisecond))
	if err := s.Err(); err != nil {
		t.Errorf("Err after Stop = %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := Start(ctx, Config{DataDir: dir, LibPath: lib}); err == nil || !strings.Contains(err.Error(), "already ran") {
		t.Errorf("Start after Stop in the same process: err = %v, want 'already ran'", err)
	}

	// Restart on the same dir in a child process (Run, stopped by SIGTERM).
	restartInChild(ctx, t, lib, dir)
}

func checkDecimals(ctx context.Context, t *testing.T, conn ch.Conn) {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT id, px, note FROM prices ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id   uint32
			px   decimal.Decimal
			note string
		)
		if err := rows.Scan(&id, &px, &note); err != nil {
			t.Fatal(err)
		}
		want := decimal.RequireFromString(testDecimals[id])
		if !px.Equal(want) || note != testDecimals[id] {
			t.Errorf("row %d: got %s, want %s", id, px, want)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(testDecimals) {
		t.Errorf("read %d rows, want %d", n, len(testDecimals))
	}
}

func recoversNilDeref() (ok bool) {
	defer func() { ok = recover() != nil }()
	var p *int
	_ = *p
	return false
}

func restartInChild(ctx context.Context, t *testing.T, lib, dir string) {
	var logs bytes.Buffer
	t0 := time.Now()
	p, err := Spawn(ctx, ProcessConfig{Config: Config{DataDir: dir, LibPath: lib}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Stop(context.Background())
		}
		if t.Failed() {
			t.Logf("supervisor log:\n%s", logs.String())
		}
	}()
	t.Logf("child process start to first SELECT 1: %v", time.Since(t0).Round(time.Millisecond))
	conn, err := ch.Open(&ch.Options{Addr: []string{p.Addr()}, DialTimeout: time.Second, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkDecimals(ctx, t, conn)
	defer conn.Close() // left open across the child's SIGTERM on purpose

	// Start's and Spawn's pre-checks see the live engine's lock and port.
	if err := checkDataDirFree(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("checkDataDirFree on a live engine's dir: %v", err)
	} else {
		t.Log(err)
	}
	if err := checkPortFree(portOf(t, p.Addr())); err == nil {
		t.Error("checkPortFree on a live engine's port: no error")
	}

	time.Sleep(2 * time.Second) // let it settle, then report idle RSS
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") || strings.HasPrefix(l, "Threads") {
				t.Logf("child idle %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}

	t1 := time.Now()
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stopped = true
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("stopping the child: %v", err)
	}
	t.Logf("child stopped on SIGTERM in %v", time.Since(t1).Round(time.Millisecond))
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a clean stop logged warnings or errors:\n%s", logs.String())
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
