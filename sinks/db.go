package sinks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database the projections live in unless Config
// names another.
const DefaultDatabase = "hedgeline"

// DefaultReadTimeout bounds one ClickHouse round trip. clickhouse-go's own
// default (300 s) turns a mistake into a five-minute hang.
const DefaultReadTimeout = 30 * time.Second

// Config is how the sinks reach ClickHouse (native protocol).
type Config struct {
	// Addr is host:port of the native protocol (9000, or 9440 with TLS).
	Addr string
	// User and Password; an empty User is ClickHouse's "default".
	User, Password string
	// Database holds every projection table; created (ENGINE = Atomic) if
	// missing. Empty means DefaultDatabase.
	Database string
	// TLS, if set, speaks the secure native protocol with it (the CA to
	// trust, else the system's roots; a client certificate; the server
	// name, else the address's host); nil: plaintext.
	TLS *tls.Config
	// ReadTimeout bounds each round trip; 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
	// Cluster, if set, is the remote_servers cluster (one shard, any
	// number of replicas) every table and view is created on: DDL runs ON
	// CLUSTER and tables use Replicated* engines (ClusterStatement). Addr
	// must name one replica of it, not a balancer over several: the
	// projectors read back what they wrote (docs/clickhouse-cluster.md).
	Cluster string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("clickhouse address is required"))
	}
	if c.Database != "" && !identRE.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database %q: want letters, digits and '_', not starting with a digit", c.Database))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("read timeout must not be negative, got %s", c.ReadTimeout))
	}
	if c.Cluster != "" && !clusterNameRE.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster %q: want letters, digits, '_', '-' and '.', not starting with a digit", c.Cluster))
	}
	if c.User == "" && c.Password != "" {
		errs = append(errs, errors.New("a password needs a user"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	return c
}

func (c Config) options(database string) *clickhouse.Options {
	o := &clickhouse.Options{
		Addr:     []string{c.Addr},
		Protocol: clickhouse.Native,
		Auth: clickhouse.Auth{
			Database: database,
			Username: c.User,
			Password: c.Password,
		},
		DialTimeout:     5 * time.Second,
		ReadTimeout:     c.ReadTimeout,
		MaxOpenConns:    4,
		MaxIdleConns:    2,
		ConnMaxLifetime: 10 * time.Minute,
	}
	if c.TLS != nil {
		o.TLS = c.TLS.Clone()
	}
	return o
}

// DB is an open ClickHouse connection pool bound to the projection database.
type DB struct {
	conn driver.Conn
	cfg  Config
}

// Open connects, creates the database if it is missing and returns a pool
// whose queries run in it. The database is created with ENGINE = Atomic,
// which EXCHANGE TABLES (the shadow swap of a replay) needs; the embedded
// engine's default database is not Atomic. Migrations are separate (Migrate).
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sinks: config: %w", err)
	}
	cfg = cfg.withDefaults()

	// The database may not exist yet, and a connection naming a missing
	// database fails its handshake: create it over a bootstrap connection.
	boot, err := clickhouse.Open(cfg.options(""))
	if err != nil {
		return nil, fmt.Errorf("sinks: open %s: %w", cfg.Addr, err)
	}
	if cfg.Cluster != "" {
		err = checkCluster(ctx, boot, cfg.Cluster)
	}
	if err == nil {
		err = boot.Exec(ctx, createDatabaseSQL(cfg.Database, cfg.Cluster))
	}
	if cerr := boot.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: create database %s on %s: %w", cfg.Database, cfg.Addr, err)
	}
	var engine string
	conn, err := clickhouse.Open(cfg.options(cfg.Database))
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT engine FROM system.databases WHERE name = currentDatabase()").Scan(&engine)
		if err != nil {
			_ = conn.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: open %s/%s: %w", cfg.Addr, cfg.Database, err)
	}
	if cfg.Cluster != "" && engine != "Atomic" {
		_ = conn.Close()
		return nil, fmt.Errorf("sinks: database %s has engine %s; with a cluster (%s) it must be Atomic: hedgeline creates "+
			"its tables ON CLUSTER itself", cfg.Database, engine, cfg.Cluster)
	}
	if engine != "Atomic" && engine != "Replicated" {
		_ = conn.Close()
		return nil, fmt.Errorf("sinks: database %s has engine %s; the sinks need Atomic (or Replicated) for EXCHANGE TABLES: "+
			"recreate it or configure another database", cfg.Database, engine)
	}
	return &DB{conn: conn, cfg: cfg}, nil
}

// checkCluster fails unless the server defines cluster with one shard and
// the {shard} and {replica} macros ReplicaPath and ReplicaName use: the
// ON CLUSTER DDL would otherwise fail half-way, or (more shards) leave
// each shard with part of the rows while every read assumes all of them.
func checkCluster(ctx context.Context, conn driver.Conn, cluster string) error {
	var shards, hosts uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(shard_num), count() FROM system.clusters WHERE cluster = {c:String}",
		clickhouse.Named("c", cluster)).Scan(&shards, &hosts); err != nil {
		return fmt.Errorf("read cluster %s from system.clusters: %w", cluster, err)
	}
	switch {
	case hosts == 0:
		return fmt.Errorf("cluster %s is not defined on this server (remote_servers)", cluster)
	case shards != 1:
		return fmt.Errorf("cluster %s has %d shards; hedgeline needs a cluster of one shard (every replica holding every row), "+
			"see docs/clickhouse-cluster.md", cluster, shards)
	}
	var macros []string
	if err := conn.QueryRow(ctx, "SELECT groupArray(macro) FROM system.macros").Scan(&macros); err != nil {
		return fmt.Errorf("read system.macros: %w", err)
	}
	var missing []string
	for _, m := range []string{"shard", "replica"} {
		if !slices.Contains(macros, m) {
			missing = append(missing, "{"+m+"}")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cluster %s: the server defines no %s macro (<macros> in its config); replicated tables need {shard} and {replica}",
			cluster, strings.Join(missing, " or "))
	}
	return nil
}

func createDatabaseSQL(database, cluster string) string {
	return "CREATE DATABASE IF NOT EXISTS " + quoteIdent(database) + onClusterOf(cluster) + " ENGINE = Atomic"
}

// onClusterOf is " ON CLUSTER `cluster`", or "" without a cluster.
func onClusterOf(cluster string) string {
	if cluster == "" {
		return ""
	}
	return onCluster(cluster)
}

// Conn is the underlying clickhouse-go pool; its queries run in Database().
func (db *DB) Conn() driver.Conn { return db.conn }

// Database is the name of the projection database.
func (db *DB) Database() string { return db.cfg.Database }

// Close closes the pool. Close every DB before stopping an embedded engine:
// a connection still open at its shutdown can take the process down.
func (db *DB) Close() error { return db.conn.Close() }

// quoteIdent backquotes a ClickHouse identifier.
func quoteIdent(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '`')
	for i := 0; i < len(s); i++ {
		if s[i] == '`' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(append(out, '`'))
}
