package runner

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkStep measures the runner's per-input cost on one key whose
// record holds a window of pending (unacknowledged) outputs of ~600 bytes,
// the size of a position event. The window is what Tuning.MaxInFlight
// bounds: the cost of a write grows with it.
func BenchmarkStep(b *testing.B) {
	value := strings.Repeat("x", 600)
	h := Handler[int](func(s int, in Input) (int, []Output, error) {
		return s + 1, []Output{{Topic: "events", Key: in.Key, Value: []byte(value)}}, nil
	})
	for _, window := range []int64{0, 16, 64, 256, 1024} {
		b.Run(fmt.Sprintf("pending=%d", window), func(b *testing.B) {
			var raw []byte
			off := int64(0)
			for ; off < window; off++ { // fill the window
				raw, _, _, _ = step(h, raw, in(off, "1"), -1)
			}
			b.ReportAllocs()
			for b.Loop() {
				// The mark trails the input by window: the record keeps
				// exactly window pending entries.
				newRaw, _, _, err := step(h, raw, in(off, "1"), off-window)
				if err != nil {
					b.Fatal(err)
				}
				raw = newRaw
				off++
			}
			b.ReportMetric(float64(len(raw)), "record-bytes")
		})
	}
}
