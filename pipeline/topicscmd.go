package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("topics", "compare the brokers' topics with the catalog (partitions, replication, configs; goka's group tables included)", runTopics).withArgs("",
		"STATUS: ok, missing (not on the brokers), differs (see PARTITIONS and REPLICATION want/have, and CONFIGS), extra (not in the catalog)",
		"--create first creates the missing topics (a one-shot provisioning step; existing topics are verified, never altered)",
		"--offline prints the catalog without asking a broker; --format strimzi prints it as Strimzi KafkaTopic resources (no broker)")
}

// strimziFormat is the --format that prints the catalog as KafkaTopics.
const strimziFormat = "strimzi"

// topicFormats render the comparison; one entry per --format.
var topicFormats = map[string]func(io.Writer, []topics.TopicStatus) error{
	"table": printTopicTable,
	"json":  func(w io.Writer, s []topics.TopicStatus) error { return writeJSON(w, s) },
}

func runTopics(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("topics", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	format := fs.String("format", "table", "output: "+strings.Join(formatNames(), ", ")+" or "+strimziFormat+" (KafkaTopic resources of the catalog; implies --offline)")
	asJSON := fs.Bool("json", false, "same as --format json")
	offline := fs.Bool("offline", false, "print the catalog only; ask no broker")
	create := fs.Bool("create", false, "create the missing topics first (as every role does at start), then compare")
	cluster := fs.String("strimzi-cluster", "hedgeline", "--format strimzi: the Kafka cluster's name (label strimzi.io/cluster)")
	namespace := fs.String("strimzi-namespace", "", "--format strimzi: metadata.namespace of the KafkaTopics (default: none, e.g. for kustomize)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on unreachable brokers after this long")
	var lf logFlags // --create logs the topics it created
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("no arguments expected, got %q", fs.Args())
	}
	if *asJSON {
		*format = "json"
	}
	render, ok := topicFormats[*format]
	if !ok && *format != strimziFormat {
		return usageErrorf("--format: want %s or %s, got %q", strings.Join(formatNames(), ", "), strimziFormat, *format)
	}
	if errs := k.validate(); len(errs) > 0 {
		return &usageError{err: errors.Join(errs...)}
	}
	specs := catalogSpecs(k)
	if *format == strimziFormat {
		if *create {
			return usageErrorf("--create asks the brokers; --format strimzi only prints the catalog")
		}
		if *cluster == "" {
			return usageErrorf("--strimzi-cluster: the Kafka cluster's name is required")
		}
		// The header names the effective values (flags or environment).
		gen := []string{"topics", "--format", strimziFormat, "--partitions", fmt.Sprint(k.partitions),
			"--replication", fmt.Sprint(k.replication), "--strimzi-cluster", *cluster}
		if *namespace != "" {
			gen = append(gen, "--strimzi-namespace", *namespace)
		}
		return printStrimzi(stdout, specs, *cluster, *namespace, gen)
	}
	if *offline {
		if *format == "json" {
			return writeJSON(stdout, specs)
		}
		return printCatalog(stdout, specs)
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *create {
		log, err := lf.logger()
		if err != nil {
			return err
		}
		if err := ensureTopics(cctx, kadm.NewClient(cl), k, log); err != nil {
			if cctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("no answer from brokers %s within %s (--timeout): %w", k.brokers, *timeout, err)
			}
			return fmt.Errorf("brokers %s: %w", k.brokers, err)
		}
	}
	st, err := topics.Compare(cctx, kadm.NewClient(cl), specs)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("no answer from brokers %s within %s (--timeout; --offline prints the catalog): %w", k.brokers, *timeout, err)
		}
		return fmt.Errorf("brokers %s: %w", k.brokers, err)
	}
	return render(stdout, st)
}

func formatNames() []string {
	names := make([]string, 0, len(topicFormats))
	for n := range topicFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// catalogSpecs is every topic the pipeline uses (stack.Topics).
func catalogSpecs(k kafkaFlags) []topics.Spec {
	return stack.Topics(int32(k.partitions), int16(k.replication))
}

func printTopicTable(w io.Writer, st []topics.TopicStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tKIND\tPARTITIONS\tREPLICATION\tCONFIGS\tSTATUS")
	for _, s := range st {
		kind, configs := string(s.Kind), "ok"
		want, have := fmt.Sprint(s.WantPartitions), fmt.Sprint(s.HavePartitions)
		wantRF, haveRF := fmt.Sprint(s.WantReplication), fmt.Sprint(s.HaveReplication)
		switch s.Status {
		case topics.StatusMissing:
			have, haveRF, configs = "-", "-", "-"
		case topics.StatusExtra:
			kind, want, wantRF, configs = "-", "-", "-", "-"
		}
		var drift []string
		for _, d := range s.Drift {
			if d.Field != "partitions" && d.Field != "replication.factor" {
				drift = append(drift, fmt.Sprintf("%s=%s (have %s)", d.Field, d.Want, d.Have))
			}
		}
		if len(drift) > 0 {
			configs = strings.Join(drift, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s/%s\t%s\t%s\n", s.Name, kind, want, have, wantRF, haveRF, configs, s.Status)
	}
	return tw.Flush()
}

func printCatalog(w io.Writer, specs []topics.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tKIND\tAGGREGATE\tPARTITIONS\tREPLICATION\tCONFIGS")
	for _, s := range specs {
		keys := make([]string, 0, len(s.Configs))
		for k := range s.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var cfg []string
		for _, k := range keys {
			cfg = append(cfg, k+"="+s.Configs[k])
		}
		agg := s.AggregateType
		if agg == "" {
			agg = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", s.Name, s.Kind, agg, s.Partitions, s.ReplicationFactor, strings.Join(cfg, ","))
	}
	return tw.Flush()
}
