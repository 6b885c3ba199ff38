package sinks

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationsTable records what ran. It is created by the code, not by a
// migration, so the first migration can already be recorded.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version`

// Migration is one versioned DDL file, migrations/NNNN_name.sql.
type Migration struct {
	Version    uint32
	Name       string // "views" for 0001_views.sql
	File       string // "0001_views.sql"
	Checksum   string // hex SHA-256 of the file's bytes
	Statements []string
}

// MigrateReport says what Migrate did.
type MigrateReport struct {
	Applied []string // files applied by this call
	Current []string // files recorded before, with a matching checksum
	Unknown []uint32 // versions recorded in the database but not embedded (a newer binary ran)
}

// ErrChecksumMismatch is matched (errors.Is) by every *ChecksumError.
var ErrChecksumMismatch = errors.New("applied migration was changed")

// ChecksumError reports a migration file that differs from the one that was
// applied. Migrations are immutable once released: add a new file instead.
type ChecksumError struct {
	File             string
	Version          uint32
	Applied, Current string // checksums
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("migration %s (version %d) was applied with checksum %s but the embedded file has %s: "+
		"never edit an applied migration, add a new one", e.File, e.Version, e.Applied, e.Current)
}

func (e *ChecksumError) Unwrap() error { return ErrChecksumMismatch }

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrationFiles, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_lower_snake.sql", e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if v == 0 {
			return nil, fmt.Errorf("migration file %s: versions start at 0001", e.Name())
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migration files %s and %s share version %d", prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		stmts := SplitStatements(string(b))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("migration %s has no statements", e.Name())
		}
		out = append(out, Migration{
			Version: uint32(v), Name: m[2], File: e.Name(),
			Checksum: hex.EncodeToString(sum[:]), Statements: stmts,
		})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version) - int(b.Version) })
	return out, nil
}

// SplitStatements splits a migration into statements: a statement ends at a
// line whose last non-blank character is ';'. Chunks holding only comments
// and blank lines are dropped; the ';' itself is not part of a statement.
func SplitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if hasCode(s) {
			out = append(out, s)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(sql))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.HasSuffix(line, ";") && !strings.HasPrefix(strings.TrimSpace(line), "--") {
			cur.WriteString(strings.TrimSuffix(line, ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

// hasCode reports whether s has anything besides "--" comments and blanks.
func hasCode(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}

// Migrate applies the embedded migrations that the database has not
// recorded, in version order, and records each in schema_migrations. Every
// statement is idempotent (CREATE ... IF NOT EXISTS, or CREATE OR REPLACE
// VIEW for a view, which stores nothing), so a migration that
// was interrupted half-way is simply applied again. A recorded migration
// whose file changed is a *ChecksumError naming the file; nothing after it
// is applied. With a cluster (Config.Cluster) each statement runs as
// ClusterStatement rewrites it; the checksums stay those of the files.
func Migrate(ctx context.Context, db *DB) (MigrateReport, error) {
	ms, err := Migrations()
	if err != nil {
		return MigrateReport{}, err
	}
	return applyMigrations(ctx, db, ms)
}

// ClusterMigrations returns the statements of each migration as Migrate
// runs them on cluster, for the views in database: references to the
// tables and views the migrations create are qualified with it.
func ClusterMigrations(ms []Migration, cluster, database string) ([]Migration, error) {
	r := ClusterRewrite{Cluster: cluster, Database: database, Objects: []string{"schema_migrations"}}
	for _, m := range ms {
		for _, stmt := range m.Statements {
			if o := CreatedObject(stmt); o != "" {
				r.Objects = append(r.Objects, o)
			}
		}
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		m.Statements = slices.Clone(m.Statements)
		for j, stmt := range m.Statements {
			s, err := r.Statement(stmt)
			if err != nil {
				return nil, fmt.Errorf("migration %s statement %d on cluster %s: %w", m.File, j+1, cluster, err)
			}
			m.Statements[j] = s
		}
		out[i] = m
	}
	return out, nil
}

func applyMigrations(ctx context.Context, db *DB, ms []Migration) (MigrateReport, error) {
	var rep MigrateReport
	conn, create := db.conn, migrationsTable
	if db.cfg.Cluster != "" {
		// Rewrite everything first: a statement the rewrite refuses stops
		// the migration before any of it ran.
		var err error
		if ms, err = ClusterMigrations(ms, db.cfg.Cluster, db.cfg.Database); err != nil {
			return rep, fmt.Errorf("migrate: %w", err)
		}
		if create, err = ClusterStatement(create, db.cfg.Cluster); err != nil {
			return rep, fmt.Errorf("migrate: schema_migrations on cluster %s: %w", db.cfg.Cluster, err)
		}
	}
	if err := conn.Exec(ctx, create); err != nil {
		return rep, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return rep, err
	}
	known := map[uint32]bool{}
	for _, m := range ms {
		known[m.Version] = true
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return rep, fmt.Errorf("migrate: %w", &ChecksumError{File: m.File, Version: m.Version, Applied: sum, Current: m.Checksum})
			}
			rep.Current = append(rep.Current, m.File)
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return rep, fmt.Errorf("migrate: %s statement %d: %w", m.File, i+1, err)
			}
		}
		if err := recordMigration(ctx, conn, m); err != nil {
			return rep, err
		}
		rep.Applied = append(rep.Applied, m.File)
	}
	for v := range applied {
		if !known[v] {
			rep.Unknown = append(rep.Unknown, v)
		}
	}
	slices.Sort(rep.Unknown)
	return rep, nil
}

func appliedMigrations(ctx context.Context, conn driver.Conn) (map[uint32]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		out[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return out, nil
}

func recordMigration(ctx context.Context, conn driver.Conn, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		return fmt.Errorf("migrate: record %s: %w", m.File, err)
	}
	defer b.Close()
	if err := b.Append(m.Version, m.Name, m.Checksum, time.Now().UTC()); err != nil {
		return fmt.Errorf("migrate: record %s: %w", m.File, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("migrate: record %s: %w", m.File, err)
	}
	return nil
}
