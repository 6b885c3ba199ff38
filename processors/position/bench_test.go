package position

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// BenchmarkAcknowledge is the position's hot path: one on-chain fill
// decided and evolved (below the threshold, so no hedge).
func BenchmarkAcknowledge(b *testing.B) {
	l := given(initialized(shares("1000000"), schwab), filled(1, market.Sell, "0.3", "150"))
	dirs := []market.Direction{market.Buy, market.Sell}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := fill(uint64(i+2), dirs[i%2], "0.3", "150.25")
		next, _, err := aggregate.Execute(Definition, l, c, now)
		if err != nil {
			b.Fatal(err)
		}
		l = next
	}
}
