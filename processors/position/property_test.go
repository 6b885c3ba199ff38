package position

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// model is what the property test knows independently of the aggregate.
type model struct {
	l          aggregate.Lifecycle[State]
	onChain    decimal.Decimal // signed sum of on-chain fills
	hedged     decimal.Decimal // signed sum of filled hedges
	long       decimal.Decimal
	short      decimal.Decimal
	block, log uint64
	open       map[string]bool // placed and not yet filled or failed
	accepted   []aggregate.Command
	events     []aggregate.Event
	rejected   bool
	applied    []AcknowledgeOnChainFill // every applied fill, in order
	reverted   map[int]bool             // indexes into applied
}

func micro(t *rapid.T, label string, max int) decimal.Decimal {
	return decimal.New(int64(rapid.IntRange(1, max).Draw(t, label)), -6)
}

func drawThreshold(t *rapid.T) market.Threshold {
	if rapid.Bool().Draw(t, "dollar threshold") {
		return market.Threshold{Dollars: ptr(micro(t, "dollars", 2_000_000_000))}
	}
	return market.Threshold{Shares: ptr(micro(t, "shares", 3_000_000))}
}

func (m *model) run(t *rapid.T, c aggregate.Command) error {
	l, events, err := aggregate.Execute(Definition, m.l, c, now)
	m.rejected = err != nil
	if err != nil {
		if l.Version != m.l.Version {
			t.Fatalf("rejected %s changed the lifecycle", c.CommandType())
		}
		return err
	}
	m.l = l
	m.accepted = append(m.accepted, c)
	m.events = append(m.events, events...)
	for _, e := range events {
		switch e := e.(type) {
		case OnChainOrderFilled:
			m.onChain = m.onChain.Add(e.Direction.Signed(e.Amount))
			if e.Direction == market.Buy {
				m.long = m.long.Add(e.Amount)
			} else {
				m.short = m.short.Add(e.Amount)
			}
		case OnChainFillReverted:
			m.onChain = m.onChain.Sub(e.Direction.Signed(e.Amount))
			if e.Direction == market.Buy {
				m.long = m.long.Sub(e.Amount)
			} else {
				m.short = m.short.Sub(e.Amount)
			}
		case OffChainOrderPlaced:
			m.open[e.ExecutionID] = true
		case OffChainOrderFilled:
			m.hedged = m.hedged.Add(e.Direction.Signed(e.SharesFilled))
			delete(m.open, e.ExecutionID)
		case OffChainOrderFailed:
			delete(m.open, e.ExecutionID)
		}
	}
	return nil
}

func (m *model) nextFill(t *rapid.T) AcknowledgeOnChainFill {
	if rapid.Bool().Draw(t, "new block") {
		m.block += uint64(rapid.IntRange(1, 3).Draw(t, "blocks"))
		m.log = uint64(rapid.IntRange(0, 5).Draw(t, "log"))
	} else {
		m.log += uint64(rapid.IntRange(1, 3).Draw(t, "logs"))
	}
	return AcknowledgeOnChainFill{
		Symbol:         rapid.SampledFrom([]string{"tAAPL", "AAPL0x", "AAPLs1", "AAPL"}).Draw(t, "symbol"),
		TradeID:        market.TradeID{TxHash: tx(m.block*100 + m.log), LogIndex: m.log},
		BlockNumber:    m.block,
		Amount:         micro(t, "amount", 5_000_000),
		Direction:      rapid.SampledFrom([]market.Direction{market.Buy, market.Sell}).Draw(t, "direction"),
		PriceUSDC:      micro(t, "price", 500_000_000),
		BlockTimestamp: t0,
	}
}

// partOf draws a positive part of v (all of it half the time), keeping at
// most 6 decimals so amounts stay on the test's grid.
func partOf(t *rapid.T, v decimal.Decimal, places int32) decimal.Decimal {
	if rapid.Bool().Draw(t, "all") {
		return v
	}
	p := v.Mul(micro(t, "part", 1_000_000)).Truncate(places)
	if !p.IsPositive() {
		return v
	}
	return p
}

func (m *model) check(t *rapid.T) {
	if m.l.Status == aggregate.Uninitialized {
		return
	}
	s := m.l.State
	if m.l.Status != aggregate.Live {
		t.Fatalf("lifecycle failed: %s", m.l.Failure)
	}
	if m.l.Version != uint64(len(m.events)) {
		t.Fatalf("version %d after %d events", m.l.Version, len(m.events))
	}
	if want := m.onChain.Add(m.hedged); !s.Net.Equal(want) {
		t.Fatalf("net %s, want on-chain %s + hedged %s", s.Net, m.onChain, m.hedged)
	}
	if !s.HedgedShares.Equal(m.hedged) || !s.AccumulatedLong.Equal(m.long) || !s.AccumulatedShort.Equal(m.short) {
		t.Fatalf("hedged %s long %s short %s, want %s %s %s", s.HedgedShares, s.AccumulatedLong, s.AccumulatedShort, m.hedged, m.long, m.short)
	}
	if len(m.open) > 1 || (len(m.open) == 1) != (s.Pending != nil) || s.Pending != nil && !m.open[s.Pending.ExecutionID] {
		t.Fatalf("open hedges %v, pending %+v", m.open, s.Pending)
	}
	if s.Pending == nil && !m.rejected && !belowThreshold(s) {
		t.Fatalf("nothing pending but over threshold: net %s threshold %s price %v fractional %v",
			s.Net, s.Threshold, s.LastPriceUSDC, s.Execution.Fractional)
	}
}

// belowThreshold restates the trigger rule independently of trigger.go.
func belowThreshold(s State) bool {
	abs := s.Net.Abs()
	if abs.IsZero() || !s.Execution.Fractional && abs.LessThan(decimal.NewFromInt(1)) {
		return true
	}
	if s.Threshold.Shares != nil {
		return abs.LessThan(*s.Threshold.Shares)
	}
	return s.LastPriceUSDC == nil || s.LastPriceUSDC.Mul(abs).LessThan(*s.Threshold.Dollars)
}

func TestPositionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &model{open: map[string]bool{}}
		// The first fill opens the position with a random configuration.
		broker := rapid.SampledFrom([]market.Broker{market.Schwab, market.Alpaca, market.DryRun}).Draw(t, "broker")
		first := m.nextFill(t).opening(drawThreshold(t), market.Execution{Broker: broker, Fractional: rapid.Bool().Draw(t, "fractional")})
		if err := m.run(t, first); err != nil {
			t.Fatal(err)
		}
		m.applied, m.reverted = []AcknowledgeOnChainFill{first}, map[int]bool{}
		t.Repeat(map[string]func(*rapid.T){
			"": m.check,
			"fill": func(t *rapid.T) {
				c := m.nextFill(t)
				if err := m.run(t, c); err != nil {
					t.Fatal(err)
				}
				m.applied = append(m.applied, c)
			},
			// A reorg withdraws one of the newest fills: applied once, a
			// repeat is refused, one out of the window is not applied.
			"revert": func(t *rapid.T) {
				n := len(m.applied)
				i := rapid.IntRange(max(0, n-RevertWindowFills-2), n-1).Draw(t, "reverted fill")
				f := m.applied[i]
				c := RevertOnChainFill{Symbol: f.Symbol, TradeID: f.TradeID, BlockNumber: f.BlockNumber,
					Amount: f.Amount, Direction: f.Direction, PriceUSDC: f.PriceUSDC, Reason: "reorg"}
				err := m.run(t, c)
				switch {
				case i < n-RevertWindowFills:
					if !errors.Is(err, ErrFillNotApplied) {
						t.Fatalf("revert of a settled fill: %v", err)
					}
				case m.reverted[i]:
					if !errors.Is(err, ErrFillAlreadyReverted) {
						t.Fatalf("repeated revert: %v", err)
					}
				case err != nil:
					t.Fatal(err)
				default:
					m.reverted[i] = true
				}
			},
			"redelivered fill": func(t *rapid.T) {
				c := m.nextFill(t)
				w := m.l.State.LastFill
				if w == nil {
					t.Skip("every fill reverted")
				}
				// A watermark moved back by a revert has no trade id: nextFill's.
				c.BlockNumber, c.TradeID = w.BlockNumber, market.TradeID{TxHash: tx(w.BlockNumber*100 + w.LogIndex), LogIndex: w.LogIndex}
				if rapid.Bool().Draw(t, "earlier") && w.BlockNumber > 0 {
					c.BlockNumber--
				}
				if err := m.run(t, c); !errors.Is(err, ErrDuplicateTrade) {
					t.Fatalf("err %v, want ErrDuplicateTrade", err)
				}
			},
			"complete": func(t *rapid.T) {
				p := m.l.State.Pending
				if p == nil {
					t.Skip("nothing pending")
				}
				c := CompleteOffChainOrder{ExecutionID: p.ExecutionID, SharesFilled: partOf(t, p.Shares, 6), Direction: p.Direction,
					BrokerOrderID: "B", Price: micro(t, "price", 500_000_000), BrokerTimestamp: t0}
				if err := m.run(t, c); err != nil {
					t.Fatal(err)
				}
			},
			"fail": func(t *rapid.T) {
				p := m.l.State.Pending
				if p == nil {
					t.Skip("nothing pending")
				}
				if err := m.run(t, FailOffChainOrder{ExecutionID: p.ExecutionID, Error: "rejected"}); err != nil {
					t.Fatal(err)
				}
			},
			"stale outcome": func(t *rapid.T) {
				err := m.run(t, FailOffChainOrder{ExecutionID: ExecutionID(aapl, 1<<40), Error: "late"})
				if !errors.Is(err, ErrNoPendingExecution) && !errors.Is(err, ErrExecutionIDMismatch) {
					t.Fatalf("err %v", err)
				}
			},
			"threshold": func(t *rapid.T) {
				if err := m.run(t, UpdateThreshold{Threshold: drawThreshold(t)}); err != nil {
					t.Fatal(err)
				}
			},
			"manual": func(t *rapid.T) {
				s := m.l.State
				dir, ok := HedgeDirection(s.Net)
				q := s.Net.Abs()
				places := int32(6)
				if !s.Execution.Fractional {
					q, places = q.Truncate(0), 0
				}
				if s.Pending != nil || !ok || q.IsZero() {
					t.Skip("nothing to hedge by hand")
				}
				c := PlaceOffChainOrder{Symbol: aapl, Shares: partOf(t, q, places), Direction: dir, Broker: s.Execution.Broker}
				if err := m.run(t, c); err != nil {
					t.Fatal(err)
				}
			},
		})
		// Replaying the accepted commands from scratch yields the same bytes,
		// and folding the events yields the same state.
		var l aggregate.Lifecycle[State]
		var replayed []aggregate.Event
		for _, c := range m.accepted {
			var ev []aggregate.Event
			var err error
			if l, ev, err = aggregate.Execute(Definition, l, c, now); err != nil {
				t.Fatalf("replay %s: %v", c.CommandType(), err)
			}
			replayed = append(replayed, ev...)
		}
		if a, b := marshalAll(t, m.events), marshalAll(t, replayed); !bytes.Equal(a, b) {
			t.Fatalf("replay differs:\n%s\n%s", a, b)
		}
		if a, b := marshalAll(t, []any{m.l}), marshalAll(t, []any{aggregate.Replay(Definition, m.events)}); !bytes.Equal(a, b) {
			t.Fatalf("fold differs:\n%s\n%s", a, b)
		}
	})
}

func marshalAll[T any](t *rapid.T, vs []T) []byte {
	var out bytes.Buffer
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
