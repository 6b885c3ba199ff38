package main

import (
	"path/filepath"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/statedir"
)

// demoStateDir is the demo's default state dir: hedgeline's by definition,
// so a copy written before the marker existed is reset too.
var demoStateDir = filepath.Join(".state", "demo")

// checkEnginesStopped fails if an embedded broker or ClickHouse still holds
// its data under the state dir: one started by hand on it, or a ClickHouse
// child still flushing after its parent was killed. The state dir's lock
// does not cover them.
func checkEnginesStopped(stateDir string) error {
	if err := kafka.CheckDataDirFree(filepath.Join(stateDir, "kafka")); err != nil {
		return err
	}
	return clickhouse.CheckDataDirFree(filepath.Join(stateDir, "clickhouse"))
}

// openStateDir locks cfg.stateDir for this process (see package statedir).
func openStateDir(cfg runConfig) (*statedir.Dir, error) {
	return statedir.Open(cfg.stateDir)
}
