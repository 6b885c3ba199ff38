package main

// A state dir is used by one hedgeline process at a time, and the demo's
// reset never deletes what hedgeline did not create (internal/statedir).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/statedir"
)

// kitRunCLI runs `hedgeline args...` to completion (killed after timeout)
// and returns its stderr and exit code.
func kitRunCLI(t testing.TB, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), execMainEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stderr.String(), 0
	case ctx.Err() != nil:
		t.Fatalf("hedgeline %s: still running after %s (killed):\n%s", strings.Join(args, " "), timeout, kitTail(stderr.String(), 30))
	case errors.As(err, &ee):
		return stderr.String(), ee.ExitCode()
	default:
		t.Fatalf("hedgeline %s: %v", strings.Join(args, " "), err)
	}
	return "", 0
}

// kitDemoArgs runs the demo on free ports with dir as state dir.
func kitDemoArgs(t testing.TB, dir string) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	chPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return []string{"demo", "--state-dir", dir, "--embedded-listen", kitFreeAddr(t),
		"--embedded-clickhouse-port", strconv.Itoa(chPort), "--serve-listen", kitFreeAddr(t),
		"--fills", filepath.Join("..", "samples", "fills.jsonl")}
}

// kitListTree lists every path under dir (relative), for comparing a
// directory before and after.
func kitListTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSecondProcessOnALockedStateDir(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	stateDir, ledger := filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl")
	first := kitStartChildPipeline(t, "first", addr, stateDir, ledger)
	pid := strconv.Itoa(first.cmd.Process.Pid)
	fills := kitGenFills(kitSeed(t, "fills"), 200, 4, 38_000_000)
	kitProduceFills(t, kitNewProducer(t, addr), fills[:100])
	before := kitListTree(t, filepath.Join(stateDir, "tables"))

	for _, args := range [][]string{
		{"run", "--brokers", addr, "--partitions", fmt.Sprint(testPartitions), "--state-dir", stateDir, "--dry-run-ledger", ledger},
		kitDemoArgs(t, stateDir),
	} {
		out, code := kitRunCLI(t, time.Minute, args...)
		if code == 0 {
			t.Fatalf("hedgeline %s on a locked state dir exited 0:\n%s", args[0], out)
		}
		for _, want := range []string{stateDir, "in use by pid " + pid, "another --state-dir"} {
			if !strings.Contains(out, want) {
				t.Errorf("hedgeline %s: the error does not say %q:\n%s", args[0], want, kitTail(out, 10))
			}
		}
	}
	if !first.alive() {
		t.Fatalf("the first process died:\n%s", kitTail(first.logs(), 40))
	}
	// Its state is intact (the refused demo deleted nothing) and it goes on.
	for _, p := range before {
		if _, err := os.Stat(filepath.Join(stateDir, "tables", p)); err != nil {
			t.Errorf("the first process's state lost %s: %v", p, err)
		}
	}
	kitProduceFills(t, kitNewProducer(t, addr), fills[100:])
	snap := kitWaitSettled(t, addr, fills, settleTimeout, func(t testing.TB) {
		if !first.alive() {
			t.Fatalf("the first process died:\n%s", kitTail(first.logs(), 40))
		}
	})
	kitCheckFinal(t, snap, fills, []string{ledger})
	first.interrupt(t)
}

func TestKilledHolderDoesNotLockTheStateDir(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	stateDir, ledger := filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl")
	first := kitStartChildPipeline(t, "first", addr, stateDir, ledger)
	first.kill()
	if b, err := os.ReadFile(filepath.Join(stateDir, statedir.LockFile)); err != nil || !strings.Contains(string(b), strconv.Itoa(first.cmd.Process.Pid)) {
		t.Fatalf("the killed process's lock file should still name it: %q, %v", b, err)
	}
	kitStartChildPipeline(t, "second", addr, stateDir, ledger).interrupt(t)
}

func TestDemoDeletesNothingItDidNotCreate(t *testing.T) {
	t.Run("user file", func(t *testing.T) {
		dir := t.TempDir()
		// A hedgeline state dir (marked) where a user also keeps a file.
		d, err := statedir.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		for _, p := range []string{"notes.txt", "tables/g/000001.log", "dry-run-ledger.jsonl"} {
			kitWrite(t, filepath.Join(dir, p))
		}
		before := kitListTree(t, dir)
		out, code := kitRunCLI(t, time.Minute, kitDemoArgs(t, dir)...)
		if code == 0 || !strings.Contains(out, dir) || !strings.Contains(out, "notes.txt") || !strings.Contains(out, "nothing was deleted") {
			t.Fatalf("want the demo to refuse, naming %s and notes.txt; exit %d:\n%s", dir, code, kitTail(out, 10))
		}
		if after := kitListTree(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatalf("the refused demo changed the directory:\nbefore %v\nafter  %v", before, after)
		}
	})
	t.Run("unmarked directory", func(t *testing.T) {
		// A user's directory that happens to hold a "kafka" entry.
		dir := t.TempDir()
		kitWrite(t, filepath.Join(dir, "kafka", "README"))
		out, code := kitRunCLI(t, time.Minute, kitDemoArgs(t, dir)...)
		if code == 0 || !strings.Contains(out, "not marked") {
			t.Fatalf("want the demo to refuse an unmarked directory; exit %d:\n%s", code, kitTail(out, 10))
		}
		if _, err := os.Stat(filepath.Join(dir, "kafka", "README")); err != nil {
			t.Fatalf("the refused demo deleted kafka/README: %v", err)
		}
	})
	t.Run("broker still running on it", func(t *testing.T) {
		// A broker started by hand on the state dir's kafka/ holds it;
		// the state dir's own lock does not cover it.
		dir := t.TempDir()
		d, err := statedir.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		b, _ := kitStartChildBroker(t, filepath.Join(dir, "kafka"))
		before := kitListTree(t, dir)
		out, code := kitRunCLI(t, time.Minute, kitDemoArgs(t, dir)...)
		if code == 0 || !strings.Contains(out, "nothing was deleted") || !strings.Contains(out, "in use") {
			t.Fatalf("want the demo to refuse while a broker holds kafka/; exit %d:\n%s", code, kitTail(out, 10))
		}
		if after := kitListTree(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatalf("the refused demo changed the directory:\nbefore %v\nafter  %v", before, after)
		}
		if !b.alive() {
			t.Fatal("the broker died")
		}
	})
}

func kitWrite(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
