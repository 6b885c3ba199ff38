package runner

import (
	"fmt"
	"log/slog"
)

// gokaLogger routes goka's printf logging into slog at debug level; goka is
// chatty about every rebalance.
type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...interface{})                 { g.l.Debug(fmt.Sprint(v...)) }
func (g gokaLogger) Println(v ...interface{})               { g.l.Debug(fmt.Sprint(v...)) }
func (g gokaLogger) Printf(format string, v ...interface{}) { g.l.Debug(fmt.Sprintf(format, v...)) }
