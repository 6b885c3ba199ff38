package topics

import "github.com/twmb/franz-go/pkg/kgo"

// ClientOpts are the franz-go options every hedgeline producer starts from:
// goka-compatible placement per catalog topic, acks from all in-sync
// replicas and the idempotent producer (no duplicates from retries). Both
// are franz-go defaults; they are spelled out so that nobody trades them
// away for speed without seeing it.
func ClientOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RecordPartitioner(CatalogPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}
