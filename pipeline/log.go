package main

import (
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/IBM/sarama"
)

// logFlags are --log-level and --log-format, shared by every command that logs.
type logFlags struct{ level, format string }

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "text (key=value) or json (one object a line)")
}

func (l logFlags) logger() (*slog.Logger, error) { return newLoggerFormat(l.level, l.format) }

// newLoggerFormat makes the command's logger on stderr and routes every
// other logger of the process through it: slog's default (the embedded
// ClickHouse library fetch), the standard log package, and sarama's global
// logger (at debug level: sarama narrates every connection).
func newLoggerFormat(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", level)
	}
	h, err := logHandler(os.Stderr, format, l)
	if err != nil {
		return nil, err
	}
	log := slog.New(h)
	slog.SetDefault(log)
	sarama.Logger = slog.NewLogLogger(h.WithAttrs([]slog.Attr{slog.String("component", "sarama")}), slog.LevelDebug)
	return log, nil
}

func logHandler(w io.Writer, format string, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, usageErrorf("--log-format %q: want text or json", format)
}
