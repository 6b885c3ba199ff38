package stack

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/offchainorder/ordermanager"
	"github.com/hedgeline/hedgeline/processors/onchaintrade/trademanager"
	"github.com/hedgeline/hedgeline/processors/position/positionstage"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
)

// stage is one goka group of the stack and the roles that run it (any of
// them). Every group keeps a table (the runner persists each), so the stage
// list is also the list of table topics.
type stage struct {
	roles []string
	group string
	build func(runner.Config) (*runner.Processor, error)
}

func stageOf[S any](st runner.Stage[S], err error, roles ...string) stage {
	if err != nil {
		return stage{roles: roles, group: st.Group, build: func(runner.Config) (*runner.Processor, error) { return nil, err }}
	}
	return stage{roles: roles, group: st.Group, build: func(rc runner.Config) (*runner.Processor, error) { return runner.Build(st, rc) }}
}

// runs says whether a process with roles runs s.
func (s stage) runs(roles Roles) bool {
	return slices.ContainsFunc(s.roles, func(r string) bool { return roles[r] })
}

// wiring is what the stages need at run time. Its zero value still names
// every stage's group.
type wiring struct {
	authKey brokerauth.Key
	trade   trademanager.Config
	poller  *ordermanager.Poller
}

// topology is every stage the stack can run, in the order it builds them.
// The managers run fused into the aggregate whose events they read
// (trademanager.Stage, positionstage.Stage, ordermanager.Stage), so each
// stage answers to the aggregate's role and the manager's.
func topology(w wiring) []stage {
	trade, terr := trademanager.Stage(w.trade)
	pos, perr := positionstage.Stage()
	order, oerr := ordermanager.Stage(w.poller)
	auth, aerr := runner.AggregateStage(brokerauth.NewDefinition(w.authKey))
	if aerr != nil {
		auth.Group = runner.GroupOf(topics.BrokerAuth)
	}
	return []stage{
		stageOf(trade, terr, "onchain-trade", "trade-manager"),
		stageOf(pos, perr, "position", "pnl"),
		stageOf(order, oerr, "offchain-order", "order-manager"),
		stageOf(auth, aerr, "broker-auth"),
	}
}

// parts are the roles that name one stage together: asking for one runs
// the whole stage, so a process runs all of them. The order manager's
// poller must run where the order stage does, since the stage's tracker
// feeds its index and hints.
var parts = [][]string{{"onchain-trade", "trade-manager"}, {"position", "pnl"}, {"offchain-order", "order-manager"}}

// withParts returns roles with every role that shares a stage with one of
// them.
func (roles Roles) withParts() Roles {
	out := Roles{}
	for r, on := range roles {
		out[r] = on
	}
	for _, group := range parts {
		if slices.ContainsFunc(group, func(r string) bool { return roles[r] }) {
			for _, r := range group {
				out[r] = true
			}
		}
	}
	return out
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
