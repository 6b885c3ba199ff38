package topics

import (
	"encoding/json"
	"fmt"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientOpts are the franz-go options every hedgeline producer starts from:
// the cluster's seeds and security, goka-compatible placement per catalog
// topic, acks from all in-sync replicas and the idempotent producer (no
// duplicates from retries), then extra. Acks and idempotence are franz-go
// defaults; they are spelled out so that nobody trades them away for speed
// without seeing it.
func ClientOpts(k kafkasec.Cluster, extra ...kgo.Opt) []kgo.Opt {
	return k.Opts(append([]kgo.Opt{
		kgo.RecordPartitioner(CatalogPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, extra...)...)
}

// Command is what every command payload is: it names its type.
type Command interface{ CommandType() string }

// CommandRecord encodes c into env (its type, the current command version
// and the JSON payload are filled in) and addresses the record to the
// commands topic of env's aggregate type under key: the one way every
// source, manager and CLI builds a command record.
func CommandRecord(env CommandEnvelope, c Command, key string) (*kgo.Record, error) {
	t, err := TopicsFor(env.AggregateType)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", c.CommandType(), env.AggregateID, err)
	}
	env.CommandType, env.CommandVersion, env.Payload = c.CommandType(), CommandVersion, payload
	value, err := EncodeCommand(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope %s: %w", c.CommandType(), env.AggregateID, err)
	}
	return &kgo.Record{Topic: t.Commands, Key: []byte(key), Value: value}, nil
}
