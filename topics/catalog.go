package topics

import (
	"errors"
	"fmt"
)

// Aggregate types, as written in the aggregate_type field of envelopes.
const (
	OnChainTrade  = "OnChainTrade"
	Position      = "Position"
	OffchainOrder = "OffchainOrder"
	BrokerAuth    = "BrokerAuth"
)

// Topic names. One commands/events/rejections triple per aggregate type, plus
// the PnL projection's output.
const (
	OnChainTradeCommands   = "onchain-trade.commands"
	OnChainTradeEvents     = "onchain-trade.events"
	OnChainTradeRejections = "onchain-trade.rejections"

	PositionCommands   = "position.commands"
	PositionEvents     = "position.events"
	PositionRejections = "position.rejections"

	OffchainOrderCommands   = "offchain-order.commands"
	OffchainOrderEvents     = "offchain-order.events"
	OffchainOrderRejections = "offchain-order.rejections"

	BrokerAuthCommands   = "broker-auth.commands"
	BrokerAuthEvents     = "broker-auth.events"
	BrokerAuthRejections = "broker-auth.rejections"

	PnLEvents = "pnl.events"

	// PendingHedges holds, per base symbol, the hedge its position has
	// pending (compacted; the order placer writes it on hedge events only),
	// for the order poller's view: a few bytes a symbol instead of the
	// position's whole table record.
	PendingHedges = "position.hedges"

	// ProjectionRejections receives the records the ClickHouse projections
	// (package sinks) could not apply, with the reason.
	ProjectionRejections = "projection.rejections"

	// ChainCheckpoints holds each chain source's position (package
	// sources/chain): compacted, keyed by orderbook and owner, so a restart
	// resumes after the last fully ingested block.
	ChainCheckpoints = "chain.checkpoints"
)

// Kind says what a topic carries.
type Kind string

const (
	Commands   Kind = "commands"
	Events     Kind = "events"
	Rejections Kind = "rejections"
	// Checkpoints is a compacted topic of source positions.
	Checkpoints Kind = "checkpoints"
	// Hedges is the compacted topic of the hedge each position has pending.
	Hedges Kind = "hedges"
)

// Keying says which part of a record key picks the partition.
type Keying int

const (
	// KeyWhole hashes the whole key (goka's default).
	KeyWhole Keying = iota
	// KeySymbolPrefix hashes only the key's part before the first '|', so
	// every record of one base symbol shares a partition. Producers must use
	// SymbolPartitioner and goka groups NewSymbolHash.
	KeySymbolPrefix
)

// Spec is what a topic must look like on the cluster.
type Spec struct {
	Name              string
	AggregateType     string // empty for topics not owned by one aggregate (pnl.events)
	Kind              Kind
	Keying            Keying
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
}

// AggregateTopics names the three topics of one aggregate type.
type AggregateTopics struct {
	Commands, Events, Rejections string
}

// ErrUnknownAggregate is returned for an aggregate type not in the catalog.
var ErrUnknownAggregate = errors.New("unknown aggregate type")

// aggregates lists every aggregate type in catalog order.
var aggregates = []struct {
	typ    string
	topics AggregateTopics
	keying Keying
}{
	// Fills are processed per base symbol (key "AAPL|tx:log"), so one
	// partition sees a symbol's fills in order.
	{OnChainTrade, AggregateTopics{OnChainTradeCommands, OnChainTradeEvents, OnChainTradeRejections}, KeySymbolPrefix},
	{Position, AggregateTopics{PositionCommands, PositionEvents, PositionRejections}, KeyWhole},
	{OffchainOrder, AggregateTopics{OffchainOrderCommands, OffchainOrderEvents, OffchainOrderRejections}, KeyWhole},
	{BrokerAuth, AggregateTopics{BrokerAuthCommands, BrokerAuthEvents, BrokerAuthRejections}, KeyWhole},
}

// AggregateTypes returns every aggregate type in the catalog.
func AggregateTypes() []string {
	out := make([]string, len(aggregates))
	for i, a := range aggregates {
		out[i] = a.typ
	}
	return out
}

// TopicsFor returns the commands, events and rejections topics of an
// aggregate type.
func TopicsFor(aggregateType string) (AggregateTopics, error) {
	for _, a := range aggregates {
		if a.typ == aggregateType {
			return a.topics, nil
		}
	}
	return AggregateTopics{}, fmt.Errorf("topics for %q: %w", aggregateType, ErrUnknownAggregate)
}

// KeyingOf reports how keys of a catalog topic are partitioned; topics not in
// the catalog (goka's <group>-table topics) hash the whole key.
func KeyingOf(topic string) Keying {
	for _, a := range aggregates {
		t := a.topics
		if topic == t.Commands || topic == t.Events || topic == t.Rejections {
			return a.keying
		}
	}
	return KeyWhole
}

// keepForever is the config of every catalog topic. Events are the system of
// record and commands are the input log that replays re-read, so nothing is
// ever deleted by time or size, and nothing is compacted: compaction would
// drop all but the last record of an aggregate.
func keepForever() map[string]string {
	return map[string]string{
		"cleanup.policy":  "delete",
		"retention.ms":    "-1",
		"retention.bytes": "-1",
	}
}

// Catalog returns the spec of every topic. All topics get the same partition
// count because goka copartitions the inputs and tables of a group, and a
// group may read any mix of these topics.
func Catalog(partitions int32, replication int16) []Spec {
	specs := make([]Spec, 0, 3*len(aggregates)+3)
	for _, a := range aggregates {
		for _, t := range []struct {
			name string
			kind Kind
		}{{a.topics.Commands, Commands}, {a.topics.Events, Events}, {a.topics.Rejections, Rejections}} {
			specs = append(specs, Spec{
				Name:              t.name,
				AggregateType:     a.typ,
				Kind:              t.kind,
				Keying:            a.keying,
				Partitions:        partitions,
				ReplicationFactor: replication,
				Configs:           keepForever(),
			})
		}
	}
	return append(specs, Spec{
		Name:              PnLEvents,
		Kind:              Events,
		Keying:            KeyWhole,
		Partitions:        partitions,
		ReplicationFactor: replication,
		Configs:           keepForever(),
	}, Spec{
		Name:              ProjectionRejections,
		Kind:              Rejections,
		Keying:            KeyWhole,
		Partitions:        partitions,
		ReplicationFactor: replication,
		Configs:           keepForever(),
	}, Spec{
		Name:              PendingHedges,
		Kind:              Hedges,
		Keying:            KeyWhole,
		Partitions:        partitions,
		ReplicationFactor: replication,
		Configs:           map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"},
	}, Spec{
		// The last record of a key is the checkpoint: compaction is right.
		Name:              ChainCheckpoints,
		Kind:              Checkpoints,
		Keying:            KeyWhole,
		Partitions:        partitions,
		ReplicationFactor: replication,
		Configs:           map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"},
	})
}

// Table is the kind of a goka group table topic.
const Table Kind = "table"

// TableSpec is the spec of a goka group's table topic ("<group>-table").
// Created up front (not left to goka) so views can open it before the
// group's first start, and with retention.ms=-1 so no broker expires a
// compacted table by time (kfake applies time retention to compacted topics).
func TableSpec(group string, partitions int32, replication int16) Spec {
	return Spec{
		Name: group + "-table", Kind: Table, Keying: KeyWhole,
		Partitions: partitions, ReplicationFactor: replication,
		Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"},
	}
}
