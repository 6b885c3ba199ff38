// Command hedgeline runs the hedging pipeline's roles: one binary, one
// subcommand per role, so a deployment runs them together or apart.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	_ "net/http/pprof" // handlers for run --pprof (stack serves http.DefaultServeMux)
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
)

// version is set by the linker (make build).
var version = "dev"

// command is one subcommand: run defines its flags with newFlagSet and
// parses them with parse, then does the work.
type command struct {
	name    string
	summary string
	args    string // positional arguments for the usage line, e.g. "TOPIC"
	notes   []string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]*command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout io.Writer) error) *command {
	c := &command{name: name, summary: summary, run: run}
	commands[name] = c
	return c
}

// withArgs names the positional arguments on the usage line; notes are
// printed under the summary (examples).
func (c *command) withArgs(args string, notes ...string) *command {
	c.args, c.notes = args, notes
	return c
}

// Exit codes: 0 success (help included), 1 the command failed, 2 the
// command line was wrong.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// The embedded ClickHouse's supervised child is this executable.
	clickhouse.RunIfChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain is main without the process: it prints a failure to stderr and
// returns the exit code.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "hedgeline:", err)
	var u *usageError
	if errors.As(err, &u) {
		if u.cmd != "" {
			fmt.Fprintf(stderr, "Run 'hedgeline help %s' for usage.\n", u.cmd)
		} else {
			fmt.Fprintln(stderr, "Run 'hedgeline help' for the commands.")
		}
		return exitUsage
	}
	return exitFailure
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return &usageError{err: errors.New("no command given")}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return nil
	case "-version", "--version":
		args = []string{"version"}
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return nil
		}
		// `help CMD` is `CMD --help`.
		args = []string{args[1], "--help"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown command %q", args[0])}
	}
	err := cmd.run(ctx, args[1:], stdout)
	var h *helpRequest
	if errors.As(err, &h) {
		_, err := io.WriteString(stdout, h.text)
		return err
	}
	if err == nil {
		return nil
	}
	var u *usageError
	if errors.As(err, &u) {
		u.cmd = cmd.name
	}
	// Errors from a package named like the command already start with
	// that name ("clickhouse: loading ..."): say it once.
	if strings.HasPrefix(err.Error(), cmd.name+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", cmd.name, err)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "hedgeline %s: event-sourced hedging pipeline on Kafka\n\nUsage: hedgeline <command> [flags] [arguments]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hedgeline help <command>' (or 'hedgeline <command> --help') for its arguments and flags;")
	fmt.Fprintln(w, "every flag can also be set as HEDGELINE_<FLAG> (dashes as underscores). 'hedgeline --version' prints the version.")
}
