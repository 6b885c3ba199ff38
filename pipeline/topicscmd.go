package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/hedgeline/hedgeline/topics"
)

func init() {
	register("topics", "print the topic catalog (names, partitions, configs)", func(_ context.Context, args []string, stdout io.Writer) error {
		fs := newFlagSet("topics", os.Stderr)
		var k kafkaFlags
		k.register(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOPIC\tKIND\tAGGREGATE\tPARTITIONS\tCONFIGS")
		for _, s := range topics.Catalog(int32(k.partitions), int16(k.replication)) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%v\n", s.Name, s.Kind, s.AggregateType, s.Partitions, s.Configs)
		}
		return w.Flush()
	})
}
