package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/diskspace"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kitMountTmpfs mounts a tmpfs of size (e.g. "32m") on a new directory,
// unmounted at cleanup; the test is skipped where mounting is not
// permitted (not root).
func kitMountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("needs a small file system to fill: mounting a tmpfs on %s is not permitted here (%v); run as root", dir, err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// kitFillDisk writes a file that leaves about leave bytes free on dir's
// file system.
func kitFillDisk(t *testing.T, path string, leave uint64) {
	t.Helper()
	u, err := diskspace.Of(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if u.Free <= leave {
		return
	}
	if err := os.WriteFile(path, make([]byte, u.Free-leave), 0o644); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
}

// TestDiskFullBacksOffAndRecovers: the state dir (goka tables, the embedded
// broker's log, the dry-run ledger) fills up while fills are processed.
// The failed stages say what is full and restart with a growing backoff
// while the process and its embedded broker stay up; once space returns,
// every fill reaches its position, hedges and PnL as usual.
func TestDiskFullBacksOffAndRecovers(t *testing.T) {
	mnt := kitMountTmpfs(t, "32m")
	stateDir := filepath.Join(mnt, "state")
	addr := kitFreeAddr(t)
	p := kitStartChild(t, "pipeline", "hedgeline ready", "run", "--embedded", "--embedded-listen", addr,
		"--roles", "onchain-trade,position,offchain-order,trade-manager,order-manager,pnl",
		"--partitions", "4", "--state-dir", stateDir, "--fast-groups", "--poll-interval", "100ms", "--log-level", "info")
	alive := func(t testing.TB) {
		t.Helper()
		if !p.alive() {
			t.Fatalf("the pipeline process died:\n%s", kitTail(p.logs(), 40))
		}
	}

	// Room for the inputs, not for processing them (~13 KB per fill).
	filler := filepath.Join(mnt, "filler")
	kitFillDisk(t, filler, 1<<20)
	fills := kitGenFills(kitSeed(t, "fills"), 300, 5, 38_000_000)
	kitProduceFills(t, kitNewProducer(t, addr), fills)

	restarts := func(retryIn string) (bool, string) {
		alive(t)
		for _, l := range strings.Split(p.logs(), "\n") {
			if strings.Contains(l, "restarting it after a backoff") && strings.Contains(l, "retry_in="+retryIn) {
				return true, l
			}
		}
		return false, kitTail(p.logs(), 5)
	}
	kitWaitFor(t, time.Minute, "a stage stopped by the full disk", func() (bool, string) { return restarts("2s") })
	_, line := restarts("2s")
	for _, want := range []string{"disk full: ", mnt, " free of 32.0 MiB"} {
		if !strings.Contains(line, want) {
			t.Errorf("the restart line does not say %q: %s", want, line)
		}
	}
	// What is left is next to nothing (a deleted partial file can leave a
	// few KiB by the time the line is written).
	if m := regexp.MustCompile(`\(([0-9.]+) (B|KiB) free of 32.0 MiB\)`).FindStringSubmatch(line); m == nil {
		t.Errorf("the restart line does not say that under 1 MiB is free: %s", line)
	}
	if !strings.Contains(line, "goka LevelDB table") && !strings.Contains(line, "embedded Kafka") {
		t.Errorf("the restart line does not name what could not write: %s", line)
	}
	kitWaitFor(t, time.Minute, "a longer backoff on the next failure", func() (bool, string) { return restarts("4s") })
	alive(t)
	// The embedded broker still answers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListTopics(t.Context()); err != nil {
		t.Fatalf("the embedded broker does not answer while the disk is full: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	snap := kitWaitSettled(t, addr, fills, settleTimeout, alive)
	kitCheckFinal(t, snap, fills, []string{filepath.Join(stateDir, "dry-run-ledger.jsonl")})
	if !strings.Contains(p.logs(), "stage running again") {
		t.Error("no stage said it runs again")
	}
	p.interrupt(t)
}
