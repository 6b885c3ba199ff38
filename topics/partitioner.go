package topics

import (
	"bytes"
	"hash"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// goka produces through sarama's hash partitioner with FNV-1a 32, computing
// (exactly, sarama v1.61.1 hashPartitioner.Partition):
//
//	p := int32(fnv1a(key)) % n; if p < 0 { p = -p }
//
// franz-go's default is murmur2 (Java's), which places keys elsewhere. Every
// producer writing to a goka input must use the functions below, or a key's
// commands and its state end up on different partitions.
//
// goka's own key lookup (Processor.Get, View.Get) instead computes
// abs(int32(h)) % n. That agrees except when h == 0x80000000, where the abs
// overflows and goka gets a partition <= 0: one hash value in 2^32, noted
// here so nobody "fixes" this file to match goka's lookup.

// SymbolSeparator ends the part of a symbol-prefixed key that is hashed.
const SymbolSeparator = '|'

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b) // never fails
	return h.Sum32()
}

// saramaPartition mirrors sarama's arithmetic, including the sign handling:
// the remainder is negated, not the hash, so math.MinInt32 is safe.
func saramaPartition(sum uint32, n int32) int32 {
	p := int32(sum) % n
	if p < 0 {
		p = -p
	}
	return p
}

// Partitioner places keyed records where goka/sarama would; records without
// a key stick to one partition per batch.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))
}

// PartitionFor returns the partition goka/sarama choose for key among n.
func PartitionFor(key []byte, n int32) int32 {
	return saramaPartition(fnv32a(key), n)
}

// PartitionWith is PartitionFor for a goka hasher (NewSymbolHash, or goka's
// default FNV-1a): where sarama's hash partitioner, which goka's emitters
// use, puts key among n partitions.
func PartitionWith(hasher func() hash.Hash32, key []byte, n int32) int32 {
	h := hasher()
	h.Write(key) // never fails
	return saramaPartition(h.Sum32(), n)
}

// SymbolPrefix returns the part of key before the first SymbolSeparator, or
// the whole key if it has none.
func SymbolPrefix(key []byte) []byte {
	if i := bytes.IndexByte(key, SymbolSeparator); i >= 0 {
		return key[:i]
	}
	return key
}

// SymbolKey builds a symbol-prefixed key, e.g. SymbolKey("AAPL", "0xabc:5")
// is "AAPL|0xabc:5".
func SymbolKey(symbol, id string) string {
	return symbol + string(SymbolSeparator) + id
}

// SymbolPartitioner is Partitioner hashing only SymbolPrefix(key), so all
// records of one base symbol share a partition. It matches a goka group
// configured with goka.WithHasher(NewSymbolHash).
func SymbolPartitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(k []byte) uint32 {
		return fnv32a(SymbolPrefix(k))
	}))
}

// PartitionForSymbolKey returns the partition SymbolPartitioner and
// NewSymbolHash choose for key among n.
func PartitionForSymbolKey(key []byte, n int32) int32 {
	return PartitionFor(SymbolPrefix(key), n)
}

// NewSymbolHash is an FNV-1a hash that ignores everything from the first
// SymbolSeparator on, for goka.WithHasher / WithEmitterHasher /
// WithViewHasher and sarama.NewCustomHashPartitioner. A key without a
// separator hashes exactly as goka's default, so a group using it still
// places plain keys (symbols, ids) like every other group.
func NewSymbolHash() hash.Hash32 {
	return &symbolHash{Hash32: fnv.New32a()}
}

// symbolHash stays stateful across Writes because a caller may feed the key
// in pieces; once the separator is seen, the rest is dropped.
type symbolHash struct {
	hash.Hash32
	done bool
}

func (h *symbolHash) Write(b []byte) (int, error) {
	n := len(b)
	if h.done {
		return n, nil
	}
	if i := bytes.IndexByte(b, SymbolSeparator); i >= 0 {
		h.done = true
		b = b[:i]
	}
	h.Hash32.Write(b) // never fails
	return n, nil
}

func (h *symbolHash) Reset() {
	h.Hash32.Reset()
	h.done = false
}

// topicPartitioner picks the key scheme of each catalog topic (KeyingOf).
type topicPartitioner struct {
	whole, symbol kgo.Partitioner
}

// CatalogPartitioner places records by the Keying of their topic in the
// catalog: symbol prefix for the onchain-trade topics, the whole key for
// everything else, both goka-compatible.
func CatalogPartitioner() kgo.Partitioner {
	return topicPartitioner{whole: Partitioner(), symbol: SymbolPartitioner()}
}

func (p topicPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if KeyingOf(topic) == KeySymbolPrefix {
		return p.symbol.ForTopic(topic)
	}
	return p.whole.ForTopic(topic)
}
