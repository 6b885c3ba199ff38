package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	specs := Catalog(6, 3)
	if len(specs) != 16 {
		t.Fatalf("got %d topics, want 16", len(specs))
	}
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			t.Errorf("topic %s listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Partitions != 6 || s.ReplicationFactor != 3 {
			t.Errorf("%s: partitions %d rf %d, want 6 and 3", s.Name, s.Partitions, s.ReplicationFactor)
		}
		if !strings.HasSuffix(s.Name, "."+string(s.Kind)) {
			t.Errorf("%s: kind %s does not match its name", s.Name, s.Kind)
		}
		wantPolicy := "delete"
		if s.Kind == Checkpoints || s.Kind == Hedges {
			wantPolicy = "compact" // only the last position of a source, the last pending hedge, counts
		}
		if s.Configs["retention.ms"] != "-1" || s.Configs["cleanup.policy"] != wantPolicy {
			t.Errorf("%s: configs %v, want kept forever, cleanup.policy %s", s.Name, s.Configs, wantPolicy)
		}
	}
	for _, name := range []string{PnLEvents, ProjectionRejections, ChainCheckpoints, PendingHedges} {
		if !seen[name] {
			t.Errorf("catalog lacks %s", name)
		}
	}
	// Each spec owns its config map: a caller tweaking one must not change
	// the others.
	specs[0].Configs["retention.ms"] = "1"
	if specs[1].Configs["retention.ms"] != "-1" {
		t.Errorf("specs share one config map")
	}
}

func TestTopicsFor(t *testing.T) {
	want := map[string]AggregateTopics{
		OnChainTrade:  {"onchain-trade.commands", "onchain-trade.events", "onchain-trade.rejections"},
		Position:      {"position.commands", "position.events", "position.rejections"},
		OffchainOrder: {"offchain-order.commands", "offchain-order.events", "offchain-order.rejections"},
		BrokerAuth:    {"broker-auth.commands", "broker-auth.events", "broker-auth.rejections"},
	}
	for _, typ := range AggregateTypes() {
		got, err := TopicsFor(typ)
		if err != nil {
			t.Fatalf("TopicsFor(%s): %v", typ, err)
		}
		if got != want[typ] {
			t.Errorf("TopicsFor(%s) = %+v, want %+v", typ, got, want[typ])
		}
	}
	if _, err := TopicsFor("Nope"); !errors.Is(err, ErrUnknownAggregate) {
		t.Errorf("TopicsFor(Nope) error = %v, want ErrUnknownAggregate", err)
	}
}

func TestKeyingOf(t *testing.T) {
	for topic, want := range map[string]Keying{
		OnChainTradeCommands: KeySymbolPrefix,
		OnChainTradeEvents:   KeySymbolPrefix,
		PositionCommands:     KeyWhole,
		PnLEvents:            KeyWhole,
		"group-table":        KeyWhole,
	} {
		if got := KeyingOf(topic); got != want {
			t.Errorf("KeyingOf(%s) = %v, want %v", topic, got, want)
		}
	}
}
