package stack

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/diskspace"
)

// StateEntries is everything a stack creates directly in StateDir
// (besides statedir's lock and marker): `hedgeline demo`'s reset deletes
// these and refuses to touch a directory holding anything else.
var StateEntries = []string{
	"tables",               // goka's LevelDB tables (run.go)
	"kafka",                // the embedded broker's data (run.go, Embedded.Kafka)
	"clickhouse",           // the embedded ClickHouse's data (sinks.go, Embedded.Kafka)
	"dry-run-ledger.jsonl", // the default DryRun.Ledger (brokers.go)
}

// diskFullRetry is the stages' restart rule (runner.Config.Retry): a stage
// that failed because a disk is full waits and starts again, and says what
// could not be written, where, and how much space is left. The embedded
// broker, ClickHouse and the other stages keep running. Any other failure
// stops the process as before.
func diskFullRetry(cfg Config, broker *kafka.Broker) func(error) (string, bool) {
	return func(err error) (string, bool) {
		if diskspace.NoSpace(err) {
			path := diskspace.FailedPath(err)
			if path == "" {
				return fmt.Sprintf("disk full: a write under %s failed%s", cfg.StateDir, freeSpace(cfg.StateDir, "")), true
			}
			return fmt.Sprintf("disk full: %s could not write %s%s", stateComponent(cfg, path), path, freeSpace(path, cfg.StateDir)), true
		}
		// The broker answers a produce it could not store with a bare
		// server error, or refuses one it has no room for with a storage
		// error; its own log says why. Only those errors count: anything
		// else (a codec bug, a poison input) still stops.
		if broker != nil && (isUnknownServerError(err) || isStorageError(err)) {
			if f, ok := broker.LastWriteFailure(); ok && time.Since(f.At) < time.Minute {
				return fmt.Sprintf("disk full: the embedded Kafka broker could not write its log %s%s", f.Path, freeSpace(f.Path, broker.DataDir())), true
			}
		}
		return "", false
	}
}

// isUnknownServerError reports the error a Kafka broker returns for a write
// it failed to store, as sarama (goka's emitters and tables) or franz-go
// reports it.
func isUnknownServerError(err error) bool {
	return errors.Is(err, sarama.ErrUnknown) || errors.Is(err, kerr.UnknownServerError) ||
		strings.Contains(err.Error(), sarama.ErrUnknown.Error()) || strings.Contains(err.Error(), kerr.UnknownServerError.Message)
}

// isStorageError reports KAFKA_STORAGE_ERROR (the embedded broker refused
// a produce it had no room for), as sarama or franz-go reports it.
func isStorageError(err error) bool {
	return errors.Is(err, sarama.ErrKafkaStorageError) || errors.Is(err, kerr.KafkaStorageError) ||
		strings.Contains(err.Error(), sarama.ErrKafkaStorageError.Error()) || strings.Contains(err.Error(), kerr.KafkaStorageError.Message)
}

// stateComponent names what writes path.
func stateComponent(cfg Config, path string) string {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	p := abs(path)
	in := func(entry string) bool {
		dir := abs(filepath.Join(cfg.StateDir, entry))
		return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
	}
	switch {
	case in("tables"):
		return "a goka LevelDB table"
	case in("kafka"):
		return "the embedded Kafka log"
	case in("clickhouse"):
		return "the embedded ClickHouse"
	case cfg.DryRun.Ledger != "" && p == abs(cfg.DryRun.Ledger), in("dry-run-ledger.jsonl"):
		return "the dry-run ledger"
	}
	return "hedgeline"
}

// freeSpace reads " (12 KiB free of 32 MiB)" for the file system of path
// (or of fallback when the error named no file).
func freeSpace(path, fallback string) string {
	if path == "" {
		path = fallback
	}
	u, err := diskspace.Of(path)
	if err != nil {
		return ""
	}
	return " (" + u.String() + ")"
}
