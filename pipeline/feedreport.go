package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/sources/feed"
)

// outcomeFlags are a source command's flags for following its fills.
type outcomeFlags struct {
	wait   time.Duration
	asJSON bool
}

func (o *outcomeFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&o.wait, "wait", 2*time.Minute, "wait up to this long for the pipeline to accept or refuse every fill produced, then report (0: produce only, report nothing)")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as one JSON object")
}

// followFills waits for the outcome of produced, printing progress to
// stderr, and returns the report (nil when not waiting).
func followFills(ctx context.Context, o outcomeFlags, k kafkasec.Cluster, mark feed.Mark, produced []feed.Produced) (*feed.Report, error) {
	if o.wait <= 0 {
		return nil, nil
	}
	rep, err := feed.Wait(ctx, k, mark, produced, o.wait, 2*time.Second, func(r feed.Report) {
		fmt.Fprintf(os.Stderr, "waiting for outcomes: %d accepted, %d refused, %d already recorded, %d pending of %d\n",
			r.Accepted, r.Refused, r.AlreadyRecorded, r.Unresolved, r.Produced)
	})
	if err != nil {
		return nil, fmt.Errorf("follow produced fills: %w", err)
	}
	return &rep, nil
}

// printOutcome writes the report as text and returns an error naming what
// was not accepted.
func printOutcome(w io.Writer, rep *feed.Report) error {
	if rep == nil {
		return nil
	}
	fmt.Fprintf(w, "accepted %d of %d fills", rep.Accepted, rep.Produced)
	if rep.Refused > 0 || rep.AlreadyRecorded > 0 || rep.Unresolved > 0 {
		fmt.Fprintf(w, "; refused %d, already recorded %d, no outcome yet %d", rep.Refused, rep.AlreadyRecorded, rep.Unresolved)
	}
	fmt.Fprintln(w)
	for _, l := range rep.ReasonLines() {
		fmt.Fprintln(w, l)
	}
	return outcomeErr(rep)
}

func outcomeErr(rep *feed.Report) error {
	if rep == nil || rep.OK() {
		return nil
	}
	return fmt.Errorf("%s", rep.Problem())
}
