package topics

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Status is how a topic on the cluster compares with the catalog.
type Status string

const (
	StatusOK      Status = "ok"      // exists and matches its spec
	StatusMissing Status = "missing" // in the catalog, not on the cluster
	StatusDiffers Status = "differs" // exists, with other partitions, replication or configs
	StatusExtra   Status = "extra"   // on the cluster, not in the catalog
)

// Drift is one field where an existing topic differs from its spec.
type Drift struct {
	Field string `json:"field"` // "partitions", "replication.factor" or a config name
	Want  string `json:"want"`
	Have  string `json:"have"`
}

// TopicStatus is one topic of Compare's answer. Want is zero for an extra
// topic, Have for a missing one.
type TopicStatus struct {
	Name           string `json:"topic"`
	Kind           Kind   `json:"kind,omitempty"`
	AggregateType  string `json:"aggregate_type,omitempty"`
	WantPartitions int32  `json:"want_partitions,omitempty"`
	HavePartitions int32  `json:"have_partitions,omitempty"`
	// Replication factors: the catalog's, and the fewest replicas of any
	// partition on the cluster.
	WantReplication int16   `json:"want_replication,omitempty"`
	HaveReplication int16   `json:"have_replication,omitempty"`
	Drift           []Drift `json:"drift,omitempty"`
	Status          Status  `json:"status"`
}

// Compare reads every (non-internal) topic of the cluster and compares it
// with specs, as Ensure would verify it, without creating or altering
// anything. The answer lists specs in their order, then the cluster's
// other topics by name.
func Compare(ctx context.Context, adm *kadm.Client, specs []Spec) ([]TopicStatus, error) {
	details, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var present []string
	for _, s := range specs {
		if d, ok := details[s.Name]; ok && d.Err == nil {
			present = append(present, s.Name)
		}
	}
	var configs kadm.ResourceConfigs
	if len(present) > 0 {
		if configs, err = adm.DescribeTopicConfigs(ctx, present...); err != nil {
			return nil, fmt.Errorf("describe topic configs: %w", err)
		}
	}
	out := make([]TopicStatus, 0, len(specs))
	known := make(map[string]bool, len(specs))
	for _, s := range specs {
		known[s.Name] = true
		st := TopicStatus{Name: s.Name, Kind: s.Kind, AggregateType: s.AggregateType, WantPartitions: s.Partitions,
			WantReplication: s.ReplicationFactor, Status: StatusMissing}
		d, ok := details[s.Name]
		if !ok || d.Err != nil {
			out = append(out, st)
			continue
		}
		st.HavePartitions = int32(len(d.Partitions))
		if st.HavePartitions != s.Partitions {
			st.Drift = append(st.Drift, Drift{"partitions", fmt.Sprint(s.Partitions), fmt.Sprint(st.HavePartitions)})
		}
		got := minReplicas(d)
		st.HaveReplication = int16(got)
		if s.ReplicationFactor > 0 && got != int(s.ReplicationFactor) {
			st.Drift = append(st.Drift, Drift{"replication.factor", fmt.Sprint(s.ReplicationFactor), fmt.Sprint(got)})
		}
		rc, err := configs.On(s.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return nil, fmt.Errorf("topic %s: describe configs: %w", s.Name, err)
		}
		for _, e := range compareConfigs(s, rc.Configs) {
			if m, ok := e.(*MismatchError); ok {
				st.Drift = append(st.Drift, Drift{m.Field, m.Want, m.Got})
			}
		}
		st.Status = StatusOK
		if len(st.Drift) > 0 {
			st.Status = StatusDiffers
		}
		out = append(out, st)
	}
	var extra []string
	for name, d := range details {
		if !known[name] && d.Err == nil {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		d := details[name]
		out = append(out, TopicStatus{Name: name, HavePartitions: int32(len(d.Partitions)), HaveReplication: int16(minReplicas(d)), Status: StatusExtra})
	}
	return out, nil
}
