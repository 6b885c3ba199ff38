package kafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/internal/diskspace"
)

// TestFullDiskRefusesProducesWithAStorageError: with its data dir's file
// system full, the broker refuses a produce with KAFKA_STORAGE_ERROR, which
// producers retry in order, and not with kfake's UNKNOWN_SERVER_ERROR after
// it counted the batch's sequence (sarama then sent the batches queued
// behind it first). Once there is space the same producer's records land,
// in order.
func TestFullDiskRefusesProducesWithAStorageError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("needs a small file system to fill: mounting a tmpfs is not permitted here (%v); run as root", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	b, err := Start(Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("t"), kgo.RecordRetries(2), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(dir, "filler")
	u, err := diskspace.Of(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filler, make([]byte, u.Free), 0o644); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("refused")}).FirstErr()
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to a full disk: got %v, want KAFKA_STORAGE_ERROR", err)
	}
	if f, ok := b.LastWriteFailure(); !ok || f.Path == "" {
		t.Errorf("the refusal is not recorded as a write failure: %+v", f)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('0' + i)}}).FirstErr(); err != nil {
			t.Fatalf("produce %d once there is space: %v", i, err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got string
	for len(got) < 4 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %q: %v", got, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { got += string(r.Value) })
	}
	if got != "0123" {
		t.Errorf("log holds %q, want 0123 (nothing of the refused produce, the rest in order)", got)
	}
}
