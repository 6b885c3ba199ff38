package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runCLI runs this test binary as the hedgeline CLI (see TestMain) in dir
// and returns what it printed and its exit code.
func runCLI(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIStdin(t, dir, "", args...)
}

// runCLIStdin is runCLI with stdin as the command's standard input.
func runCLIStdin(t *testing.T, dir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIEnv(t, dir, stdin, nil, args...)
}

// runCLIEnv is runCLIStdin with env (NAME=value) added to the
// environment. The command is killed after a minute (exit code -1).
func runCLIEnv(t *testing.T, dir, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), execMainEnv+"=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("hedgeline %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// Help is a successful answer (exit 0, on stdout) for the top level and
// every command, in each of its spellings; wrong command lines exit 2.
func TestHelpExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := runCLI(t, dir, args...)
		if code != 0 || !strings.Contains(out, "Commands:") {
			t.Errorf("hedgeline %s: exit %d, stdout %q, stderr %q; want 0 and the command list on stdout", args[0], code, out, errOut)
		}
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			out, errOut, code := runCLI(t, dir, args...)
			if code != 0 {
				t.Errorf("hedgeline %s: exit %d (stderr %q), want 0", strings.Join(args, " "), code, errOut)
				continue
			}
			usage := "usage: hedgeline " + name + " [flags]" + strings.TrimRight(" "+commands[name].args, " ")
			if !strings.HasPrefix(out, usage+"\n") || !strings.Contains(out, commands[name].summary) {
				t.Errorf("hedgeline %s: help does not start with %q and the summary:\n%s", strings.Join(args, " "), usage, out)
			}
		}
	}
	out, _, code := runCLI(t, dir, "--version")
	if code != 0 || strings.TrimSpace(out) != "hedgeline "+version {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"nosuch"}, {"tail", "--nosuch", "x"}, {"tail"}, {"partition", "K", "--partitions"}, {}} {
		_, errOut, code := runCLI(t, dir, args...)
		if code != 2 || !regexp.MustCompile(`(?m)^hedgeline: `).MatchString(errOut) {
			t.Errorf("hedgeline %s: exit %d, stderr %q; want 2 and a hedgeline: message", strings.Join(args, " "), code, errOut)
		}
	}
}

// Flags may follow positional arguments; "--" ends the flags.
func TestFlagsAfterPositionals(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := dispatch(ctx, []string{"partition", "AAPL", "--json", "--partitions", "4", "MSFT"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	var got []partitionOf
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("partition AAPL --json: not JSON: %q", out.String())
	}
	if len(got) != 2 || got[0].Key != "AAPL" || got[1].Key != "MSFT" {
		t.Errorf("partition AAPL --json --partitions 4 MSFT: %+v, want keys AAPL, MSFT", got)
	}
	out.Reset()
	if err := dispatch(ctx, []string{"partition", "--json", "--", "--json"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 1 || got[0].Key != "--json" {
		t.Errorf(`partition --json -- --json: want one key "--json", got %q`, out.String())
	}

	addr := kitStartBroker(t)
	cl := kitNewProducer(t, addr)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "cli.test"); err != nil {
		t.Fatal(err)
	}
	kitProduce(t, cl, &kgo.Record{Topic: "cli.test", Key: []byte("k"), Value: []byte(`{"v":1}`)})
	out.Reset()
	if err := dispatch(ctx, []string{"tail", "cli.test", "--brokers", addr, "--keys"}, &out, &out); err != nil {
		t.Fatalf("tail TOPIC --brokers ADDR --keys: %v", err)
	}
	if out.String() != "k\t{\"v\":1}\n" {
		t.Errorf("tail TOPIC --brokers ADDR --keys printed %q", out.String())
	}
	out.Reset()
	sample, _ := filepath.Abs(kitSamplePath)
	if err := dispatch(ctx, []string{"ingest", "file", sample, "--brokers", addr, "--log-level", "warn", "--wait", "0"}, &out, &out); err != nil {
		t.Fatalf("ingest file PATH --brokers ADDR: %v", err)
	}
	if !strings.HasPrefix(out.String(), "produced ") {
		t.Errorf("ingest printed %q", out.String())
	}
}

// Tailing a topic the brokers do not have is an error naming both.
func TestTailMissingTopic(t *testing.T) {
	addr := kitStartBroker(t)
	var out bytes.Buffer
	err := dispatch(context.Background(), []string{"tail", "--brokers", addr, "no.such.topic"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "no.such.topic") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("tail of a missing topic: err %v, output %q; want an error naming the topic and %s", err, out.String(), addr)
	}
}

// `topics --brokers` compares the broker with the catalog, goka's group
// tables included: ok, missing, differs and extra.
func TestTopicsAgainstBroker(t *testing.T) {
	ctx := context.Background()
	addr := kitStartBroker(t)
	cl := kitNewProducer(t, addr)
	adm := kadm.NewClient(cl)
	specs := catalogSpecs(kafkaFlags{partitions: 4, replication: 1})
	for _, s := range specs {
		switch s.Name {
		case topics.PositionEvents: // left missing
		case topics.PnLEvents: // wrong partition count
			mustCreate(t, adm, 3, s.Configs, s.Name)
		case topics.TableSpec(stack.StateGroups()[0], 4, 1).Name: // a table with the wrong cleanup policy
			mustCreate(t, adm, 4, map[string]string{"cleanup.policy": "delete", "retention.ms": "-1"}, s.Name)
		default:
			mustCreate(t, adm, 4, s.Configs, s.Name)
		}
	}
	mustCreate(t, adm, 2, nil, "stray.topic")

	var out bytes.Buffer
	if err := dispatch(ctx, []string{"topics", "--brokers", addr, "--json"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	var got []topics.TopicStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("topics --json: %v\n%s", err, out.String())
	}
	by := map[string]topics.TopicStatus{}
	for _, s := range got {
		by[s.Name] = s
	}
	table := topics.TableSpec(stack.StateGroups()[0], 4, 1).Name
	want := map[string]topics.Status{
		topics.PositionEvents: topics.StatusMissing, topics.PnLEvents: topics.StatusDiffers,
		table: topics.StatusDiffers, "stray.topic": topics.StatusExtra,
		topics.OnChainTradeCommands: topics.StatusOK, topics.TableSpec(stack.StateGroups()[1], 4, 1).Name: topics.StatusOK,
	}
	for name, st := range want {
		if by[name].Status != st {
			t.Errorf("%s: status %q, want %q (%+v)", name, by[name].Status, st, by[name])
		}
	}
	if s := by[topics.PnLEvents]; s.WantPartitions != 4 || s.HavePartitions != 3 || s.WantReplication != 1 || s.HaveReplication != 1 {
		t.Errorf("pnl.events partitions want/have %d/%d, replication %d/%d, want 4/3 and 1/1",
			s.WantPartitions, s.HavePartitions, s.WantReplication, s.HaveReplication)
	}
	if len(got) != len(specs)+1 {
		t.Errorf("%d rows, want the %d specs and one extra", len(got), len(specs))
	}

	out.Reset()
	if err := dispatch(ctx, []string{"topics", "--brokers", addr}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^TOPIC\s+KIND\s+PARTITIONS\s+REPLICATION\s+CONFIGS\s+STATUS$`,
		`(?m)^pnl\.events\s+events\s+4/3\s+1/1\s+ok\s+differs$`,
		`(?m)^position\.events\s+events\s+4/-\s+1/-\s+-\s+missing$`,
		`(?m)^` + regexp.QuoteMeta(table) + `\s+table\s+4/4\s+1/1\s+cleanup\.policy=compact \(have delete\)\s+differs$`,
		`(?m)^stray\.topic\s+-\s+-/2\s+-/1\s+-\s+extra$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("table lacks %s:\n%s", re, out.String())
		}
	}

	err := dispatch(ctx, []string{"topics", "--brokers", kitFreeAddr(t), "--timeout", "3s"}, &out, &out)
	if err == nil {
		t.Error("topics against no broker: want an error")
	}
}

func mustCreate(t *testing.T, adm *kadm.Client, partitions int32, configs map[string]string, name string) {
	t.Helper()
	if _, err := adm.CreateTopic(context.Background(), partitions, 1, configPtrsOf(configs), name); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func configPtrsOf(m map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// The demo feeds the sample built into the binary, so it needs no
// samples/ directory beside it.
func TestDemoFillsFromAnyDirectory(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "samples", "fills.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	name, data, err := demoFills("")
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("default fills from another directory: %s, %v (%d bytes, want %d)", name, err, len(data), len(want))
	}
	if _, _, err := demoFills("missing.jsonl"); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("--fills missing.jsonl: %v, want an error naming the file", err)
	}
}

// Errors read "hedgeline: CMD: what: why", each context once: no
// "tail: tail:" or "clickhouse: clickhouse:".
func TestNoDoubledErrorPrefixes(t *testing.T) {
	addr := kitStartBroker(t)
	dead := kitFreeAddr(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"nosuch"},
		{"tail"},
		{"tail", "--nosuch"},
		{"tail", "no.such.topic", "--brokers", addr},
		{"tail", "x", "--brokers", dead},
		{"partition"},
		{"partition", "--partitions", "0", "K"},
		{"ingest"},
		{"ingest", "file"},
		{"ingest", "file", filepath.Join(dir, "missing.jsonl"), "--brokers", addr},
		{"ingest", "file", bad, "--strict", "--brokers", addr},
		{"clickhouse"},
		{"clickhouse", "--data-dir", filepath.Join(dir, "ch"), "--clickhouse-lib", filepath.Join(dir, "libnone.so")},
		{"run", "--embedded", "--embedded-listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
			"--clickhouse-lib", filepath.Join(dir, "libnone.so")},
		{"pnl", "--clickhouse", dead},
		{"pnl", "--from", "yesterday"},
		{"loadgen", "--fills", "0"},
		{"run", "--roles", "bogus", "--brokers", addr},
		{"demo", "--fills", filepath.Join(dir, "missing.jsonl")},
		{"topics", "--brokers", dead, "--timeout", "3s"},
		{"topics", "--format", "yaml"},
		{"broker", "--listen", "nonsense"},
	} {
		_, errOut, code := runCLI(t, dir, args...)
		if code == 0 {
			t.Errorf("hedgeline %s: exit 0, want a failure", strings.Join(args, " "))
			continue
		}
		first := strings.SplitN(errOut, "\n", 2)[0]
		if !strings.HasPrefix(first, "hedgeline: ") {
			// Log lines may come first; the error is the last "hedgeline:" line.
			for _, l := range strings.Split(errOut, "\n") {
				if strings.HasPrefix(l, "hedgeline: ") {
					first = l
				}
			}
		}
		if !strings.HasPrefix(first, "hedgeline: ") {
			t.Errorf("hedgeline %s: no 'hedgeline: ' error line in %q", strings.Join(args, " "), errOut)
			continue
		}
		if w := doubledPrefix(first); w != "" {
			t.Errorf("hedgeline %s: %q repeats %q", strings.Join(args, " "), first, w+": "+w+":")
		}
	}
}

var prefixWord = regexp.MustCompile(`^[A-Za-z][\w.-]*$`)

// doubledPrefix returns a word that appears as "word: word:" or
// "... word: word:" in msg, or "".
func doubledPrefix(msg string) string {
	segs := strings.Split(msg, ": ")
	for i := 0; i+1 < len(segs); i++ {
		next := segs[i+1]
		if !prefixWord.MatchString(next) || i+2 == len(segs) {
			continue // only prefixes, i.e. followed by another ": "
		}
		words := strings.Fields(segs[i])
		if len(words) > 0 && words[len(words)-1] == next {
			return next
		}
	}
	return ""
}

func TestDoubledPrefix(t *testing.T) {
	for msg, want := range map[string]string{
		"hedgeline: tail: tail: exactly one TOPIC expected":      "tail",
		"hedgeline: run: embedded clickhouse: clickhouse: start": "clickhouse",
		"hedgeline: tail: want exactly one TOPIC":                "",
		"hedgeline: pnl: sinks: open a: dial: refused":           "",
	} {
		if got := doubledPrefix(msg); got != want {
			t.Errorf("doubledPrefix(%q) = %q, want %q", msg, got, want)
		}
	}
}

// --log-format json makes every line a process writes to stderr a JSON
// object: goka's, sarama's and the standard library's loggers go through
// the command's slog logger.
func TestLogFormatJSON(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	c := kitStartChild(t, "pipeline", "hedgeline ready", "run",
		"--brokers", addr, "--partitions", "4", "--state-dir", filepath.Join(dir, "state"),
		"--fast-groups", "--poll-interval", "100ms", "--log-level", "debug", "--log-format", "json")
	c.interrupt(t)
	lines := strings.Split(strings.TrimSpace(c.logs()), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d lines logged:\n%s", len(lines), c.logs())
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
}
