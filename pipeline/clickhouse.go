package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/hedgeline/hedgeline/embedded/clickhouse"
)

func init() {
	register("clickhouse", "run the embedded ClickHouse (26.7, libchdb) on 127.0.0.1 until SIGTERM, restarted if it dies", runClickHouse)
}

func runClickHouse(ctx context.Context, args []string, _ io.Writer) error {
	fs := newFlagSet("clickhouse", os.Stderr)
	dataDir := fs.String("data-dir", "", "directory of the ClickHouse data (required)")
	tcpPort := fs.Int("tcp-port", 9000, "native protocol port on 127.0.0.1")
	httpPort := fs.Int("http-port", 0, "HTTP interface port on 127.0.0.1 (0: off)")
	var lf logFlags
	lf.register(fs)
	lib := fs.String("clickhouse-lib", "", "path of libchdb.so (default: "+clickhouse.EnvLib+", then the cache, then a verified download)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataDir == "" {
		return errRequired("--data-dir")
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	// The engine runs in a supervised child process: a broken client can
	// then at worst cost a restart, which the supervisor logs.
	p, err := clickhouse.Spawn(ctx, clickhouse.ProcessConfig{
		Config: clickhouse.Config{DataDir: *dataDir, TCPPort: *tcpPort, HTTPPort: *httpPort, LibPath: *lib},
		Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("clickhouse ready", "tcp", p.Addr(), "http", p.HTTPAddr(), "data_dir", p.DataDir())
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Stop(stopCtx)
}
