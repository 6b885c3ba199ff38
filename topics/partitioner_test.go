package topics

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// randomKeys returns n keys of 0..40 random bytes, some with '|' inside, so
// about half hash to a negative int32 and exercise sarama's sign handling.
func randomKeys(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, n)
	for i := range keys {
		k := make([]byte, r.IntN(41))
		for j := range k {
			k[j] = byte(r.IntN(256))
			if r.IntN(10) == 0 {
				k[j] = '|'
			}
		}
		keys[i] = k
	}
	return keys
}

var partitionCounts = []int32{1, 2, 3, 7, 8, 12, 64, 1000}

func TestPartitionForMatchesSarama(t *testing.T) {
	// One sarama partitioner per count, reused like a producer reuses it.
	sp := map[int32]sarama.Partitioner{}
	for _, n := range partitionCounts {
		sp[n] = sarama.NewHashPartitioner("t")
	}
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("t") // franz-go's default
	negative, moved := 0, 0
	for _, k := range randomKeys(1000) {
		if int32(fnv32a(k)) < 0 {
			negative++
		}
		if int32(murmur.Partition(&kgo.Record{Key: k}, 8)) != PartitionFor(k, 8) {
			moved++
		}
		for _, n := range partitionCounts {
			want, err := sp[n].Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(k)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := PartitionFor(k, n); got != want {
				t.Fatalf("PartitionFor(%q, %d) = %d, sarama says %d", k, n, got, want)
			}
			if got := Partitioner().ForTopic("t").Partition(&kgo.Record{Key: k}, int(n)); int32(got) != want {
				t.Fatalf("Partitioner() put %q on %d of %d, sarama on %d", k, got, n, want)
			}
		}
	}
	if negative < 100 {
		t.Fatalf("only %d keys hash negative; the sign branch is untested", negative)
	}
	// The trap this file exists for: franz-go's default moves most keys.
	if moved < 500 {
		t.Errorf("murmur2 placed only %d of 1000 keys differently; expected most", moved)
	}
	t.Logf("franz-go's default partitioner would misplace %d of 1000 keys on 8 partitions", moved)
}

func TestSaramaPartitionSignEdge(t *testing.T) {
	// sarama negates the remainder, not the hash, so MinInt32 cannot
	// overflow into a negative partition.
	for _, n := range partitionCounts {
		p := saramaPartition(math.MaxInt32+1, n)
		if want := -(int32(math.MinInt32) % n); p != want || p < 0 || p >= n {
			t.Errorf("saramaPartition(MinInt32, %d) = %d, want %d", n, p, want)
		}
	}
}

func TestSymbolPartitioningMatchesGokaHasher(t *testing.T) {
	// sarama builds one hasher per partitioner and Resets it per message,
	// exactly as goka's producer does with goka.WithHasher(NewSymbolHash).
	gokaLike := sarama.NewCustomHashPartitioner(NewSymbolHash)("t")
	kp := SymbolPartitioner().ForTopic("t")
	for _, k := range randomKeys(1000) {
		for _, n := range partitionCounts {
			want := PartitionFor(SymbolPrefix(k), n)
			got, err := gokaLike.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(k)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("sarama+NewSymbolHash put %q on %d of %d, want %d", k, got, n, want)
			}
			if got := PartitionForSymbolKey(k, n); got != want {
				t.Fatalf("PartitionForSymbolKey(%q, %d) = %d, want %d", k, n, got, want)
			}
			if got := kp.Partition(&kgo.Record{Key: k}, int(n)); int32(got) != want {
				t.Fatalf("SymbolPartitioner put %q on %d of %d, want %d", k, got, n, want)
			}
		}
	}
}

func TestSymbolHashAcrossWrites(t *testing.T) {
	h := NewSymbolHash()
	for _, k := range randomKeys(300) {
		h.Reset()
		for rest := k; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)/3)
			h.Write(rest[:n])
			rest = rest[n:]
		}
		if got, want := h.Sum32(), fnv32a(SymbolPrefix(k)); got != want {
			t.Fatalf("chunked hash of %q = %x, want %x", k, got, want)
		}
	}
}

func TestSymbolHashEqualsFNVWithoutSeparator(t *testing.T) {
	// A goka group using NewSymbolHash must still place plain keys (its
	// emits to position.commands keyed by symbol) like the default hasher.
	for _, k := range []string{"AAPL", "NVDA", "0b4c3a06-5f0e-5a3b-9b9a-0d4f0e2f7c11", ""} {
		h, d := NewSymbolHash(), fnv.New32a()
		h.Write([]byte(k))
		d.Write([]byte(k))
		if h.Sum32() != d.Sum32() {
			t.Errorf("NewSymbolHash(%q) differs from FNV-1a", k)
		}
	}
	if got, want := PartitionForSymbolKey([]byte("AAPL|0xabc:5"), 8), PartitionFor([]byte("AAPL"), 8); got != want {
		t.Errorf("AAPL|0xabc:5 on %d, AAPL on %d", got, want)
	}
}

func TestCatalogPartitioner(t *testing.T) {
	p := CatalogPartitioner()
	for _, k := range randomKeys(200) {
		r := &kgo.Record{Key: k}
		if got, want := p.ForTopic(OnChainTradeCommands).Partition(r, 8), PartitionForSymbolKey(k, 8); int32(got) != want {
			t.Fatalf("%s: %q on %d, want %d", OnChainTradeCommands, k, got, want)
		}
		if got, want := p.ForTopic(PositionCommands).Partition(r, 8), PartitionFor(k, 8); int32(got) != want {
			t.Fatalf("%s: %q on %d, want %d", PositionCommands, k, got, want)
		}
	}
}
