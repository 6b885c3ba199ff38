package main

// The deployment files under deploy/ against this binary (the checks that
// need no binary are in internal/deploycheck): every command line they
// run parses with its flags, every HEDGELINE_* setting they name is a flag
// (with a value the flag accepts), the committed KafkaTopics are what
// `topics --format strimzi` prints, and every ClickHouse query of the
// Grafana dashboards runs against the views of a real scenario and
// returns rows.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/hedgeline/hedgeline/internal/deploycheck"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/twmb/franz-go/pkg/kadm"
)

func deployRoot(t *testing.T) string {
	t.Helper()
	r, err := deploycheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var helpFlag = regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`)

// commandFlags is a command's flags, read from its --help: each command
// builds its flag set inside its run function.
func commandFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	var out bytes.Buffer
	if err := dispatch(context.Background(), []string{cmd, "--help"}, &out, io.Discard); err != nil {
		t.Fatalf("%s --help: %v", cmd, err)
	}
	flags := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = true
	}
	return flags
}

// flagOf is the flag a HEDGELINE_* setting sets.
func flagOf(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "HEDGELINE_")), "_", "-")
}

// envOnly are settings read from the environment that are no flag.
var envOnly = map[string]bool{keyEnv: true}

// Every hedgeline process of compose, the Kubernetes overlays and the
// systemd units: its command exists, its command line and settings parse
// (a run with --help appended parses every flag, then prints the help),
// every setting of its own is a flag of its command, every setting of a
// shared file is a flag of one of the commands reading it, and its roles
// are roles.
func TestDeployCommandLines(t *testing.T) {
	r := deployRoot(t)
	invs, err := deploycheck.Invocations(r)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]map[string]bool{}
	readers := map[*deploycheck.EnvSource][]string{}
	seen := map[string]bool{}
	for _, inv := range invs {
		cmd := inv.Command()
		if commands[cmd] == nil {
			t.Errorf("%s: hedgeline has no command %q", inv.Where, cmd)
			continue
		}
		seen[cmd] = true
		if flags[cmd] == nil {
			flags[cmd] = commandFlags(t, cmd)
		}
		for _, src := range inv.Shared {
			readers[src] = append(readers[src], cmd)
		}
		t.Run(inv.Where, func(t *testing.T) {
			for name := range inv.Env {
				if !flags[cmd][flagOf(name)] && !envOnly[name] {
					t.Errorf("%s is set, but %s has no --%s", name, cmd, flagOf(name))
				}
			}
			for _, src := range inv.Shared {
				for k, v := range src.Vars {
					if v != "" {
						t.Setenv(k, v)
					}
				}
			}
			for k, v := range inv.Env {
				if v != "" {
					t.Setenv(k, v)
				}
			}
			var out bytes.Buffer
			err := dispatch(context.Background(), append(slices.Clone(inv.Args), "--help"), &out, io.Discard)
			if err != nil || !strings.HasPrefix(out.String(), "usage: hedgeline "+cmd) {
				t.Errorf("hedgeline %s (with its settings): %v\n%s", strings.Join(inv.Args, " "), err, out.String())
			}
			if roles, ok := inv.Setting("roles"); ok {
				for _, role := range strings.Split(roles, ",") {
					if role != "all" && !slices.Contains(allRoles, role) {
						t.Errorf("--roles %s: %q is no role (%s)", roles, role, strings.Join(allRoles, ", "))
					}
				}
			}
		})
	}
	for src, cmds := range readers {
		for k := range src.Vars {
			if envOnly[k] || slices.ContainsFunc(cmds, func(c string) bool { return flags[c][flagOf(k)] }) {
				continue
			}
			t.Errorf("%s: %s is no flag of the commands that read it (%s)", src.Where, k, strings.Join(slices.Compact(slices.Sorted(slices.Values(cmds))), ", "))
		}
	}
	for _, want := range []string{"run", "serve", "topics", "broker", "clickhouse", "ingest"} {
		if !seen[want] {
			t.Errorf("no deployment file runs hedgeline %s", want)
		}
	}
}

// Every HEDGELINE_* name written under deploy/ and in docs/deploy.md,
// comments included, is a setting of some command.
func TestDeployEnvNamesExist(t *testing.T) {
	r := deployRoot(t)
	tokens, err := deploycheck.EnvTokens(r, filepath.Join(r, "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for name := range commands {
		if name == "help" {
			continue
		}
		for f := range commandFlags(t, name) {
			known[envName(f)] = true
		}
	}
	for name := range envOnly {
		known[name] = true
	}
	for name, files := range tokens {
		if !known[name] {
			t.Errorf("%s (in %s) is no flag of any command", name, strings.Join(files, ", "))
		}
	}
	if len(tokens) < 10 {
		t.Errorf("%d HEDGELINE_* names found: the walk is wrong", len(tokens))
	}
}

// The KafkaTopics of the Kubernetes base are the output of the command
// their first line names.
func TestDeployKafkaTopicsGenerated(t *testing.T) {
	r := deployRoot(t)
	path := deploycheck.KafkaTopicsFile(r)
	args, err := deploycheck.GeneratedBy(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := dispatch(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("hedgeline %s: %v", strings.Join(args, " "), err)
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, out.Bytes()) {
		rel, _ := filepath.Rel(filepath.Dir(r), path)
		t.Errorf("%s differs from `hedgeline %s`: regenerate it with\n  go run ./pipeline %s > %s",
			rel, strings.Join(args, " "), strings.Join(args, " "), rel)
	}
}

// dashRange is the time range the dashboards' queries are expanded with:
// wide enough for the sample's 2025 fills and the hedges placed now.
var dashRange = deploycheck.Range{
	From:     time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	To:       time.Now().Add(24 * time.Hour),
	Interval: time.Hour,
}

// Every ClickHouse query of the Grafana dashboards, macros and variables
// expanded as Grafana would, runs against the views of the sample
// scenario (the pipeline projecting into a ClickHouse server) and returns
// rows. Variables are filled from their own queries first.
func TestDeployDashboardQueries(t *testing.T) {
	r := deployRoot(t)
	files, err := deploycheck.Dashboards(r)
	if err != nil {
		t.Fatal(err)
	}
	var queries []deploycheck.Query
	for _, f := range files {
		_, qs, err := deploycheck.DashboardQueries(r, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Datasource == deploycheck.ClickHouseType {
				queries = append(queries, q)
			}
		}
	}
	if len(queries) < 5 {
		t.Fatalf("%d ClickHouse queries in %v", len(queries), files)
	}

	addr := kitStartBroker(t)
	dir := t.TempDir()
	chAddr := kitStartClickHouse(t, dir)
	kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"),
		"--clickhouse", chAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kitIngestSample(ctx, t, addr)

	conn, err := chgo.Open(&chgo.Options{Addr: []string{chAddr}, Auth: chgo.Auth{Database: sinks.DefaultDatabase, Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(sql string) (int, error) {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		return n, rows.Err()
	}
	// Judge the queries once the projectors have committed everything
	// (commits follow the acknowledged inserts): a query without rows then
	// is a wrong query, not a late view.
	adm := kadm.NewClient(kitNewProducer(t, addr))
	var groups []string
	for _, p := range sinks.Projections() {
		groups = append(groups, sinks.DefaultGroup(p.Name()))
	}
	kitWaitFor(t, 2*time.Minute, "the ClickHouse projectors to catch up", func() (bool, string) {
		lags, err := adm.Lag(ctx, groups...)
		if err != nil {
			return false, err.Error()
		}
		var behind []string
		for _, g := range groups {
			l, ok := lags[g]
			switch {
			case !ok || l.Error() != nil:
				behind = append(behind, fmt.Sprintf("%s: %v", g, l.Error()))
			case l.Lag.IsEmpty() || l.Lag.Total() != 0:
				behind = append(behind, fmt.Sprintf("%s: lag %d", g, l.Lag.Total()))
			}
		}
		return len(behind) == 0, strings.Join(behind, "; ")
	})

	vars := map[string][]string{}
	for _, q := range queries {
		if q.Variable == "" {
			continue
		}
		rows, err := conn.Query(ctx, q.Text)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatalf("%s: %v", q.Where, err)
			}
			vars[q.Variable] = append(vars[q.Variable], v)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		rows.Close()
		if len(vars[q.Variable]) == 0 {
			t.Errorf("%s: no values", q.Where)
		}
	}
	var counts []string
	for _, q := range queries {
		if q.Variable != "" {
			continue
		}
		sql, err := deploycheck.ExpandClickHouse(q.Text, dashRange, vars)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		n, err := count(sql)
		switch {
		case err != nil:
			t.Errorf("%s: %v\n%s", q.Where, err, sql)
		case n == 0:
			t.Errorf("%s: no rows\n%s", q.Where, sql)
		}
		counts = append(counts, fmt.Sprintf("%s: %d rows", q.Where, n))
	}
	t.Logf("dashboard queries:\n%s", strings.Join(counts, "\n"))
}
