package main

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"testing"

	"github.com/hedgeline/hedgeline/topics"
)

// `hedgeline partition` must give goka's partition, including for keys
// where an unsigned FNV-1a modulo (librdkafka's fnv1a partitioner) differs.
func TestPartitionCommandMatchesGoka(t *testing.T) {
	keys := []string{"AAPL", "MSFT", "GOOG", "NVDA", "AAPL|0xab:5", "7c206784-0000-5000-8000-000000000000"}
	var out bytes.Buffer
	if err := runPartition(context.Background(), append([]string{"--partitions", "4", "--json"}, keys...), &out); err != nil {
		t.Fatal(err)
	}
	var got []partitionOf
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	differs := 0
	for i, k := range keys {
		want := topics.PartitionForSymbolKey([]byte(k), 4)
		if got[i].Key != k || got[i].Partition != want {
			t.Errorf("%s: got %+v, want partition %d", k, got[i], want)
		}
		h := fnv.New32a()
		h.Write(topics.SymbolPrefix([]byte(k)))
		if int32(h.Sum32()%4) != want {
			differs++
		}
	}
	if differs == 0 {
		t.Error("no key where unsigned FNV-1a differs: the test lost the keys that matter")
	}
	if err := runPartition(context.Background(), nil, &out); err == nil {
		t.Error("no key: want an error")
	}
}
