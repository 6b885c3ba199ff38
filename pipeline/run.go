package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/hedgeline/hedgeline/stack"
	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	register("run", "run the pipeline's roles (all by default) against a Kafka cluster", runPipelineCmd)
}

func runPipelineCmd(ctx context.Context, args []string, _ io.Writer) error {
	var cfg runConfig
	fs := newFlagSet("run", os.Stderr)
	cfg.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLoggerFormat(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	return runPipeline(ctx, cfg, log, nil)
}

// runPipeline locks the state dir, then runs the stack until ctx ends or a
// role fails. ready, if not nil, is closed once every role has recovered
// its state and is processing.
func runPipeline(ctx context.Context, cfg runConfig, log *slog.Logger, ready chan<- struct{}) error {
	sc, err := cfg.runStack(log)
	if err != nil {
		return err
	}
	stop, err := serveMetrics(cfg.metricsListen, &sc, log)
	if err != nil {
		return err
	}
	defer stop()
	return stack.Run(ctx, sc, ready)
}

// runInStateDir is runPipeline in a state dir this process has locked.
func runInStateDir(ctx context.Context, cfg runConfig, log *slog.Logger, ready chan<- struct{}) error {
	sc, err := cfg.runStack(log)
	if err != nil {
		return err
	}
	stop, err := serveMetrics(cfg.metricsListen, &sc, log)
	if err != nil {
		return err
	}
	defer stop()
	return stack.RunLocked(ctx, sc, ready)
}

// runStack is the stack's configuration with the broker-auth key loaded
// (without one, the broker-auth role is dropped).
func (c runConfig) runStack(log *slog.Logger) (stack.Config, error) {
	sc, err := c.stackConfig()
	if err != nil {
		return sc, err
	}
	sc.Logger = log
	sc.EncryptionKey, err = brokerAuthKey(c, sc, log)
	return sc, err
}

func ensureTopics(ctx context.Context, adm *kadm.Client, k kafkaFlags, log *slog.Logger) error {
	return stack.EnsureTopics(ctx, adm, int32(k.partitions), int16(k.replication), log)
}
