package stack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/managers"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
)

// stage is one goka group of the stack and the role that runs it. Every
// group keeps a table (the runner persists each), so the stage list is
// also the list of table topics.
type stage struct {
	role  string
	group string
	build func(runner.Config) (*runner.Processor, error)
}

func stageOf[S any](role string, st runner.Stage[S]) stage {
	return stage{role: role, group: st.Group, build: func(rc runner.Config) (*runner.Processor, error) { return runner.Build(st, rc) }}
}

func aggregateOf[S any](role string, def aggregate.Definition[S]) stage {
	st, err := runner.AggregateStage(def)
	if err != nil {
		return stage{role: role, group: runner.GroupOf(def.Type), build: func(runner.Config) (*runner.Processor, error) { return nil, err }}
	}
	return stageOf(role, st)
}

// wiring is what the stages need at run time. Its zero value still names
// every stage's group.
type wiring struct {
	authKey brokerauth.Key
	trade   managers.TradeConfig
	poller  *managers.Poller
}

// topology is every stage the stack can run, in the order it builds them.
func topology(w wiring) []stage {
	tracker := managers.OrderTracker()
	if w.poller != nil {
		tracker = w.poller.Tracking(tracker)
	}
	return []stage{
		aggregateOf("onchain-trade", onchaintrade.Definition),
		aggregateOf("position", position.Definition),
		aggregateOf("offchain-order", offchainorder.Definition),
		aggregateOf("broker-auth", brokerauth.NewDefinition(w.authKey)),
		stageOf("trade-manager", managers.TradeManager(w.trade)),
		stageOf("pnl", managers.PnL()),
		stageOf("order-manager", managers.OrderPlacer()),
		stageOf("order-manager", tracker),
	}
}

// StateGroups are the goka groups that keep a table: every stage's.
func StateGroups() []string {
	var groups []string
	for _, s := range topology(wiring{}) {
		groups = append(groups, s.group)
	}
	return groups
}

// Topics is every topic the stack uses: the catalog and the table of every
// stage (EnsureTopics creates them all).
func Topics(partitions int32, replication int16) []topics.Spec {
	specs := topics.Catalog(partitions, replication)
	for _, g := range StateGroups() {
		specs = append(specs, topics.TableSpec(g, partitions, replication))
	}
	return specs
}

// EnsureTopics creates the topics of Topics that are missing.
func EnsureTopics(ctx context.Context, adm *kadm.Client, partitions int32, replication int16, log *slog.Logger) error {
	rep, err := topics.Ensure(ctx, adm, Topics(partitions, replication))
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	if len(rep.Created) > 0 {
		log.Info("topics created", "topics", strings.Join(rep.Created, ","))
	}
	return nil
}
