package main

import (
	"context"
	"io"
	"os"

	"github.com/hedgeline/hedgeline/embedded/kafka"
)

func init() {
	register("broker", "run the embedded Kafka-protocol broker (kfake) until SIGTERM", runBroker)
}

func runBroker(ctx context.Context, args []string, _ io.Writer) error {
	fs := newFlagSet("broker", os.Stderr)
	listen := fs.String("listen", kafka.DefaultListen, "address to listen on")
	dataDir := fs.String("data-dir", "", "directory that keeps topics, offsets and groups across restarts (empty: in memory)")
	sync := fs.Bool("sync-writes", false, "fsync every append (survives power loss, not only process crashes)")
	advertise := fs.String("advertise", "", "host:port announced to clients (default: the listen address)")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	return kafka.Run(ctx, kafka.Config{
		Listen: *listen, Advertise: *advertise, DataDir: *dataDir, SyncWrites: *sync && *dataDir != "", Logger: log,
	})
}
