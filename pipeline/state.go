package main

import (
	"path/filepath"

	"github.com/hedgeline/hedgeline/internal/statedir"
)

// stateEntries is everything run and demo create directly in --state-dir
// (besides statedir's lock and marker): the demo's reset deletes these and
// refuses to touch a directory holding anything else.
var stateEntries = []string{
	"tables",               // goka's LevelDB tables (run.go)
	"kafka",                // the embedded broker's data (run.go, --embedded)
	"clickhouse",           // the embedded ClickHouse's data (sinks.go, --embedded)
	"dry-run-ledger.jsonl", // the default --dry-run-ledger (run.go)
}

// demoStateDir is the demo's default state dir: hedgeline's by definition,
// so a copy written before the marker existed is reset too.
var demoStateDir = filepath.Join(".state", "demo")

// openStateDir locks cfg.stateDir for this process (see package statedir).
func openStateDir(cfg runConfig) (*statedir.Dir, error) {
	return statedir.Open(cfg.stateDir)
}
