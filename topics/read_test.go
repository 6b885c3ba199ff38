package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadToEndAndSpans: a whole topic read back in per-partition order,
// a sub-span exactly, a missing topic named, fn's error returned, and a
// span past the end bounded by ctx instead of hanging.
func TestReadToEndAndSpans(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := newAdmin(t, c)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[int32][]string{}
	for i := range 30 {
		p := int32(i % 3)
		v := fmt.Sprint(i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[p] = append(want[p], v)
	}
	seeds := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	got := map[int32][]string{}
	if err := ReadToEnd(ctx, seeds, "t", func(r *kgo.Record) error {
		got[r.Partition] = append(got[r.Partition], string(r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if strings.Join(got[p], ",") != strings.Join(want[p], ",") {
			t.Errorf("partition %d: read %v, want %v", p, got[p], want[p])
		}
	}

	span, err := Bounds(ctx, adm, "t")
	if err != nil || span.Len() != 30 {
		t.Fatalf("bounds %+v (%d offsets), %v", span, span.Len(), err)
	}
	sub := Span{From: map[int32]int64{1: 2}, To: map[int32]int64{1: 5}}
	var vals []string
	if err := ReadSpan(ctx, seeds, "t", sub, func(r *kgo.Record) error {
		vals = append(vals, string(r.Value))
		return nil
	}); err != nil || strings.Join(vals, ",") != strings.Join(want[1][2:5], ",") {
		t.Fatalf("span of partition 1 [2,5): %v, %v; want %v", vals, err, want[1][2:5])
	}

	if _, err := Bounds(ctx, adm, "nope"); !errors.Is(err, ErrNoTopic) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing topic: %v", err)
	}
	stop := errors.New("enough")
	n := 0
	if err := ReadToEnd(ctx, seeds, "t", func(*kgo.Record) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn error: %v after %d records", err, n)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	past := Span{From: map[int32]int64{0: 0}, To: map[int32]int64{0: 99}}
	if err := ReadSpan(short, seeds, "t", past, func(*kgo.Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "[0]") {
		t.Fatalf("a span past the end: %v, want an error naming partition 0", err)
	}
}
