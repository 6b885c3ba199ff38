package migrate

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Prefix starts every command id and correlation id the migration
// produces: events caused by a migrated command carry it, which is how a
// run tells migrated history from live events on the topics.
const Prefix = "legacy:"

// orderNamespace is the UUID v5 namespace of migrated order ids. Fixed
// forever: changing it would give every legacy order a second id.
var orderNamespace = uuid.MustParse("6f1c2d0e-5b7a-4c59-9e64-8d3f1a2b7c40")

// OrderID is the OffchainOrder aggregate id (and execution id) of legacy
// offchain_trades row n: the same on every run.
func OrderID(n int64) uuid.UUID {
	return uuid.NewSHA1(orderNamespace, []byte(fmt.Sprintf("hedgeline-legacy-offchain-trade:%d", n)))
}

// CommandID is the deterministic id of the command made from one legacy
// row (or symbol): a re-run produces the same ids, and skips those
// already on the commands topics.
func CommandID(table, row, commandType string) string {
	return Prefix + table + ":" + row + ":" + commandType
}

// correlation groups everything one legacy row causes.
func correlation(table, row string) string { return Prefix + table + ":" + row }

// IsMigrated reports whether a command or correlation id is the
// migration's.
func IsMigrated(id string) bool { return strings.HasPrefix(id, Prefix) }
