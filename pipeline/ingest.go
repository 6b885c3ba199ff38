package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("ingest", "produce Witness commands from a source (file: a JSONL file of fills)", runIngest).withArgs("file PATH",
		"e.g. hedgeline ingest file samples/fills.jsonl --brokers 127.0.0.1:9092")
}

func runIngest(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("ingest", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	strict := fs.Bool("strict", false, "stop before producing anything if any line is bad")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) != "file" {
		return usageErrorf("want a source: ingest file PATH")
	}
	if fs.NArg() != 2 {
		return usageErrorf("want exactly one PATH after file, got %d", fs.NArg()-1)
	}
	path := fs.Arg(1)
	if errs := k.validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	n, bad, err := ingestFile(ctx, k, path, *strict, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d fills from %s (%d bad lines skipped)\n", n, path, bad)
	return nil
}

// ingestFile produces one Witness command per fill, in chain order, and
// returns once every record is acknowledged by the brokers.
func ingestFile(ctx context.Context, k kafkaFlags, path string, strict bool, log *slog.Logger) (produced, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("open fills: %w", err)
	}
	defer f.Close()
	return ingestFills(ctx, k, path, f, strict, log)
}

// ingestFills is ingestFile for any reader; name says where it came from.
func ingestFills(ctx context.Context, k kafkaFlags, name string, r io.Reader, strict bool, log *slog.Logger) (produced, bad int, err error) {
	fills, badLines, err := file.Read(r, strict)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	for _, b := range badLines {
		log.Warn("skipping bad line", "file", name, "line", b.Line, "err", b.Err)
	}
	file.SortChainOrder(fills)

	cl, err := kgo.NewClient(append(topics.ClientOpts(k.list()), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if err := ensureTopics(ctx, kadm.NewClient(cl), k, log); err != nil {
		return 0, 0, err
	}
	now := time.Now()
	recs := make([]*kgo.Record, 0, len(fills))
	for _, fl := range fills {
		key, value, err := file.WitnessRecord(fl, now)
		if err != nil {
			return 0, len(badLines), err
		}
		recs = append(recs, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, len(badLines), fmt.Errorf("produce witness commands: %w", err)
	}
	return len(recs), len(badLines), nil
}
