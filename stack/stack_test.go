package stack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// Every stage the stack builds keeps a table; the table topics come from
// the same list, so a new stage cannot run without its table topic.
func TestStateGroupsAreTheStages(t *testing.T) {
	groups := StateGroups()
	want := []string{
		runner.GroupOf(topics.OnChainTrade), runner.GroupOf(topics.Position), runner.GroupOf(topics.OffchainOrder),
		runner.GroupOf(topics.BrokerAuth),
	}
	if !slices.Equal(groups, want) {
		t.Fatalf("state groups %v, want %v", groups, want)
	}
	for _, s := range topology(wiring{}) {
		for _, r := range s.roles {
			if !slices.Contains(AllRoles, r) {
				t.Errorf("stage %s: role %q is not a role", s.group, r)
			}
		}
	}
	specs := Topics(4, 1)
	for _, g := range groups {
		name := topics.TableSpec(g, 4, 1).Name
		if !slices.ContainsFunc(specs, func(s topics.Spec) bool { return s.Name == name }) {
			t.Errorf("no table topic %s", name)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{
		Partitions: 0, Replication: 1, Roles: Roles{"order-manager": true, "nope": true},
		Execution: market.DefaultExecution(market.Alpaca), CommandBacklog: 1,
		PollInterval: time.Second, StaleAfter: time.Second, NotPendingGrace: time.Second,
		DryRun: DryRun{FailureRate: 2},
	}.Validate()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"Kafka.Seeds", "Partitions", "StateDir", `unknown role "nope"`, "Alpaca", "DryRun.FailureRate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	ok := Config{
		Kafka: kafkasec.Plaintext("127.0.0.1:9092"), Partitions: 4, Replication: 1, StateDir: t.TempDir(),
		Roles: Roles{"position": true, "order-manager": true}, Execution: market.DefaultExecution(market.DryRun),
		CommandBacklog: 1, PollInterval: time.Second, StaleAfter: time.Second, NotPendingGrace: time.Second,
		Tuning: runner.DefaultTuning(),
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
}
