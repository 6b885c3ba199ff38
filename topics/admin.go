package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Report says what Ensure did.
type Report struct {
	Created  []string // topics this call created
	Verified []string // topics that already existed and match their spec
}

// ErrMismatch is matched (errors.Is) by every MismatchError.
var ErrMismatch = errors.New("topic does not match its spec")

// MismatchError is one way an existing topic differs from its spec.
type MismatchError struct {
	Topic string
	Field string // "partitions", "replication.factor" or a config name
	Want  string
	Got   string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("topic %s: %s: want %s, got %s", e.Topic, e.Field, e.Want, e.Got)
}

func (e *MismatchError) Unwrap() error { return ErrMismatch }

// Ensure creates the topics of specs that are missing and verifies the ones
// that exist: partition count, replication factor (when the spec sets one)
// and every config in Spec.Configs. It never alters an existing topic: a
// wrong partition count breaks goka's copartitioning and a wrong retention or
// cleanup policy loses the system of record, and both need a human decision
// (and usually a migration). The error joins every problem found, each
// mismatch as a *MismatchError; the report is valid even with an error.
func Ensure(ctx context.Context, adm *kadm.Client, specs []Spec) (Report, error) {
	var rep Report
	if err := validateSpecs(specs); err != nil {
		return rep, fmt.Errorf("ensure topics: %w", err)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := listFresh(ctx, adm, names)
	if err != nil {
		return rep, fmt.Errorf("ensure topics: list: %w", err)
	}

	var errs []error
	raced := false
	var existing []Spec
	for _, s := range specs {
		d, ok := details[s.Name]
		switch {
		case ok && d.Err == nil:
			existing = append(existing, s)
			continue
		case ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %s: metadata: %w", s.Name, d.Err))
			continue
		}
		_, err := adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, configPtrs(s.Configs), s.Name)
		switch {
		case err == nil:
			rep.Created = append(rep.Created, s.Name)
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Created concurrently by another instance: verify it instead.
			existing = append(existing, s)
			raced = true
		default:
			errs = append(errs, fmt.Errorf("topic %s: create: %w", s.Name, err))
		}
	}
	if raced {
		if details, err = listFresh(ctx, adm, names); err != nil {
			return rep, fmt.Errorf("ensure topics: list after create: %w", err)
		}
	}
	if len(existing) > 0 {
		verified, err := verify(ctx, adm, existing, details)
		rep.Verified = verified
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("ensure topics: %w", err)
	}
	return rep, nil
}

// verify compares existing topics with their specs and returns the names of
// those that match.
func verify(ctx context.Context, adm *kadm.Client, specs []Spec, details kadm.TopicDetails) ([]string, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	var verified []string
	var errs []error
	for _, s := range specs {
		var bad []error
		d := details[s.Name]
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("topic %s: metadata: %w", s.Name, d.Err))
			continue
		}
		if got := int32(len(d.Partitions)); got != s.Partitions {
			bad = append(bad, mismatch(s.Name, "partitions", int(s.Partitions), int(got)))
		}
		if got := minReplicas(d); s.ReplicationFactor > 0 && got != int(s.ReplicationFactor) {
			bad = append(bad, mismatch(s.Name, "replication.factor", int(s.ReplicationFactor), got))
		}
		rc, err := configs.On(s.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: describe configs: %w", s.Name, err))
			continue
		}
		bad = append(bad, compareConfigs(s, rc.Configs)...)
		if len(bad) == 0 {
			verified = append(verified, s.Name)
		}
		errs = append(errs, bad...)
	}
	return verified, errors.Join(errs...)
}

// listFresh asks the broker instead of kadm's metadata cache: kadm caches
// answers, "unknown topic" included, for up to 5 s (kgo MetadataMinAge), so
// a topic created moments ago would read as missing. kadm bypasses the cache
// only for requests that want authorized operations.
func listFresh(ctx context.Context, adm *kadm.Client, names []string) (kadm.TopicDetails, error) {
	return adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
}

func compareConfigs(s Spec, have []kadm.Config) []error {
	got := make(map[string]string, len(have))
	for _, c := range have {
		got[c.Key] = c.MaybeValue()
	}
	keys := make([]string, 0, len(s.Configs))
	for k := range s.Configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var bad []error
	for _, k := range keys {
		want := s.Configs[k]
		g, ok := got[k]
		if !ok {
			bad = append(bad, &MismatchError{Topic: s.Name, Field: k, Want: want, Got: "(not reported)"})
			continue
		}
		if normalizeConfig(k, g) != normalizeConfig(k, want) {
			bad = append(bad, &MismatchError{Topic: s.Name, Field: k, Want: want, Got: g})
		}
	}
	return bad
}

// normalizeConfig makes list configs order-insensitive: Kafka accepts
// "delete,compact" and "compact,delete" as the same policy.
func normalizeConfig(key, v string) string {
	if key != "cleanup.policy" {
		return strings.TrimSpace(v)
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func minReplicas(d kadm.TopicDetail) int {
	n := -1
	for _, p := range d.Partitions {
		if n < 0 || len(p.Replicas) < n {
			n = len(p.Replicas)
		}
	}
	return n
}

func mismatch(topic, field string, want, got int) error {
	return &MismatchError{Topic: topic, Field: field, Want: strconv.Itoa(want), Got: strconv.Itoa(got)}
}

func configPtrs(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// validateSpecs rejects specs Ensure could not create as written; -1
// replication means the broker default, as in CreateTopics.
func validateSpecs(specs []Spec) error {
	var errs []error
	seen := make(map[string]bool, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("spec %d: empty topic name", i))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("spec %d: topic %s listed twice", i, s.Name))
		}
		seen[s.Name] = true
		if s.Partitions < 1 {
			errs = append(errs, fmt.Errorf("topic %s: partitions must be >= 1, got %d", s.Name, s.Partitions))
		}
		if s.ReplicationFactor < 1 && s.ReplicationFactor != -1 {
			errs = append(errs, fmt.Errorf("topic %s: replication factor must be >= 1 or -1, got %d", s.Name, s.ReplicationFactor))
		}
	}
	return errors.Join(errs...)
}
