package sinks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	chembed "github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/topics"
)

const rp = `'/clickhouse/tables/{uuid}/{shard}', '{replica}'`

func TestClusterStatement(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS t (a String, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY a SETTINGS x = 1",
			"CREATE TABLE IF NOT EXISTS t ON CLUSTER `c` (a String, v UInt64) ENGINE = ReplicatedReplacingMergeTree(" + rp + ", v) ORDER BY a SETTINGS x = 1"},
		{"CREATE TABLE t (a String) ENGINE = ReplacingMergeTree\nORDER BY a",
			"CREATE TABLE t ON CLUSTER `c` (a String) ENGINE = ReplicatedReplacingMergeTree(" + rp + ")\nORDER BY a"},
		{"CREATE TABLE `db`.`t` (a String) ENGINE MergeTree() ORDER BY a",
			"CREATE TABLE `db`.`t` ON CLUSTER `c` (a String) ENGINE ReplicatedMergeTree(" + rp + ") ORDER BY a"},
		{"create table db.t uuid '123e4567-e89b-12d3-a456-426614174000' (a String) engine=SummingMergeTree((a)) order by a",
			"create table db.t uuid '123e4567-e89b-12d3-a456-426614174000' ON CLUSTER `c` (a String) engine=ReplicatedSummingMergeTree(" + rp + ", (a)) order by a"},
		// ENGINE in a comment, a string, a quoted name or a column list is not the engine clause.
		{"-- ENGINE = Memory\nCREATE TABLE t (`ENGINE` String DEFAULT 'ENGINE = Log' /* ENGINE = Log */) ENGINE = CollapsingMergeTree(s) ORDER BY `ENGINE`",
			"-- ENGINE = Memory\nCREATE TABLE t ON CLUSTER `c` (`ENGINE` String DEFAULT 'ENGINE = Log' /* ENGINE = Log */) ENGINE = ReplicatedCollapsingMergeTree(" + rp + ", s) ORDER BY `ENGINE`"},
		// The engine comes before the query; the query's "engine" column is no engine.
		{"CREATE TABLE t ENGINE = MergeTree ORDER BY e AS SELECT engine AS e FROM system.tables",
			"CREATE TABLE t ON CLUSTER `c` ENGINE = ReplicatedMergeTree(" + rp + ") ORDER BY e AS SELECT engine AS e FROM system.tables"},
		{"CREATE TABLE t_replay AS t", "CREATE TABLE t_replay ON CLUSTER `c` AS t"},
		{"CREATE TABLE t2 AS t ENGINE = AggregatingMergeTree ORDER BY a",
			"CREATE TABLE t2 ON CLUSTER `c` AS t ENGINE = ReplicatedAggregatingMergeTree(" + rp + ") ORDER BY a"},
		{"CREATE TABLE t (a String) ENGINE = ReplicatedMergeTree('/x/{shard}', '{replica}') ORDER BY a",
			"CREATE TABLE t ON CLUSTER `c` (a String) ENGINE = ReplicatedMergeTree('/x/{shard}', '{replica}') ORDER BY a"},
		{"CREATE TABLE t (a String) ENGINE = Null", "CREATE TABLE t ON CLUSTER `c` (a String) ENGINE = Null"},
		{"CREATE MATERIALIZED VIEW mv TO t AS SELECT * FROM s", "CREATE MATERIALIZED VIEW mv ON CLUSTER `c` TO t AS SELECT * FROM s"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS mv ENGINE = VersionedCollapsingMergeTree(s, v) ORDER BY a AS SELECT a FROM s",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS mv ON CLUSTER `c` ENGINE = ReplicatedVersionedCollapsingMergeTree(" + rp + ", s, v) ORDER BY a AS SELECT a FROM s"},
		{"CREATE OR REPLACE VIEW v AS\nSELECT * FROM t FINAL", "CREATE OR REPLACE VIEW v ON CLUSTER `c` AS\nSELECT * FROM t FINAL"},
		{"CREATE VIEW IF NOT EXISTS v AS SELECT 1", "CREATE VIEW IF NOT EXISTS v ON CLUSTER `c` AS SELECT 1"},
		{"CREATE DICTIONARY d (k UInt64, v String) PRIMARY KEY k SOURCE(CLICKHOUSE(TABLE 't')) LAYOUT(FLAT()) LIFETIME(0)",
			"CREATE DICTIONARY d ON CLUSTER `c` (k UInt64, v String) PRIMARY KEY k SOURCE(CLICKHOUSE(TABLE 't')) LAYOUT(FLAT()) LIFETIME(0)"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS x UInt8 DEFAULT 0", "ALTER TABLE t ON CLUSTER `c` ADD COLUMN IF NOT EXISTS x UInt8 DEFAULT 0"},
		{"ALTER TABLE db.t DELETE WHERE a = 'on cluster'", "ALTER TABLE db.t ON CLUSTER `c` DELETE WHERE a = 'on cluster'"},
		{"DROP TABLE IF EXISTS t SYNC", "DROP TABLE IF EXISTS t ON CLUSTER `c` SYNC"},
		{"DROP VIEW v", "DROP VIEW v ON CLUSTER `c`"},
		{"TRUNCATE TABLE IF EXISTS t", "TRUNCATE TABLE IF EXISTS t ON CLUSTER `c`"},
		{"RENAME TABLE a TO b, c TO d -- done", "RENAME TABLE a TO b, c TO d ON CLUSTER `c` -- done"},
		{"EXCHANGE TABLES a AND b", "EXCHANGE TABLES a AND b ON CLUSTER `c`"},
		{"INSERT INTO t SELECT * FROM s", "INSERT INTO t SELECT * FROM s"},
	} {
		got, err := ClusterStatement(c.in, "c")
		if err != nil {
			t.Errorf("ClusterStatement(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ClusterStatement(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	// Queries' references to the rewrite's objects are qualified: a replica
	// runs DDL received ON CLUSTER in its own default database.
	r := ClusterRewrite{Cluster: "c", Database: "hl", Objects: []string{"t", "s", "pv", "odd`name"}}
	for _, c := range []struct{ in, want string }{
		{"CREATE VIEW v AS SELECT * FROM t FINAL AS x LEFT JOIN (SELECT a FROM s FINAL) AS y ON x.a = y.a JOIN pv(p = 1) USING a",
			"CREATE VIEW v ON CLUSTER `c` AS SELECT * FROM `hl`.t FINAL AS x LEFT JOIN (SELECT a FROM `hl`.s FINAL) AS y ON x.a = y.a JOIN `hl`.pv(p = 1) USING a"},
		{"CREATE OR REPLACE VIEW v AS SELECT t FROM other.t, system.tables WHERE t IN (SELECT 1 FROM numbers(1)) FROM `odd``name`",
			"CREATE OR REPLACE VIEW v ON CLUSTER `c` AS SELECT t FROM other.t, system.tables WHERE t IN (SELECT 1 FROM numbers(1)) FROM `hl`.`odd``name`"},
		{"CREATE TABLE t2 AS t", "CREATE TABLE t2 ON CLUSTER `c` AS `hl`.t"},
		{"CREATE TABLE t2 (a String DEFAULT 'FROM t') ENGINE = MergeTree ORDER BY a AS SELECT a FROM s",
			"CREATE TABLE t2 ON CLUSTER `c` (a String DEFAULT 'FROM t') ENGINE = ReplicatedMergeTree(" + rp + ") ORDER BY a AS SELECT a FROM `hl`.s"},
		{"ALTER TABLE t DELETE WHERE a IN (SELECT a FROM s)", "ALTER TABLE t ON CLUSTER `c` DELETE WHERE a IN (SELECT a FROM `hl`.s)"},
		{"INSERT INTO t SELECT * FROM s", "INSERT INTO t SELECT * FROM s"},
	} {
		if got, err := r.Statement(c.in); err != nil || got != c.want {
			t.Errorf("Statement(%q)\n got %q, %v\nwant %q", c.in, got, err, c.want)
		}
	}
	for in, want := range map[string]string{
		"-- x\nCREATE TABLE IF NOT EXISTS db.`a b` (x String) ENGINE = MergeTree ORDER BY x": "a b",
		"CREATE OR REPLACE VIEW v AS SELECT 1":                                               "v",
		"CREATE MATERIALIZED VIEW mv TO t AS SELECT 1":                                       "mv",
		"ALTER TABLE t ADD COLUMN x UInt8":                                                   "",
	} {
		if got := CreatedObject(in); got != want {
			t.Errorf("CreatedObject(%q) = %q, want %q", in, got, want)
		}
	}

	if got, err := ClusterStatement("DROP TABLE t", "my-cluster.1"); err != nil || got != "DROP TABLE t ON CLUSTER `my-cluster.1`" {
		t.Errorf("dashed cluster name: %q, %v", got, err)
	}

	for _, c := range []struct{ in, cluster, want string }{
		{"CREATE TABLE t (a String) ENGINE = Memory", "c", "engine Memory keeps its rows on one server"},
		{"CREATE TABLE t (a String) ORDER BY a", "c", "without ENGINE"},
		{"CREATE MATERIALIZED VIEW mv AS SELECT 1", "c", "without ENGINE"},
		{"CREATE TEMPORARY TABLE t (a String)", "c", "CREATE TEMPORARY: not supported"},
		{"CREATE DATABASE d", "c", "CREATE DATABASE: not supported"},
		{"DROP DATABASE d", "c", "DROP DATABASE: not supported"},
		{"OPTIMIZE TABLE t FINAL", "c", "OPTIMIZE statements are not supported"},
		{"SYSTEM SYNC REPLICA t", "c", "SYSTEM statements are not supported"},
		{"CREATE TABLE t ON CLUSTER x (a String) ENGINE = MergeTree ORDER BY a", "c", "already has an ON CLUSTER"},
		{"ALTER TABLE t ON CLUSTER '{cluster}' ADD COLUMN x UInt8", "c", "already has an ON CLUSTER"},
		{"CREATE TABLE t (a String DEFAULT 'x) ENGINE = MergeTree", "c", "unterminated '"},
		{"CREATE TABLE t (a String ENGINE = MergeTree", "c", "unbalanced parentheses"},
		{"DROP TABLE t", "bad name", "cluster name"},
		{"DROP TABLE t", "", "cluster name"},
	} {
		got, err := ClusterStatement(c.in, c.cluster)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ClusterStatement(%q, %q) = %q, %v; want an error with %q", c.in, c.cluster, got, err, c.want)
		}
	}
}

// TestClusterMigrations rewrites every embedded migration, whatever files
// there are: each table a ReplicatedReplacingMergeTree or another
// Replicated*, each statement ON CLUSTER (a new migration that cannot run on
// a cluster fails here).
func TestClusterMigrations(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	cms, err := ClusterMigrations(ms, testCluster, "hedgeline")
	if err != nil {
		t.Fatal(err)
	}
	engine := regexp.MustCompile(`(?i)\bENGINE\s*=?\s*([A-Za-z]+)`)
	for i, m := range cms {
		for j, s := range m.Statements {
			insert := strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stripComments(s))), "INSERT")
			if !strings.Contains(s, "ON CLUSTER `"+testCluster+"`") && !insert {
				t.Errorf("%s statement %d has no ON CLUSTER:\n%s", m.File, j+1, s)
			}
			if e := engine.FindStringSubmatch(stripComments(s)); e != nil && !strings.HasPrefix(e[1], "Replicated") && !slices.Contains(stateless, e[1]) {
				t.Errorf("%s statement %d has engine %s", m.File, j+1, e[1])
			}
			if m.Checksum != ms[i].Checksum || ms[i].Statements[j] == s && !insert {
				t.Errorf("%s statement %d: the original changed or the rewrite did nothing", m.File, j+1)
			}
		}
	}
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// clusterDDL is every statement cluster mode sends: the rewritten
// migrations and the DDL of Open, Migrate, the shadow swap and the
// projectors' replica sync.
func clusterDDL(t *testing.T) []string {
	t.Helper()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	cms, err := ClusterMigrations(ms, testCluster, "hedgeline")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range cms {
		out = append(out, m.Statements...)
	}
	sm, err := ClusterStatement(migrationsTable, testCluster)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, sm, createDatabaseSQL("hedgeline", testCluster),
		dropTableSQL("hedgeline", "position_view_replay", testCluster), copyTableSQL("hedgeline", "position_view_replay", "position_view", testCluster),
		syncReplicasSQL("hedgeline", "position_view_replay", testCluster), exchangeSQL("hedgeline", "position_view", "position_view_replay", testCluster),
		syncReplicaSQL("position_view"))
}

// declusterRE undoes the rewrite in ClickHouse's own formatting of a
// statement: what is left must be the original statement's formatting.
var declusterRE = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(` ON CLUSTER ` + testCluster), ""},
	{regexp.MustCompile(`\bhedgeline\.`), ""},
	{regexp.MustCompile(`Replicated([A-Za-z]*MergeTree)\('/clickhouse/tables/\{uuid\}/\{shard\}', '\{replica\}'\)`), "$1"},
	{regexp.MustCompile(`Replicated([A-Za-z]*MergeTree)\('/clickhouse/tables/\{uuid\}/\{shard\}', '\{replica\}', `), "$1("},
}

// TestClusterDDLParses hands every statement of cluster mode to the
// engine's parser (formatQuery parses without running): each must parse,
// name the cluster, and differ from the single-server statement only by
// the ON CLUSTER clause and the replicated engine.
func TestClusterDDLParses(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	format := func(q string) (string, error) {
		var out string
		err := db.Conn().QueryRow(ctx, "SELECT formatQuery({q:String})", named("q", q)).Scan(&out)
		return out, err
	}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var single []string
	for _, m := range ms {
		single = append(single, m.Statements...)
	}
	single = append(single, migrationsTable, createDatabaseSQL("hedgeline", ""),
		dropTableSQL("hedgeline", "position_view_replay", ""), copyTableSQL("hedgeline", "position_view_replay", "position_view", ""),
		"", exchangeSQL("hedgeline", "position_view", "position_view_replay", ""), "")
	for i, q := range clusterDDL(t) {
		f, err := format(q)
		if err != nil {
			t.Errorf("ClickHouse does not parse\n%s\n: %v", q, err)
			continue
		}
		if !strings.Contains(f, "ON CLUSTER "+testCluster) && !strings.HasPrefix(q, "SYSTEM SYNC REPLICA `") {
			t.Errorf("formatted without ON CLUSTER:\n%s", f)
		}
		if single[i] == "" {
			continue
		}
		want, err := format(single[i])
		if err != nil {
			t.Fatal(err)
		}
		got := f
		for _, d := range declusterRE {
			got = d.re.ReplaceAllString(got, d.repl)
		}
		if got, err = format(got); err != nil || got != want {
			t.Errorf("cluster statement differs from the single-server one by more than the cluster:\n got %s\nwant %s\n(%v)", got, want, err)
		}
	}
}

// TestClusterEmbedded runs cluster mode's DDL against the embedded engine,
// whose config defines testCluster (one shard, the engine its one replica,
// the {shard} and {replica} macros and an in-process test Keeper). The
// engine is clickhouse-local: it refuses ON CLUSTER queries and cannot
// activate replicated tables, so this test checks that (the docs say so)
// and then runs each statement as the distributed DDL worker would run it
// on a replica: without the clause, with the UUID the initiator adds to a
// CREATE TABLE. The replicated tables it creates are real (engine,
// arguments, version column, settings and macros are checked by the
// engine) but read-only, so the ALTERs and views that need them are left
// to TestClusterDDLParses.
func TestClusterEmbedded(t *testing.T) {
	needCH(t)
	ctx := testCtx(t)

	// Open in cluster mode reaches the server: an unknown cluster is
	// caught before any DDL, a known one fails at the first ON CLUSTER.
	_, err := Open(ctx, Config{Addr: chServer.Addr(), Database: "t_cluster_nope", Cluster: "nope"})
	if err == nil || !strings.Contains(err.Error(), "cluster nope is not defined") {
		t.Errorf("Open on an undefined cluster: %v", err)
	}
	db, err := Open(ctx, Config{Addr: chServer.Addr(), Database: "t_cluster_open", Cluster: testCluster})
	if err == nil {
		db.Close()
		t.Fatalf("the embedded engine ran CREATE DATABASE ON CLUSTER: docs/clickhouse-cluster.md says it cannot; " +
			"update the docs and run TestClusterScenario against it")
	}
	if !strings.Contains(err.Error(), "Replicated DDL queries are disabled") {
		t.Errorf("Open on the embedded cluster: %v, want the engine's refusal of ON CLUSTER", err)
	}

	// A fresh database, created without a cluster: the statements name it.
	db = openDB(t, chServer.Addr(), "t_cluster_embedded_"+strings.ReplaceAll(newUUID(t)[:8], "-", ""), false)
	t.Cleanup(func() {
		_ = db.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(db.Database())+" SYNC")
	})
	var uuids []string
	for _, q := range clusterDDL(t) {
		if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stripComments(q))), "CREATE TABLE") || strings.Contains(q, "_replay") {
			continue // the shadow copy comes below
		}
		u := newUUID(t)
		uuids = append(uuids, u)
		if err := db.Conn().Exec(ctx, strings.Replace(q, onCluster(testCluster), " UUID '"+u+"'", 1)); err != nil {
			t.Fatalf("per-replica CREATE:\n%s\n: %v", q, err)
		}
	}
	// Every table of the views is replicated, on its own path under its UUID.
	rows, err := db.Conn().Query(ctx, "SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = currentDatabase() ORDER BY table")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var table, path, replica string
		if err := rows.Scan(&table, &path, &replica); err != nil {
			t.Fatal(err)
		}
		got[table] = path
		if replica != chembed.ClusterReplica || !strings.HasSuffix(path, "/"+chembed.ClusterShard) {
			t.Errorf("%s: path %s replica %s", table, path, replica)
		}
	}
	rows.Close()
	for _, table := range append(ViewNames(), ParkedTable.Name, "schema_migrations") {
		if !strings.HasPrefix(got[table], "/clickhouse/tables/") {
			t.Errorf("%s is not replicated (system.replicas: %v)", table, got)
		}
	}
	if len(got) != len(uuids) {
		t.Errorf("%d replicated tables, created %d", len(got), len(uuids))
	}

	// The shadow swap on replicated tables: the copy gets its own path,
	// and each path stays with its data across the exchange.
	shadow := "position_view_replay"
	stmts := []string{
		copyTableSQL(db.Database(), shadow, "position_view", testCluster),
		exchangeSQL(db.Database(), "position_view", shadow, testCluster),
	}
	u := newUUID(t)
	if err := db.Conn().Exec(ctx, strings.Replace(stmts[0], onCluster(testCluster), " UUID '"+u+"'", 1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Conn().Exec(ctx, strings.Replace(stmts[1], onCluster(testCluster), "", 1)); err != nil {
		t.Fatal(err)
	}
	var live string
	if err := db.Conn().QueryRow(ctx, "SELECT zookeeper_path FROM system.replicas WHERE database = currentDatabase() AND table = 'position_view'").Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != "/clickhouse/tables/"+u+"/"+chembed.ClusterShard {
		t.Errorf("after the exchange position_view has path %s, want the shadow's (uuid %s)", live, u)
	}
	if err := db.Conn().Exec(ctx, strings.Replace(dropTableSQL(db.Database(), shadow, testCluster), onCluster(testCluster), "", 1)); err != nil {
		t.Fatal(err)
	}
	// The limit that keeps the rest of cluster mode from running here.
	err = db.Conn().Exec(ctx, "INSERT INTO position_view (aggregate_id) SETTINGS insert_keeper_max_retries = 0 VALUES ('x')")
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("insert into a replicated table of the embedded engine: %v, want its read-only error", err)
	}
}

func newUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// syncRecorder records the order of a projector's replica syncs and state
// reads, and fails the first sync as a lost connection would.
type syncRecorder struct {
	Writer
	mu     sync.Mutex
	calls  []string
	failed bool
}

func (s *syncRecorder) SyncReplicas(ctx context.Context, tables []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "sync "+strings.Join(tables, ","))
	if !s.failed {
		s.failed = true
		return fmt.Errorf("sync replica: %w", errConnReset)
	}
	return s.Writer.SyncReplicas(ctx, tables)
}

func (s *syncRecorder) ReadStates(ctx context.Context, table, keyColumn, versionColumn string, keys []string) (map[string]StoredState, error) {
	s.mu.Lock()
	s.calls = append(s.calls, "read "+table)
	s.mu.Unlock()
	return s.Writer.ReadStates(ctx, table, keyColumn, versionColumn, keys)
}

// TestProjectorSyncsReplicas: before a projector reads back any state (which
// on a cluster another instance may have written through another replica),
// it syncs the replicas of its tables, retrying a failed sync.
func TestProjectorSyncsReplicas(t *testing.T) {
	db := testDB(t)
	addr := startKafka(t)
	s := newScenario(t)
	produce(t, producer(t, addr), clone(s.all(topics.PositionEvents))...)
	w := &syncRecorder{Writer: db}
	r := startProjector(t, w, addr, NewPositionsProjection(), Options{BackoffMax: 100 * time.Millisecond})
	r.waitCommitted(t, addr, time.Minute)
	r.stop(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	want := "sync parked_events,hedge_view,position_view"
	if len(w.calls) < 3 || w.calls[0] != want || w.calls[1] != want || !strings.HasPrefix(w.calls[2], "read ") {
		t.Errorf("calls = %q, want a failed and a retried %q before the first read", w.calls, want)
	}
	if n := countRows(t, db, "SELECT count() FROM position_view FINAL WHERE aggregate_id IN ('AAPL', 'NVDA')"); n != 2 {
		t.Errorf("position_view has %d of the scenario's 2 positions", n)
	}
}

// A real cluster for TestClusterScenario: the address of one replica
// (native protocol) and the cluster's name; user and password optional.
const (
	envClusterAddr     = "HEDGELINE_TEST_CLICKHOUSE_CLUSTER_ADDR"
	envClusterName     = "HEDGELINE_TEST_CLICKHOUSE_CLUSTER"
	envClusterUser     = "HEDGELINE_TEST_CLICKHOUSE_CLUSTER_USER"
	envClusterPassword = "HEDGELINE_TEST_CLICKHOUSE_CLUSTER_PASSWORD"
)

// TestClusterScenario projects the scenario into a real ClickHouse cluster
// in cluster mode and into the embedded engine without one: every table and
// view is checked field by field, equals the single-server one, and a
// replay (shadow tables swapped ON CLUSTER) rebuilds the same. The embedded
// engine cannot be the cluster (TestClusterEmbedded), so this runs only
// against one named by HEDGELINE_TEST_CLICKHOUSE_CLUSTER(_ADDR).
func TestClusterScenario(t *testing.T) {
	addr, cluster := os.Getenv(envClusterAddr), os.Getenv(envClusterName)
	if addr == "" || cluster == "" {
		t.Skipf("no ClickHouse cluster: set %s (a replica's host:port) and %s (its one-shard cluster); "+
			"the embedded engine runs no ON CLUSTER DDL and no replicated tables", envClusterAddr, envClusterName)
	}
	plain := testDB(t)
	ctx := testCtx(t)
	cfg := Config{Addr: addr, User: os.Getenv(envClusterUser), Password: os.Getenv(envClusterPassword),
		Database: "t_cluster_scenario_" + strings.ReplaceAll(newUUID(t)[:8], "-", ""), Cluster: cluster}
	db, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = db.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(cfg.Database)+onCluster(cluster)+" SYNC")
		_ = db.Close()
	})
	if _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var replicated uint64
	if err := db.Conn().QueryRow(ctx, "SELECT count() FROM system.replicas WHERE database = currentDatabase()").Scan(&replicated); err != nil ||
		int(replicated) != len(ViewNames())+2 { // + parked_events, schema_migrations
		t.Errorf("%d replicated tables (%v), want %d", replicated, err, len(ViewNames())+2)
	}

	s, kafkaAddr := produceScenario(t)
	runAll(t, plain, kafkaAddr, Options{Group: "plain"})
	runAll(t, db, kafkaAddr, Options{Group: "cluster"})
	checkScenario(t, db, s)
	t.Run("queries", func(t *testing.T) { checkQueries(t, db, s) })
	same := func(when string) {
		want, got := checksums(t, plain), checksums(t, db)
		for table, w := range want {
			if got[table] != w {
				t.Errorf("%s: %s on the cluster %+v, single server %+v", when, table, got[table], w)
			}
		}
		pw, err := plain.PnL(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		pg, err := db.PnL(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		jw, _ := json.Marshal(pw)
		jg, _ := json.Marshal(pg)
		if string(jw) != string(jg) {
			t.Errorf("%s: PnL on the cluster %s, single server %s", when, jg, jw)
		}
	}
	same("projected")

	err = Replay(ctx, db, kafkasec.Plaintext(kafkaAddr), ReplayOptions{
		KafkaOpts: []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkScenario(t, db, s)
	same("replayed")
}

// TestClusterViews creates the views as cluster mode makes each replica
// create them: from a session in the server's default database (a
// server runs DDL received ON CLUSTER there), named with the database the
// initiator adds, with the queries the rewrite qualified. Over the
// projected scenario they must return what the single-server views do.
func TestClusterViews(t *testing.T) {
	db := testDB(t)
	s, addr := produceScenario(t)
	runAll(t, db, addr, Options{})

	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	cms, err := ClusterMigrations(ms, testCluster, db.Database())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(chServer.Options()) // database "default"
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := testCtx(t)
	head := regexp.MustCompile(`(?is)^(.*?CREATE )(?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?(\w+)` + regexp.QuoteMeta(onCluster(testCluster)))
	views := 0
	for _, m := range cms {
		for _, q := range m.Statements {
			v := head.FindStringSubmatch(q)
			if v == nil {
				continue
			}
			if err := conn.Exec(ctx, "DROP VIEW IF EXISTS "+quoteIdent(db.Database())+"."+quoteIdent(v[2])); err != nil {
				t.Fatal(err)
			}
			q = head.ReplaceAllString(q, "${1}VIEW "+quoteIdent(db.Database())+".$2")
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s as a replica runs it:\n%s\n: %v", m.File, q, err)
			}
			views++
		}
	}
	if views < len(AnalyticsViews()) {
		t.Fatalf("created %d views", views)
	}
	checkScenario(t, db, s)
	t.Run("queries", func(t *testing.T) { checkQueries(t, db, s) })
	t.Run("queries_doc", func(t *testing.T) { checkQueriesDoc(t, db) })
}
