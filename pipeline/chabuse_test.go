package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/embedded/clickhouse/clickhousetest"
)

// TestEmbeddedStackSurvivesClickHouseAbuse is `make run` under a fuzzing of
// its ClickHouse port: `run --embedded` (broker, pipeline and the supervised
// engine) projects fills, a few hundred abusive connections hit the native
// port (each of the native-protocol kinds used to abort the whole process,
// exit 134), and afterwards the process is alive, the engine never died,
// and new fills still reach the views.
func TestEmbeddedStackSurvivesClickHouseAbuse(t *testing.T) {
	kitCHLib(t)
	addr := kitFreeAddr(t)
	chAddr := kitFreeAddr(t)
	_, chPort, _ := net.SplitHostPort(chAddr)
	p := kitStartChild(t, "stack", "hedgeline ready", "run", "--embedded", "--embedded-listen", addr,
		"--embedded-clickhouse-port", chPort, "--partitions", fmt.Sprint(testPartitions),
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--fast-groups", "--poll-interval", "100ms")

	pnlFills := func() (int, error) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dispatch(ctx, []string{"pnl", "--clickhouse", chAddr, "--json"}, &out, io.Discard); err != nil {
			return 0, err
		}
		var rows []pnlSummary
		if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
			return 0, err
		}
		n := 0
		for _, r := range rows {
			n += r.Fills
		}
		return n, nil
	}
	project := func(fills int) {
		t.Helper()
		kitWaitFor(t, 2*time.Minute, "every fill projected into ClickHouse", func() (bool, string) {
			if !p.alive() {
				t.Fatalf("the stack died:\n%s", kitTail(p.logs(), 40))
			}
			n, err := pnlFills()
			if err != nil {
				return false, err.Error()
			}
			return n >= fills, fmt.Sprintf("%d of %d fills", n, fills)
		})
	}

	prod := kitNewProducer(t, addr)
	first := kitGenFills(kitSeed(t, "fills"), 200, 4, 45_000_000)
	kitProduceFills(t, prod, first)
	project(len(first))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep := clickhousetest.Abuse(ctx, clickhousetest.Config{Addr: chAddr, Connections: 400, Seed: kitSeed(t, "clickhouse abuse")})
	t.Logf("abuse: %s", rep)

	second := kitGenFills(kitSeed(t, "more fills"), 200, 4, 46_000_000)
	kitProduceFills(t, prod, second)
	project(len(first) + len(second))
	if !p.alive() {
		t.Fatalf("the stack died:\n%s", kitTail(p.logs(), 40))
	}
	if logs := p.logs(); strings.Contains(logs, "embedded clickhouse died") {
		t.Fatalf("the engine died under the abuse (the supervisor restarted it):\n%s", kitTail(logs, 40))
	}
}
