package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/migrate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("migrate", "bring a legacy bot's SQLite database into the event log (trades, positions, broker orders, Schwab tokens), then verify it", runMigrate).
		withArgs("",
			"e.g. hedgeline migrate --sqlite bot.db --brokers 127.0.0.1:9092 --dry-run",
			"     hedgeline migrate --sqlite bot.db --brokers 127.0.0.1:9092 --clickhouse 127.0.0.1:9000",
			"     hedgeline migrate --sqlite bot.db --brokers 127.0.0.1:9092 --verify",
			"See docs/runbook-migration.md: back up, dry-run, migrate, verify, cut over, roll back.")
}

// migrateConfig is the command line of migrate.
type migrateConfig struct {
	k                             kafkaFlags
	ch                            chFlags
	key                           keyFlags
	lf                            logFlags
	sqlite, legacyKeyFile         string
	dryRun, yes, verify, asJSON   bool
	wait                          time.Duration
	broker, fractional            string
	thresholdShares, thresholdUSD string
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("migrate", os.Stderr)
	var c migrateConfig
	c.k.register(fs)
	c.ch.register(fs, "")
	c.key.register(fs)
	c.lf.register(fs)
	fs.StringVar(&c.sqlite, "sqlite", "", "the legacy bot's SQLite database (opened read-only; required)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would be produced, the counts and every refused row; produce nothing")
	fs.BoolVar(&c.yes, "yes", false, "migrate even though the topics already hold live (non-migrated) events")
	fs.BoolVar(&c.verify, "verify", false, "only verify: legacy rows vs aggregates (vs ClickHouse views with --clickhouse), positions, fields, PnL")
	fs.BoolVar(&c.asJSON, "json", false, "print the result as one JSON object")
	fs.DurationVar(&c.wait, "wait", 5*time.Minute, "how long to wait for the aggregates to answer every command")
	fs.StringVar(&c.legacyKeyFile, "legacy-encryption-key-file", "", "file holding the legacy bot's ENCRYPTION_KEY, when it differs from the key the broker-auth stage runs with: the Schwab tokens are re-encrypted")
	fs.StringVar(&c.broker, "broker", "schwab", "broker of the migrated positions' hedges: schwab, alpaca or dry-run")
	fs.StringVar(&c.fractional, "fractional", "", "migrated positions hedge fractional shares (default: true for alpaca, false otherwise)")
	fs.StringVar(&c.thresholdShares, "threshold-shares", "", "migrated positions hedge when |net| reaches this many shares (default 1, as the legacy bot)")
	fs.StringVar(&c.thresholdUSD, "threshold-dollars", "", "migrated positions hedge when |net| x last price reaches this many dollars")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if c.sqlite == "" {
		return usageErrorf("--sqlite PATH is required")
	}
	if c.dryRun && c.verify {
		return usageErrorf("--dry-run and --verify are exclusive")
	}
	if errs := c.k.validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	opt, err := c.options()
	if err != nil {
		return err
	}
	return migrateRun(ctx, c, opt, stdout, os.Stderr)
}

// options turns the flags into the mapping's options.
func (c migrateConfig) options() (migrate.Options, error) {
	var opt migrate.Options
	b, err := market.ParseBroker(c.broker)
	if err != nil {
		return opt, fmt.Errorf("--broker: %w", err)
	}
	if opt.Execution, opt.Threshold, err = positionFlags(b, c.fractional, c.thresholdShares, c.thresholdUSD); err != nil {
		return opt, err
	}
	if opt.Key, err = c.key.load(); err != nil {
		return opt, err
	}
	if c.legacyKeyFile != "" {
		raw, err := os.ReadFile(c.legacyKeyFile)
		if err != nil {
			return opt, fmt.Errorf("--legacy-encryption-key-file: %w", err)
		}
		if opt.LegacyKey, err = brokerauth.ParseKey(string(raw)); err != nil {
			return opt, fmt.Errorf("--legacy-encryption-key-file %s: %w", c.legacyKeyFile, err)
		}
	}
	return opt, nil
}

// migrateOutput is the --json result.
type migrateOutput struct {
	SQLite     string                `json:"sqlite"`
	Schema     string                `json:"schema"`
	Mode       string                `json:"mode"` // dry-run, commit, verify
	Tables     []migrate.TableResult `json:"tables"`
	Refused    []migrate.Refusal     `json:"refused"`
	Rejections []migrate.Refusal     `json:"rejections,omitempty"`
	Live       []migrate.Live        `json:"live,omitempty"`
	Commands   []dryRunCommand       `json:"commands,omitempty"`
	Verify     *migrate.Report       `json:"verify,omitempty"`
}

type dryRunCommand struct {
	Table         string `json:"table"`
	Row           string `json:"row"`
	AggregateType string `json:"aggregate_type"`
	AggregateID   string `json:"aggregate_id"`
	CommandType   string `json:"command_type"`
	CommandID     string `json:"command_id"`
	Skip          bool   `json:"already_produced,omitempty"`
}

func migrateRun(ctx context.Context, c migrateConfig, opt migrate.Options, stdout, progress io.Writer) error {
	d, err := migrate.Open(ctx, c.sqlite)
	if err != nil {
		return err
	}
	defer d.Close()
	meters := map[string]*migrate.Meter{}
	opt.Progress = func(table string, done, total int) {
		if meters[table] == nil {
			meters[table] = migrate.NewMeter(progress, "read "+table, total)
		}
		meters[table].Update(done)
	}
	plan, err := migrate.Build(ctx, d, opt)
	if err != nil {
		return err
	}
	out := migrateOutput{SQLite: c.sqlite, Schema: d.Schema.Describe(), Mode: "commit", Refused: plan.Refused}
	if out.Refused == nil {
		out.Refused = []migrate.Refusal{}
	}
	res := plan.Result()
	kc, err := c.k.cluster()
	if err != nil {
		return err
	}

	if c.verify {
		out.Mode = "verify"
		rep, err := verifyMigration(ctx, c, plan, kc)
		if err != nil {
			return err
		}
		out.Tables, out.Verify = res.Tables, rep
		return finishMigrate(c, out, stdout)
	}

	log, err := migrate.ReadLog(ctx, kc, !c.dryRun)
	switch {
	case err != nil && c.dryRun:
		// A dry-run is worth having without the brokers: only what an
		// earlier run produced (SKIPPED) and the live events are unknown.
		fmt.Fprintf(progress, "warning: cannot read the topics at %s (%v): SKIPPED and live events unknown\n", c.k.brokers, err)
		log = &migrate.Log{Produced: map[string]bool{}}
	case err != nil:
		return fmt.Errorf("read the topics at %s: %w", c.k.brokers, err)
	}
	out.Live = log.Live
	if c.dryRun {
		out.Mode = "dry-run"
		for _, it := range plan.Items {
			skip := log.Produced[it.CommandID]
			if skip {
				res.Tables[indexOf(res.Tables, it.Table)].Skipped++
			}
			out.Commands = append(out.Commands, dryRunCommand{Table: it.Table, Row: it.Row, AggregateType: it.AggregateType,
				AggregateID: it.AggregateID, CommandType: it.Command.CommandType(), CommandID: it.CommandID, Skip: skip})
		}
		out.Tables = res.Tables
		return finishMigrate(c, out, stdout)
	}
	pending := 0
	for _, it := range plan.Items {
		if !log.Produced[it.CommandID] {
			pending++
		}
	}
	// Live events matter only when there is history left to put beside
	// them: a run with nothing left to produce (a re-run) just verifies.
	if len(log.Live) > 0 && pending > 0 && !c.yes {
		var lines []string
		for _, l := range log.Live {
			lines = append(lines, fmt.Sprintf("%s: %d live events (first: %s)", l.Topic, l.Events, l.Example))
		}
		return fmt.Errorf("the topics already hold live events, not caused by a migration:\n  %s\nmigrating now would put legacy history beside (or behind) them; give --yes to go on anyway",
			strings.Join(lines, "\n  "))
	}
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	logger, err := c.lf.logger()
	if err == nil {
		err = ensureTopics(ctx, kadm.NewClient(cl), c.k, logger)
	}
	cl.Close()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(c.wait)
	first, then := plan.Phases()
	if err := migrate.Produce(ctx, kc, first, log, res, progress); err != nil {
		return err
	}
	var positions []migrate.Item
	for _, it := range first {
		if it.AggregateType == topics.Position {
			positions = append(positions, it)
		}
	}
	if err := migrate.Await(ctx, positions, log, deadline, progress); err != nil {
		return err
	}
	if migrate.Answered(positions, log) == len(positions) {
		if err := migrate.Produce(ctx, kc, then, log, res, progress); err != nil {
			return err
		}
	} else {
		// A re-run produces them once the positions are in.
		fmt.Fprintf(progress, "warning: %d broker order and token commands not produced: the positions have no answer yet (run again)\n", len(then))
	}
	if err := migrate.Await(ctx, plan.Items, log, deadline, progress); err != nil {
		return err
	}
	migrate.Tally(plan, log, res)
	out.Tables, out.Rejections = res.Tables, res.Rejections
	if err := migrate.WaitPnL(ctx, plan, log, c.wait); err != nil {
		return err
	}
	if out.Verify, err = verifyWith(ctx, c, plan, log); err != nil {
		return err
	}
	return finishMigrate(c, out, stdout)
}

func indexOf(ts []migrate.TableResult, table string) int {
	for i, t := range ts {
		if t.Table == table {
			return i
		}
	}
	return 0
}

func verifyMigration(ctx context.Context, c migrateConfig, plan *migrate.Plan, kc kafkasec.Cluster) (*migrate.Report, error) {
	log, err := migrate.ReadLog(ctx, kc, true)
	if err != nil {
		return nil, fmt.Errorf("read the topics at %s: %w", c.k.brokers, err)
	}
	return verifyWith(ctx, c, plan, log)
}

func verifyWith(ctx context.Context, c migrateConfig, plan *migrate.Plan, log *migrate.Log) (*migrate.Report, error) {
	var db *sinks.DB
	if c.ch.addr != "" {
		chc, err := c.ch.config()
		if err != nil {
			return nil, err
		}
		if db, err = sinks.Open(ctx, chc); err != nil {
			return nil, err
		}
		defer db.Close()
	}
	return migrate.Verify(ctx, plan, log, db)
}

// finishMigrate prints the result and returns an error naming what is
// wrong: a rejection, a command with no answer, a mismatch.
func finishMigrate(c migrateConfig, out migrateOutput, w io.Writer) error {
	var problems []string
	for _, t := range out.Tables {
		if t.Unresolved > 0 {
			problems = append(problems, fmt.Sprintf("%d %s commands without an answer (is `hedgeline run` running%s?)", t.Unresolved, t.Table,
				map[bool]string{true: " with the broker-auth role and its key", false: ""}[t.Table == migrate.TableSchwabAuth]))
		}
	}
	if n := len(out.Rejections); n > 0 {
		problems = append(problems, fmt.Sprintf("%d commands rejected by the aggregates", n))
	}
	if out.Verify != nil && !out.Verify.OK() {
		problems = append(problems, fmt.Sprintf("verification: %d mismatches", len(out.Verify.Mismatches)))
	}
	if c.asJSON {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else {
		printMigrate(w, out)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func printMigrate(w io.Writer, out migrateOutput) {
	fmt.Fprintf(w, "legacy database %s (%s): %s\n", out.SQLite, out.Mode, out.Schema)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS\tCOMMANDS\tREFUSED\tPRODUCED\tSKIPPED\tACCEPTED\tREJECTED\tNO ANSWER\tNOTE")
	for _, t := range out.Tables {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", t.Table, t.Rows, t.Commands, t.Refused, t.Produced, t.Skipped,
			t.Accepted, t.Rejected, t.Unresolved, t.Note)
	}
	tw.Flush()
	if out.Mode == "dry-run" {
		counts := map[string]int{}
		var order []string
		for _, c := range out.Commands {
			k := c.AggregateType + " " + c.CommandType
			if !c.Skip {
				if counts[k] == 0 {
					order = append(order, k)
				}
				counts[k]++
			}
		}
		fmt.Fprintln(w, "would produce (nothing produced; --json lists every command):")
		for _, k := range order {
			fmt.Fprintf(w, "  %7d  %s\n", counts[k], k)
		}
	}
	for _, l := range out.Live {
		fmt.Fprintf(w, "live events on %s: %d (first: %s)\n", l.Topic, l.Events, l.Example)
	}
	if len(out.Refused) > 0 {
		fmt.Fprintf(w, "refused rows (%d, not migrated):\n", len(out.Refused))
		for _, r := range out.Refused {
			fmt.Fprintln(w, "  "+r.String())
		}
	}
	if len(out.Rejections) > 0 {
		fmt.Fprintf(w, "rejected by the aggregates (%d):\n", len(out.Rejections))
		for _, r := range out.Rejections {
			fmt.Fprintln(w, "  "+r.String())
		}
	}
	if v := out.Verify; v != nil {
		fmt.Fprintln(w, "verify:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TABLE\tLEGACY\tREFUSED\tAGGREGATES\tVIEW ROWS")
		for _, t := range v.Tables {
			view := "-"
			if t.View != nil {
				view = strconv.Itoa(*t.View)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", t.Table, t.Legacy, t.Refused, t.Aggregates, view)
		}
		tw.Flush()
		fmt.Fprintf(w, "  compared field by field: %d commands, %d positions (net, long, short exactly), %d PnL symbols\n", v.Commands, v.Positions, v.PnL)
		if v.OK() {
			fmt.Fprintln(w, "  OK: no mismatch")
		}
		const shown = 100
		for i, m := range v.Mismatches {
			if i == shown {
				fmt.Fprintf(w, "  ... and %d more mismatches (--json lists every one)\n", len(v.Mismatches)-shown)
				break
			}
			fmt.Fprintln(w, "  MISMATCH "+m)
		}
	}
}
