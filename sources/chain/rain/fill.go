package rain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"
)

// MatchAfterClear picks the AfterClear of a Clear log: among candidates
// (logs of the Clear's block), the one of the same version, orderbook
// address, transaction and block with the smallest log index greater than
// the Clear's. A transaction clearing twice emits Clear, AfterClear, Clear,
// AfterClear, so the nearest following one belongs to this Clear. ok is
// false when there is none (or clear is not a Clear log).
func MatchAfterClear(clear types.Log, candidates []types.Log) (types.Log, bool) {
	if len(clear.Topics) == 0 {
		return types.Log{}, false
	}
	var want common.Hash
	switch clear.Topics[0] {
	case TopicClearV2:
		want = TopicAfterClear
	case TopicClearV3:
		want = TopicAfterClearV2
	default:
		return types.Log{}, false
	}
	var best types.Log
	found := false
	for _, c := range candidates {
		if len(c.Topics) == 0 || c.Topics[0] != want || c.Removed ||
			c.Address != clear.Address || c.TxHash != clear.TxHash || c.BlockNumber != clear.BlockNumber ||
			c.BlockHash != clear.BlockHash || c.Index <= clear.Index {
			continue
		}
		if !found || c.Index < best.Index {
			best, found = c, true
		}
	}
	return best, found
}

// Fill is one order's side of a fill, from the order's point of view: it
// received InputAmount of InputToken and gave OutputAmount of OutputToken.
type Fill struct {
	InputToken, OutputToken   common.Address
	InputAmount, OutputAmount decimal.Decimal
}

var ErrNoAfterClear = errors.New("clear without its AfterClear")

// OrderFill is owner's side of a TakeOrder or Clear; ok is false when owner
// has no order in it. A Clear needs after, its AfterClear (MatchAfterClear);
// when owner is both alice and bob, alice's side is used, as upstream did.
// The TakeOrder event's amounts are the taker's: the order's input is the
// event's output and its output the event's input (upstream passed them
// straight through until PR #163 and so swapped them).
func OrderFill(ev Event, after *AfterClear, owner common.Address) (Fill, bool, error) {
	switch e := ev.(type) {
	case *TakeOrder:
		if e == nil {
			return Fill{}, false, errors.New("nil TakeOrder")
		}
		if e.Order.Owner != owner {
			return Fill{}, false, nil
		}
		f, err := fill(e.Order, e.InputIOIndex, e.OutputIOIndex, e.Output, e.Input)
		if err != nil {
			return Fill{}, false, fmt.Errorf("%s order of %s: %w", e.Name(), owner, err)
		}
		return f, true, nil
	case *Clear:
		if e == nil {
			return Fill{}, false, errors.New("nil Clear")
		}
		var side string
		var order Order
		var inIdx, outIdx *big.Int
		switch owner {
		case e.Alice.Owner:
			side, order, inIdx, outIdx = "alice", e.Alice, e.AliceInputIOIndex, e.AliceOutputIOIndex
		case e.Bob.Owner:
			side, order, inIdx, outIdx = "bob", e.Bob, e.BobInputIOIndex, e.BobOutputIOIndex
		default:
			return Fill{}, false, nil
		}
		if after == nil {
			return Fill{}, false, fmt.Errorf("%s: %w", e.Name(), ErrNoAfterClear)
		}
		if after.Version != e.Version {
			return Fill{}, false, fmt.Errorf("%s paired with %s of another orderbook version", e.Name(), after.Name())
		}
		in, out := after.AliceInput, after.AliceOutput
		if side == "bob" {
			in, out = after.BobInput, after.BobOutput
		}
		f, err := fill(order, inIdx, outIdx, in, out)
		if err != nil {
			return Fill{}, false, fmt.Errorf("%s %s (%s): %w", e.Name(), side, owner, err)
		}
		return f, true, nil
	case *AfterClear:
		return Fill{}, false, errors.New("an AfterClear is not a fill: pass its Clear, with it as after")
	case nil:
		return Fill{}, false, errors.New("no event")
	}
	return Fill{}, false, fmt.Errorf("unknown event type %T", ev)
}

// fill resolves the IOs at the indices and scales the order's amounts.
func fill(o Order, inIdx, outIdx *big.Int, inAmount, outAmount Amount) (Fill, error) {
	in, err := ioAt("input", o.ValidInputs, inIdx)
	if err != nil {
		return Fill{}, err
	}
	out, err := ioAt("output", o.ValidOutputs, outIdx)
	if err != nil {
		return Fill{}, err
	}
	inDec, err := inAmount.Decimal(in)
	if err != nil {
		return Fill{}, fmt.Errorf("input amount: %w", err)
	}
	outDec, err := outAmount.Decimal(out)
	if err != nil {
		return Fill{}, fmt.Errorf("output amount: %w", err)
	}
	return Fill{InputToken: in.Token, OutputToken: out.Token, InputAmount: inDec, OutputAmount: outDec}, nil
}

func ioAt(what string, ios []IO, idx *big.Int) (IO, error) {
	if idx == nil || idx.Sign() < 0 || !idx.IsInt64() || idx.Int64() >= int64(len(ios)) {
		return IO{}, fmt.Errorf("no valid %s at index %v (the order has %d)", what, idx, len(ios))
	}
	return ios[idx.Int64()], nil
}
