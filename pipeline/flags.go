package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// newFlagSet makes a flag set whose flags fall back to HEDGELINE_<NAME>
// environment variables, so containers configure through env alone. The
// name is the command's ("ingest file" for a sub-mode); parse prints
// nothing itself: dispatch prints help to stdout and errors once.
func newFlagSet(name string, _ io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// helpRequest is returned by parse for -h/--help: dispatch prints text to
// stdout and exits 0.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string { return "help requested" }

// usageError is a wrong command line (exit 2, with a pointer to the help).
type usageError struct {
	err error
	cmd string // set by dispatch
}

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// parse applies environment defaults, then the command line (which wins).
// Flags may come before, between or after the positional arguments
// (`tail TOPIC --brokers X`); a "--" ends the flags.
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
	flags, positional, err := splitArgs(fs, args)
	if err != nil {
		return &usageError{err: err}
	}
	// Parse the flags, then hand the positionals back behind a "--" so
	// fs.Args() holds exactly them.
	err = fs.Parse(append(append(flags, "--"), positional...))
	switch {
	case errors.Is(err, flag.ErrHelp):
		return &helpRequest{text: helpText(fs)}
	case err != nil:
		// flag's message spells flags with one dash; the docs use two.
		msg := strings.Replace(err.Error(), "flag provided but not defined: -", "unknown flag --", 1)
		return &usageError{err: errors.New(msg)}
	}
	return nil
}

// splitArgs separates flags (with their values) from positional arguments.
// A flag's value is the next argument unless the flag is boolean or
// written --name=value; unknown flags are left for fs.Parse to report.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...), nil
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return nil, nil, fmt.Errorf("flag needs an argument: %s", a)
		}
		i++
		flags = append(flags, args[i])
	}
	return flags, positional, nil
}

// helpText is a command's help: usage line, summary, notes, then flags.
func helpText(fs *flag.FlagSet) string {
	var b strings.Builder
	name, _, _ := strings.Cut(fs.Name(), " ")
	cmd := commands[name]
	line := "hedgeline " + fs.Name() + " [flags]"
	if cmd != nil && cmd.args != "" {
		line += " " + cmd.args
	}
	fmt.Fprintf(&b, "usage: %s\n", line)
	if cmd != nil {
		fmt.Fprintf(&b, "\n%s\n", cmd.summary)
		for _, n := range cmd.notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	b.WriteString("\nflags (each also as HEDGELINE_<FLAG>, dashes as underscores; the command line wins):\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		typ, text := flag.UnquoteUsage(f)
		if typ != "" {
			typ = " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, typ, text)
	})
	tw.Flush()
	return b.String()
}

func envName(flagName string) string {
	return "HEDGELINE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func errRequired(flag string) error { return usageErrorf("%s is required", flag) }
