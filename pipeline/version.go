package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func init() {
	register("version", "print the version (also: hedgeline --version)", func(_ context.Context, args []string, stdout io.Writer) error {
		fs := newFlagSet("version", os.Stderr)
		if err := parse(fs, args); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, "hedgeline", version)
		return err
	})
}
