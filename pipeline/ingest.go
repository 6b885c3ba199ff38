package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/sources/feed"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("ingest", "produce Witness commands from a source: file (a JSONL file of fills) or chain (a Raindex orderbook over JSON-RPC)", runIngest).withArgs("file PATH | chain",
		"e.g. hedgeline ingest file samples/fills.jsonl --brokers 127.0.0.1:9092\n"+
			"     hedgeline ingest chain --brokers 127.0.0.1:9092 --rpc-url https://mainnet.base.org --orderbook 0x52CEB8eBEf648744fFDDE89F7Bc9C3aC35944775 --owner 0x71b94911FD1CE621FC40970450004c544e5287a8 --from-block 34844164")
}

func runIngest(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("ingest", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	strict := fs.Bool("strict", false, "stop before producing anything if any line is bad")
	seenAt := fs.String("seen-at", "auto", "when the pipeline records each fill as seen: block (its block time: history replayed as if live), now, or auto (block for fills over a day old)")
	var out outcomeFlags
	out.register(fs)
	var lf logFlags
	lf.register(fs)
	var cf chainFlags
	cf.register(fs, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "chain" {
		if errs := k.validate(); len(errs) > 0 {
			return errors.Join(errs...)
		}
		log, err := lf.logger()
		if err != nil {
			return err
		}
		return runIngestChain(ctx, k, cf, log, stdout)
	}
	if fs.NArg() == 0 || fs.Arg(0) != "file" {
		return usageErrorf("want a source: ingest file PATH, or ingest chain")
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
	seen, err := file.ParseSeenAt(*seenAt)
	if err != nil {
		return fmt.Errorf("--seen-at: %w", err)
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	mark, err := feed.Snapshot(ctx, kc)
	if err != nil {
		return err
	}
	produced, bad, err := ingest(ctx, k, path, ingestOptions{strict: *strict, seenAt: seen}, log)
	if err != nil {
		return err
	}
	rep, err := followFills(ctx, out, kc, mark, produced)
	if err != nil {
		return err
	}
	if out.asJSON {
		if err := writeJSON(stdout, struct {
			File     string       `json:"file"`
			BadLines int          `json:"bad_lines"`
			Produced int          `json:"produced"`
			Outcome  *feed.Report `json:"outcome,omitempty"`
		}{path, bad, len(produced), rep}); err != nil {
			return err
		}
		return outcomeErr(rep)
	}
	fmt.Fprintf(stdout, "produced %d fills from %s (%d bad lines skipped)\n", len(produced), path, bad)
	return printOutcome(stdout, rep)
}

type ingestOptions struct {
	strict bool
	seenAt file.SeenAt
}

// ingest produces one Witness command per fill of the file at path, in
// chain order, and returns once every record is acknowledged by the
// brokers, with where each fill's command landed.
func ingest(ctx context.Context, k kafkaFlags, path string, opt ingestOptions, log *slog.Logger) (produced []feed.Produced, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open fills: %w", err)
	}
	defer f.Close()
	return ingestFills(ctx, k, path, f, opt, log)
}

// ingestFills is ingest for any reader; name says where it came from.
func ingestFills(ctx context.Context, k kafkaFlags, name string, r io.Reader, opt ingestOptions, log *slog.Logger) (produced []feed.Produced, bad int, err error) {
	fills, badLines, err := file.Read(r, opt.strict)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	for _, b := range badLines {
		log.Warn("skipping bad line", "file", name, "line", b.Line, "err", b.Err)
	}
	file.SortChainOrder(fills)

	cl, err := k.producer()
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, kadm.NewClient(cl), k, log); err != nil {
		return nil, 0, err
	}
	now := time.Now()
	recs := make([]*kgo.Record, 0, len(fills))
	for _, fl := range fills {
		key, value, err := file.WitnessRecord(fl, opt.seenAt.At(fl, now))
		if err != nil {
			return nil, len(badLines), err
		}
		recs = append(recs, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(key), Value: value})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return nil, len(badLines), fmt.Errorf("produce witness commands: %w", err)
	}
	ids := make(map[*kgo.Record]string, len(recs)) // results need not come in record order
	for i, r := range recs {
		ids[r] = fills[i].TradeID.String()
	}
	for _, r := range res {
		produced = append(produced, feed.Produced{TradeID: ids[r.Record], Partition: r.Record.Partition, Offset: r.Record.Offset})
	}
	return produced, len(badLines), nil
}
