package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/hedgeline/hedgeline/topics"
)

func init() {
	register("partition", "print the partition hedgeline expects a record key on (for producing by hand: kcat -p)", runPartition).withArgs("KEY...",
		"e.g. kcat -P -t position.commands -k AAPL -p $(hedgeline partition AAPL)")
}

// partitionOf is one line of `hedgeline partition`.
type partitionOf struct {
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
}

// runPartition answers where a hand-made record must go: every stage
// rejects a key found on another partition (docs/producing.md), and most
// clients' default partitioners (kcat/librdkafka, Java) disagree with goka's.
func runPartition(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("partition", os.Stderr)
	partitions := fs.Int("partitions", 4, "partitions of every topic")
	asJSON := fs.Bool("json", false, "print a JSON array instead of one partition per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *partitions < 1 || *partitions > 1024 {
		return usageErrorf("--partitions: want 1..1024, got %d", *partitions)
	}
	if fs.NArg() == 0 {
		return usageErrorf("no KEY given")
	}
	out := make([]partitionOf, 0, fs.NArg())
	for _, k := range fs.Args() {
		// Symbol-prefixed keys ("AAPL|0x..:5") hash only the symbol; for
		// plain keys that is the whole key, so one rule serves every topic.
		out = append(out, partitionOf{Key: k, Partition: topics.PartitionForSymbolKey([]byte(k), int32(*partitions))})
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	for _, p := range out {
		fmt.Fprintln(stdout, p.Partition)
	}
	return nil
}
