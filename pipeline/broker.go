package main

import (
	"context"
	"io"
	"os"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/tlsconf"
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
	var tf tlsconf.ServerFlags
	tf.Register(fs, "tls", "the broker")
	// The user clients authenticate as: the same flags (and
	// HEDGELINE_KAFKA_SASL_* variables) the clients take.
	var sec kafkasec.Flags
	fs.StringVar(&sec.Mechanism, "kafka-sasl-mechanism", "", "require SASL: the mechanism of the one user (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; default: no SASL)")
	fs.StringVar(&sec.User, "kafka-sasl-username", "", "the SASL user's name")
	fs.StringVar(&sec.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL user's password (one line)")
	fs.StringVar(&sec.Password, "kafka-sasl-password", "", "the SASL user's password: prefer HEDGELINE_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	serverTLS, err := tf.Load()
	if err != nil {
		return err
	}
	s, err := sec.Load()
	if err != nil {
		return err
	}
	var users []kafka.User
	if m, u, p := s.Credentials(); m != "" {
		users = append(users, kafka.User{Mechanism: m, Name: u, Password: p})
	}
	return kafka.Run(ctx, kafka.Config{
		Listen: *listen, Advertise: *advertise, DataDir: *dataDir, SyncWrites: *sync && *dataDir != "", Logger: log,
		TLS: serverTLS, Users: users,
	})
}
