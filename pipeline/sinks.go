package main

import (
	"errors"
	"flag"

	"github.com/hedgeline/hedgeline/internal/secret"
	"github.com/hedgeline/hedgeline/internal/tlsconf"
	"github.com/hedgeline/hedgeline/sinks"
)

// chFlags are shared by every command that talks to ClickHouse.
type chFlags struct {
	addr, user, password, passwordFile, database string
	cluster                                      string
	tls                                          tlsconf.Flags // --clickhouse-tls*
}

func (c *chFlags) register(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&c.addr, "clickhouse", defaultAddr, "ClickHouse native-protocol address host:port (9440 is a server's usual TLS port)")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password: prefer HEDGELINE_CLICKHOUSE_PASSWORD or --clickhouse-password-file (a command line is visible to every local user)")
	fs.StringVar(&c.passwordFile, "clickhouse-password-file", "", "file holding the ClickHouse password (one line)")
	fs.StringVar(&c.database, "clickhouse-database", sinks.DefaultDatabase, "database of the views (created if missing, Atomic engine)")
	c.tls.Register(fs, "clickhouse-tls", "ClickHouse")
	fs.StringVar(&c.cluster, "clickhouse-cluster", "", "create the views ON CLUSTER with Replicated engines on this one-shard cluster "+
		"(remote_servers; needs ClickHouse Keeper and the {shard} and {replica} macros); --clickhouse names one of its replicas")
}

// config is how to reach ClickHouse, with the TLS and password files read.
func (c chFlags) config() (sinks.Config, error) {
	var errs []error
	tlsConfig, err := c.tls.Load()
	if err != nil {
		errs = append(errs, err)
	}
	password, err := secret.FromValueOrFile("--clickhouse-password", c.password, "--clickhouse-password-file", c.passwordFile)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return sinks.Config{}, err
	}
	return sinks.Config{Addr: c.addr, User: c.user, Password: password, Database: c.database, TLS: tlsConfig, Cluster: c.cluster}, nil
}
