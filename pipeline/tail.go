package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoRecord keeps signatures short where records are passed around.
type kgoRecord = kgo.Record

func init() {
	register("tail", "print every record of a topic so far, one JSON value per line", runTail).withArgs("TOPIC",
		"e.g. hedgeline tail pnl.events --brokers 127.0.0.1:9092")
}

func runTail(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("tail", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	keys := fs.Bool("keys", false, "prefix each value with its record key and a tab")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("want exactly one TOPIC, got %d arguments", fs.NArg())
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	recs, err := readTopic(ctx, kc, fs.Arg(0))
	if err != nil {
		return err
	}
	for _, r := range recs {
		if *keys {
			fmt.Fprintf(stdout, "%s\t", r.Key)
		}
		fmt.Fprintf(stdout, "%s\n", r.Value)
	}
	return nil
}
