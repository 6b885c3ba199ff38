package main

import (
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/sinks"
)

func TestRunFlagsFromEnvironmentAndCommandLine(t *testing.T) {
	t.Setenv("HEDGELINE_BROKERS", "10.0.0.1:9092,10.0.0.2:9092")
	t.Setenv("HEDGELINE_THRESHOLD_DOLLARS", "2.5")
	t.Setenv("HEDGELINE_PARTITIONS", "8")
	var cfg runConfig
	fs := newFlagSet("run", nil)
	cfg.register(fs)
	if err := parse(fs, []string{"--partitions", "6"}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.kafka.list(); len(got) != 2 || got[1] != "10.0.0.2:9092" {
		t.Fatalf("brokers from env: %v", got)
	}
	if cfg.kafka.partitions != 6 {
		t.Fatalf("command line must win over env: partitions %d", cfg.kafka.partitions)
	}
	set, err := cfg.stackConfig()
	if err != nil {
		t.Fatal(err)
	}
	if set.Threshold.Dollars == nil || set.Threshold.Dollars.String() != "2.5" {
		t.Fatalf("threshold %v", set.Threshold)
	}
}

func TestRunConfigReportsEveryProblem(t *testing.T) {
	var cfg runConfig
	fs := newFlagSet("run", nil)
	cfg.register(fs)
	err := parse(fs, []string{"--partitions", "0", "--roles", "all,nope", "--broker", "ibkr",
		"--threshold-shares", "1", "--threshold-dollars", "2", "--dry-run-price", "free", "--dry-run-failure-rate", "2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.stackConfig()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"--partitions", `unknown role "nope"`, "--broker", "exclusive", "--dry-run-price", "--dry-run-failure-rate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestBadEnvironmentValueNamesTheVariable(t *testing.T) {
	t.Setenv("HEDGELINE_PARTITIONS", "many")
	var cfg runConfig
	fs := newFlagSet("run", nil)
	cfg.register(fs)
	if err := parse(fs, nil); err == nil || !strings.Contains(err.Error(), "HEDGELINE_PARTITIONS") {
		t.Fatalf("got %v", err)
	}
}

// TestClickHouseClusterFlag: every command that opens the views' database
// takes --clickhouse-cluster (or HEDGELINE_CLICKHOUSE_CLUSTER) into
// sinks.Config.Cluster.
func TestClickHouseClusterFlag(t *testing.T) {
	var cfg runConfig
	fs := newFlagSet("run", nil)
	cfg.register(fs)
	if err := parse(fs, []string{"--clickhouse", "ch-1:9000", "--clickhouse-cluster", "desk"}); err != nil {
		t.Fatal(err)
	}
	set, err := cfg.stackConfig()
	if err != nil {
		t.Fatal(err)
	}
	if set.ClickHouse.Cluster != "desk" || set.ClickHouse.Addr != "ch-1:9000" {
		t.Errorf("run: ClickHouse config %+v", set.ClickHouse)
	}

	t.Setenv("HEDGELINE_CLICKHOUSE_CLUSTER", "desk-env")
	var ch chFlags
	fs = newFlagSet("replay", nil)
	ch.register(fs, "127.0.0.1:9000")
	if err := parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ch.config(); err != nil || got.Cluster != "desk-env" {
		t.Errorf("from the environment: cluster %q, %v", got.Cluster, err)
	}
	if err := (sinks.Config{Addr: "x:9000", Cluster: "no spaces"}).Validate(); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("a bad cluster name is accepted: %v", err)
	}
}
