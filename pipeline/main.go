// Command hedgeline runs the hedging pipeline's roles: one binary, one
// subcommand per role, so a deployment runs them together or apart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set by the linker (make build).
var version = "dev"

// command is one subcommand: its flags are defined on fs, run does the work.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hedgeline:", err)
		}
		os.Exit(2)
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return flag.ErrHelp
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := cmd.run(ctx, args[1:], stdout); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "hedgeline %s: event-sourced hedging pipeline on Kafka\n\nUsage: hedgeline <command> [flags]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hedgeline <command> -h' for its flags; every flag can also be set as HEDGELINE_<FLAG> (dashes as underscores).")
}
