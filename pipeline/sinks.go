package main

import (
	"flag"

	"github.com/hedgeline/hedgeline/sinks"
)

// chFlags are shared by every command that talks to ClickHouse.
type chFlags struct {
	addr, user, password, database string
	cluster                        string
	tls                            bool
}

func (c *chFlags) register(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&c.addr, "clickhouse", defaultAddr, "ClickHouse native-protocol address host:port")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password")
	fs.StringVar(&c.database, "clickhouse-database", sinks.DefaultDatabase, "database of the views (created if missing, Atomic engine)")
	fs.BoolVar(&c.tls, "clickhouse-tls", false, "connect with TLS (port 9440 on a real server)")
	fs.StringVar(&c.cluster, "clickhouse-cluster", "", "create the views ON CLUSTER with Replicated engines on this one-shard cluster "+
		"(remote_servers; needs ClickHouse Keeper and the {shard} and {replica} macros); --clickhouse names one of its replicas")
}

func (c chFlags) config() sinks.Config {
	return sinks.Config{Addr: c.addr, User: c.user, Password: c.password, Database: c.database, TLS: c.tls, Cluster: c.cluster}
}
