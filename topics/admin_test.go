package topics

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func catalogNames(specs []Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestEnsureCreatesThenVerifies(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	adm := newAdmin(t, c)
	ctx := testCtx(t)
	specs := Catalog(4, 1)

	rep, err := Ensure(ctx, adm, specs)
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	if got, want := sorted(rep.Created), catalogNames(specs); !slices.Equal(got, want) || len(rep.Verified) != 0 {
		t.Fatalf("first Ensure created %v, verified %v; want created %v", got, rep.Verified, want)
	}
	details, err := listFresh(ctx, adm, catalogNames(specs))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if n := len(details[s.Name].Partitions); n != 4 {
			t.Errorf("%s has %d partitions, want 4", s.Name, n)
		}
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, PositionEvents)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfgs.On(PositionEvents, nil)
	for _, cf := range rc.Configs {
		if v, ok := specs[0].Configs[cf.Key]; ok && cf.MaybeValue() != v {
			t.Errorf("%s %s = %s, want %s", PositionEvents, cf.Key, cf.MaybeValue(), v)
		}
	}

	rep, err = Ensure(ctx, adm, specs)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if got, want := sorted(rep.Verified), catalogNames(specs); len(rep.Created) != 0 || !slices.Equal(got, want) {
		t.Fatalf("second Ensure created %v, verified %v; want a no-op verifying all", rep.Created, got)
	}
}

func TestEnsureReportsMismatches(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	adm := newAdmin(t, c)
	ctx := testCtx(t)
	forever := func(policy string) map[string]*string {
		return map[string]*string{"cleanup.policy": kadm.StringPtr(policy), "retention.ms": kadm.StringPtr("-1"), "retention.bytes": kadm.StringPtr("-1")}
	}
	mustCreate := func(p int32, cfg map[string]*string, topic string) {
		t.Helper()
		if _, err := adm.CreateTopic(ctx, p, 1, cfg, topic); err != nil {
			t.Fatalf("pre-create %s: %v", topic, err)
		}
	}
	mustCreate(2, forever("delete"), PositionEvents)      // wrong partitions
	mustCreate(4, forever("compact"), OnChainTradeEvents) // compacted system of record
	mustCreate(4, forever("compact,delete"), PnLEvents)   // compacted too
	mustCreate(4, forever("delete"), BrokerAuthCommands)  // right
	mustCreate(4, nil, OffchainOrderEvents)               // broker default retention

	rep, err := Ensure(ctx, adm, Catalog(4, 1))
	if err == nil {
		t.Fatal("Ensure accepted mismatching topics")
	}
	var got []MismatchError
	for _, e := range unwrapAll(err) {
		var m *MismatchError
		if errors.As(e, &m) && e == error(m) {
			got = append(got, *m)
		}
	}
	want := []MismatchError{
		{Topic: OnChainTradeEvents, Field: "cleanup.policy", Want: "delete", Got: "compact"},
		{Topic: PositionEvents, Field: "partitions", Want: "4", Got: "2"},
		{Topic: OffchainOrderEvents, Field: "retention.ms", Want: "-1", Got: "604800000"},
		{Topic: PnLEvents, Field: "cleanup.policy", Want: "delete", Got: "compact,delete"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("mismatches:\n got %+v\nwant %+v", got, want)
	}
	for _, s := range []string{"topic position.events: partitions: want 4, got 2", "topic onchain-trade.events: cleanup.policy: want delete, got compact"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q:\n%v", s, err)
		}
	}
	if !errors.Is(err, ErrMismatch) {
		t.Errorf("error is not ErrMismatch: %v", err)
	}
	if len(rep.Created) != 11 || !slices.Equal(rep.Verified, []string{BrokerAuthCommands}) {
		t.Errorf("report created %v verified %v; want the 11 missing created, %s verified", rep.Created, rep.Verified, BrokerAuthCommands)
	}

	// Nothing existing was altered.
	details, err := listFresh(ctx, adm, []string{PositionEvents})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[PositionEvents].Partitions); n != 2 {
		t.Errorf("%s now has %d partitions; Ensure must not alter it", PositionEvents, n)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, OnChainTradeEvents)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfgs.On(OnChainTradeEvents, nil)
	for _, cf := range rc.Configs {
		if cf.Key == "cleanup.policy" && cf.MaybeValue() != "compact" {
			t.Errorf("%s cleanup.policy is now %s; Ensure must not alter it", OnChainTradeEvents, cf.MaybeValue())
		}
	}
}

func unwrapAll(err error) []error {
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = append(out, unwrapAll(e)...)
		}
	}
	return out
}

func TestEnsureReplicationFactor(t *testing.T) {
	t.Parallel()
	c := newCluster(t, kfake.NumBrokers(3))
	adm := newAdmin(t, c)
	ctx := testCtx(t)
	specs := Catalog(2, 3)[:1]
	if _, err := adm.CreateTopic(ctx, 2, 1, configPtrs(specs[0].Configs), specs[0].Name); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(ctx, adm, specs)
	var m *MismatchError
	if !errors.As(err, &m) || m.Field != "replication.factor" || m.Want != "3" || m.Got != "1" {
		t.Errorf("Ensure error = %v, want a replication.factor mismatch 3 vs 1", err)
	}
}

func TestEnsureRejectsBadSpecs(t *testing.T) {
	specs := []Spec{{Name: "a", Partitions: 0, ReplicationFactor: 1}, {Name: "a", Partitions: 1, ReplicationFactor: 0}, {Partitions: 1, ReplicationFactor: 1}}
	// A nil client is never touched: specs are checked first.
	_, err := Ensure(context.Background(), nil, specs)
	if err == nil {
		t.Fatal("accepted bad specs")
	}
	for _, s := range []string{"partitions must be >= 1", "listed twice", "replication factor", "empty topic name"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q: %v", s, err)
		}
	}
}
