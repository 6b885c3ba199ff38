package market

import "time"

// HistoricalAfter is how old an event must be to count as history being
// replayed rather than live. A live pipeline sees a fill seconds after its
// block and ends a hedge within the stale timeout (10 minutes by default);
// even catching up after an outage it is hours behind. Replayed history (the
// bundled sample, a backtest) is days to months old. A day separates the two
// with a margin on both sides.
const HistoricalAfter = 24 * time.Hour

// Historical reports whether an event at time at is history being replayed
// as of now (false for a zero time: unknown is not history).
func Historical(at, now time.Time) bool {
	return !at.IsZero() && now.Sub(at) > HistoricalAfter
}
