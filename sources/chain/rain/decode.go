package rain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"
)

// Kind is what an event says about a fill.
type Kind int

const (
	KindTakeOrder  Kind = iota + 1 // an order taken: TakeOrderV2/V3
	KindClear                      // two orders cleared: ClearV2/V3 (amounts in the AfterClear that follows)
	KindAfterClear                 // the amounts of the Clear before it: AfterClear/AfterClearV2
)

func (k Kind) String() string {
	switch k {
	case KindTakeOrder:
		return "TakeOrder"
	case KindClear:
		return "Clear"
	case KindAfterClear:
		return "AfterClear"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is a decoded orderbook event: *TakeOrder, *Clear or *AfterClear.
type Event interface {
	Kind() Kind
	// EventVersion is the orderbook interface version: 4 or 5.
	EventVersion() int
	// Name is the Solidity event name, e.g. "TakeOrderV3".
	Name() string
}

var (
	ErrUnknownEvent = errors.New("not an orderbook fill event")
	ErrMalformed    = errors.New("malformed event")
)

// IO is one of an order's valid inputs or outputs.
type IO struct {
	Token common.Address
	// Decimals scales the V4 raw amounts of this token; V5 IOs have none
	// (HasDecimals false), their amounts are Floats.
	Decimals    uint8
	HasDecimals bool
	VaultID     common.Hash
}

// Order is the part of an order the fill needs (the evaluable is not
// decoded).
type Order struct {
	Owner                     common.Address
	ValidInputs, ValidOutputs []IO
	Nonce                     common.Hash
}

// Amount is an event amount: a raw uint256 in the token's smallest unit
// (V4, scaled by the IO's decimals) or a Rain Float (V5).
type Amount struct {
	Raw     *big.Int // V4; nil for a Float
	Float   [32]byte // V5
	IsFloat bool
}

// Decimal is the amount's exact value; io is the IO of the amount's token,
// whose decimals scale a V4 raw amount.
func (a Amount) Decimal(io IO) (decimal.Decimal, error) {
	if a.IsFloat {
		return DecodeFloat(a.Float)
	}
	if a.Raw == nil {
		return decimal.Zero, errors.New("amount has neither a raw value nor a Float")
	}
	if !io.HasDecimals {
		return decimal.Zero, fmt.Errorf("raw amount %s for token %s without decimals", a.Raw, io.Token)
	}
	return decimal.NewFromBigInt(a.Raw, -int32(io.Decimals)), nil
}

func (a Amount) String() string {
	if a.IsFloat {
		if d, err := DecodeFloat(a.Float); err == nil {
			return d.String()
		}
		return fmt.Sprintf("Float(%x)", a.Float)
	}
	return fmt.Sprint(a.Raw)
}

// TakeOrder is TakeOrderV2 (Version 4) or TakeOrderV3 (Version 5). Input
// and Output are the taker's view, as in the event: the order's input is
// Output and its output Input.
type TakeOrder struct {
	Version                     int
	Sender                      common.Address
	Order                       Order
	InputIOIndex, OutputIOIndex *big.Int
	Input, Output               Amount
}

// Clear is ClearV2 (Version 4) or ClearV3 (Version 5); its amounts are in
// the AfterClear that follows it in the same transaction.
type Clear struct {
	Version                                                                  int
	Sender                                                                   common.Address
	Alice, Bob                                                               Order
	AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex *big.Int
}

// AfterClear is AfterClear (Version 4) or AfterClearV2 (Version 5).
type AfterClear struct {
	Version                                      int
	Sender                                       common.Address
	AliceOutput, BobOutput, AliceInput, BobInput Amount
}

func (*TakeOrder) Kind() Kind           { return KindTakeOrder }
func (*Clear) Kind() Kind               { return KindClear }
func (*AfterClear) Kind() Kind          { return KindAfterClear }
func (e *TakeOrder) EventVersion() int  { return e.Version }
func (e *Clear) EventVersion() int      { return e.Version }
func (e *AfterClear) EventVersion() int { return e.Version }
func (e *TakeOrder) Name() string       { return eventName(KindTakeOrder, e.Version) }
func (e *Clear) Name() string           { return eventName(KindClear, e.Version) }
func (e *AfterClear) Name() string      { return eventName(KindAfterClear, e.Version) }

func eventName(k Kind, version int) string {
	for _, s := range events {
		if s.kind == k && s.version == version {
			return s.name
		}
	}
	return fmt.Sprintf("%s(v%d)", k, version)
}

// The Go shapes of the decoding ABIs. The abi package copies tuples field
// by field in order, so the field order is the ABI's; evaluable and
// signedContext are the opaque offset words (see opaque).
type (
	rawIOV4 struct {
		Token    common.Address
		Decimals uint8
		VaultId  *big.Int
	}
	rawIOV5 struct {
		Token   common.Address
		VaultId [32]byte
	}
	rawOrderV4 struct {
		Owner                     common.Address
		Evaluable                 *big.Int
		ValidInputs, ValidOutputs []rawIOV4
		Nonce                     [32]byte
	}
	rawOrderV5 struct {
		Owner                     common.Address
		Evaluable                 *big.Int
		ValidInputs, ValidOutputs []rawIOV5
		Nonce                     [32]byte
	}
	rawTakeOrderV2 struct {
		Sender common.Address
		Config struct {
			Order                       rawOrderV4
			InputIOIndex, OutputIOIndex *big.Int
			SignedContext               *big.Int
		}
		Input, Output *big.Int
	}
	rawTakeOrderV3 struct {
		Sender common.Address
		Config struct {
			Order                       rawOrderV5
			InputIOIndex, OutputIOIndex *big.Int
			SignedContext               *big.Int
		}
		Input, Output [32]byte
	}
	rawClearV2 struct {
		Sender      common.Address
		Alice, Bob  rawOrderV4
		ClearConfig struct {
			AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex *big.Int
			AliceBountyVaultId, BobBountyVaultId                                     *big.Int
		}
	}
	rawClearV3 struct {
		Sender      common.Address
		Alice, Bob  rawOrderV5
		ClearConfig struct {
			AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex *big.Int
			AliceBountyVaultId, BobBountyVaultId                                     [32]byte
		}
	}
	rawAfterClear struct {
		Sender           common.Address
		ClearStateChange struct{ AliceOutput, BobOutput, AliceInput, BobInput *big.Int }
	}
	rawAfterClearV2 struct {
		Sender           common.Address
		ClearStateChange struct{ AliceOutput, BobOutput, AliceInput, BobInput [32]byte }
	}
)

// Decode decodes one orderbook log. A topic0 that is none of the six is
// ErrUnknownEvent; data that does not decode is ErrMalformed, naming the
// event. Never panics (FuzzDecode).
func Decode(l types.Log) (Event, error) {
	if len(l.Topics) == 0 {
		return nil, fmt.Errorf("%w: log without topics (anonymous event)", ErrUnknownEvent)
	}
	spec, ok := events[l.Topics[0]]
	if !ok {
		return nil, fmt.Errorf("%w: topic0 %s", ErrUnknownEvent, l.Topics[0])
	}
	if len(l.Topics) != 1 {
		return nil, fmt.Errorf("%w: %s with %d topics, want 1 (it has no indexed parameters)", ErrMalformed, spec.name, len(l.Topics))
	}
	ev, err := decode(spec, l.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%d bytes of data): %w", ErrMalformed, spec.name, len(l.Data), err)
	}
	return ev, nil
}

func decode(spec eventSpec, data []byte) (Event, error) {
	if len(data)%32 != 0 { // abi.encode pads everything to whole words
		return nil, fmt.Errorf("not a whole number of 32-byte words")
	}
	values, err := spec.shape.Inputs.Unpack(data)
	if err != nil {
		return nil, err
	}
	if err := checkOpaque(spec.kind, data); err != nil {
		return nil, err
	}
	into := func(v any) error { return spec.shape.Inputs.Copy(v, values) }
	switch spec.name {
	case "TakeOrderV2":
		var r rawTakeOrderV2
		if err := into(&r); err != nil {
			return nil, err
		}
		return &TakeOrder{Version: 4, Sender: r.Sender, Order: orderV4(r.Config.Order),
			InputIOIndex: r.Config.InputIOIndex, OutputIOIndex: r.Config.OutputIOIndex,
			Input: rawAmount(r.Input), Output: rawAmount(r.Output)}, nil
	case "TakeOrderV3":
		var r rawTakeOrderV3
		if err := into(&r); err != nil {
			return nil, err
		}
		return &TakeOrder{Version: 5, Sender: r.Sender, Order: orderV5(r.Config.Order),
			InputIOIndex: r.Config.InputIOIndex, OutputIOIndex: r.Config.OutputIOIndex,
			Input: floatAmount(r.Input), Output: floatAmount(r.Output)}, nil
	case "ClearV2":
		var r rawClearV2
		if err := into(&r); err != nil {
			return nil, err
		}
		c := r.ClearConfig
		return &Clear{Version: 4, Sender: r.Sender, Alice: orderV4(r.Alice), Bob: orderV4(r.Bob),
			AliceInputIOIndex: c.AliceInputIOIndex, AliceOutputIOIndex: c.AliceOutputIOIndex,
			BobInputIOIndex: c.BobInputIOIndex, BobOutputIOIndex: c.BobOutputIOIndex}, nil
	case "ClearV3":
		var r rawClearV3
		if err := into(&r); err != nil {
			return nil, err
		}
		c := r.ClearConfig
		return &Clear{Version: 5, Sender: r.Sender, Alice: orderV5(r.Alice), Bob: orderV5(r.Bob),
			AliceInputIOIndex: c.AliceInputIOIndex, AliceOutputIOIndex: c.AliceOutputIOIndex,
			BobInputIOIndex: c.BobInputIOIndex, BobOutputIOIndex: c.BobOutputIOIndex}, nil
	case "AfterClear":
		var r rawAfterClear
		if err := into(&r); err != nil {
			return nil, err
		}
		s := r.ClearStateChange
		return &AfterClear{Version: 4, Sender: r.Sender, AliceOutput: rawAmount(s.AliceOutput), BobOutput: rawAmount(s.BobOutput),
			AliceInput: rawAmount(s.AliceInput), BobInput: rawAmount(s.BobInput)}, nil
	case "AfterClearV2":
		var r rawAfterClearV2
		if err := into(&r); err != nil {
			return nil, err
		}
		s := r.ClearStateChange
		return &AfterClear{Version: 5, Sender: r.Sender, AliceOutput: floatAmount(s.AliceOutput), BobOutput: floatAmount(s.BobOutput),
			AliceInput: floatAmount(s.AliceInput), BobInput: floatAmount(s.BobInput)}, nil
	}
	return nil, fmt.Errorf("no decoder for %s", spec.name) // unreachable: events lists the six
}

func rawAmount(v *big.Int) Amount   { return Amount{Raw: v} }
func floatAmount(b [32]byte) Amount { return Amount{Float: b, IsFloat: true} }

func orderV4(r rawOrderV4) Order {
	conv := func(ios []rawIOV4) []IO {
		out := make([]IO, len(ios))
		for i, io := range ios {
			out[i] = IO{Token: io.Token, Decimals: io.Decimals, HasDecimals: true, VaultID: common.BigToHash(io.VaultId)}
		}
		return out
	}
	return Order{Owner: r.Owner, ValidInputs: conv(r.ValidInputs), ValidOutputs: conv(r.ValidOutputs), Nonce: r.Nonce}
}

func orderV5(r rawOrderV5) Order {
	conv := func(ios []rawIOV5) []IO {
		out := make([]IO, len(ios))
		for i, io := range ios {
			out[i] = IO{Token: io.Token, VaultID: io.VaultId}
		}
		return out
	}
	return Order{Owner: r.Owner, ValidInputs: conv(r.ValidInputs), ValidOutputs: conv(r.ValidOutputs), Nonce: r.Nonce}
}
