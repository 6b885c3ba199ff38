package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlagSet makes a flag set whose flags fall back to HEDGELINE_<NAME>
// environment variables, so containers configure through env alone.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse applies environment defaults, then the command line (which wins).
func parse(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := envName(f.Name)
		if v, ok := os.LookupEnv(key); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %w", key, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
}

func envName(flagName string) string {
	return "HEDGELINE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func errRequired(flag string) error { return fmt.Errorf("%s is required", flag) }
