// Package raintest builds real ABI encodings of the orderbook events (with
// go-ethereum's abi package and the canonical ABIs of package rain), so
// tests can emit them on a simulated chain or feed them to rain.Decode.
// Test helpers: misuse (an amount of the wrong kind, a coefficient that
// does not fit) panics.
package raintest

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/sources/chain/rain"
)

// IO is an order input or output. Decimals is encoded by V4 events only.
type IO struct {
	Token    common.Address
	Decimals uint8
	VaultID  common.Hash
}

// Order is an order; Bytecode fills the evaluable (nothing decodes it).
type Order struct {
	Owner           common.Address
	Inputs, Outputs []IO
	Nonce           common.Hash
	Bytecode        []byte
}

// Amount is an event amount: Raw for V4 events, Float for V5 ones.
type Amount struct {
	Raw   *big.Int
	Float *[32]byte
}

// Raw is a V4 amount in the token's smallest unit.
func Raw(v *big.Int) Amount { return Amount{Raw: v} }

// Units is a V4 amount given as a decimal string in whole tokens, e.g.
// Units("64.169234", 6) is 64169234.
func Units(s string, decimals uint8) Amount {
	d := decimal.RequireFromString(s).Shift(int32(decimals))
	if !d.IsInteger() {
		panic(fmt.Sprintf("raintest: %s has more than %d decimals", s, decimals))
	}
	return Amount{Raw: d.BigInt()}
}

// FloatBytes is a V5 amount as the exact Float bytes.
func FloatBytes(b [32]byte) Amount { return Amount{Float: &b} }

// Float is a V5 amount: coefficient × 10^exponent.
func Float(coefficient *big.Int, exponent int32) Amount {
	return FloatBytes(EncodeFloat(coefficient, exponent))
}

// Dec is a V5 amount from a decimal string, e.g. Dec("160.15507752").
func Dec(s string) Amount {
	d := decimal.RequireFromString(s)
	return Float(d.Coefficient(), d.Exponent())
}

var (
	two224 = new(big.Int).Lsh(big.NewInt(1), 224)
	min224 = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 223))
	max224 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 223), big.NewInt(1))
)

// EncodeFloat packs a Rain Float: int32 exponent in the high 4 bytes,
// int224 coefficient (two's complement) in the low 28.
func EncodeFloat(coefficient *big.Int, exponent int32) [32]byte {
	if coefficient.Cmp(min224) < 0 || coefficient.Cmp(max224) > 0 {
		panic(fmt.Sprintf("raintest: Float coefficient %s does not fit int224", coefficient))
	}
	c := new(big.Int).Set(coefficient)
	if c.Sign() < 0 {
		c.Add(c, two224)
	}
	var b [32]byte
	c.FillBytes(b[4:])
	b[0], b[1], b[2], b[3] = byte(uint32(exponent)>>24), byte(uint32(exponent)>>16), byte(uint32(exponent)>>8), byte(uint32(exponent))
	return b
}

// TakeOrder is a TakeOrderV2/V3. Input and Output are the taker's view,
// as the event has them: Input is what the taker received (the order's
// output token), Output what it paid (the order's input token).
type TakeOrder struct {
	Sender                      common.Address
	Order                       Order
	InputIOIndex, OutputIOIndex int64
	Input, Output               Amount
}

// Clear is a ClearV2/V3.
type Clear struct {
	Sender                                                                   common.Address
	Alice, Bob                                                               Order
	AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex int64
	AliceBountyVaultID, BobBountyVaultID                                     common.Hash
}

// StateChange is the ClearStateChange an AfterClear/AfterClearV2 carries:
// each order's amounts from its own point of view.
type StateChange struct {
	Sender                                       common.Address
	AliceOutput, BobOutput, AliceInput, BobInput Amount
}

// The Go shapes the abi package packs: tuple fields are matched by the
// camel-cased ABI component names.
type (
	ioV4 struct {
		Token    common.Address
		Decimals uint8
		VaultId  *big.Int
	}
	ioV5 struct {
		Token   common.Address
		VaultId [32]byte
	}
	evaluable struct {
		Interpreter, Store common.Address
		Bytecode           []byte
	}
	orderV4 struct {
		Owner                     common.Address
		Evaluable                 evaluable
		ValidInputs, ValidOutputs []ioV4
		Nonce                     [32]byte
	}
	orderV5 struct {
		Owner                     common.Address
		Evaluable                 evaluable
		ValidInputs, ValidOutputs []ioV5
		Nonce                     [32]byte
	}
	signedContext struct {
		Signer    common.Address
		Context   [][32]byte
		Signature []byte
	}
	takeConfigV4 struct {
		Order                       orderV4
		InputIOIndex, OutputIOIndex *big.Int
		SignedContext               []signedContext
	}
	takeConfigV5 struct {
		Order                       orderV5
		InputIOIndex, OutputIOIndex *big.Int
		SignedContext               []signedContext
	}
	clearConfigV4 struct {
		AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex *big.Int
		AliceBountyVaultId, BobBountyVaultId                                     *big.Int
	}
	clearConfigV5 struct {
		AliceInputIOIndex, AliceOutputIOIndex, BobInputIOIndex, BobOutputIOIndex *big.Int
		AliceBountyVaultId, BobBountyVaultId                                     [32]byte
	}
	stateChangeV4 struct{ AliceOutput, BobOutput, AliceInput, BobInput *big.Int }
	stateChangeV5 struct{ AliceOutput, BobOutput, AliceInput, BobInput [32]byte }
)

func (o Order) v4() orderV4 {
	conv := func(ios []IO) []ioV4 {
		out := make([]ioV4, len(ios))
		for i, io := range ios {
			out[i] = ioV4{Token: io.Token, Decimals: io.Decimals, VaultId: io.VaultID.Big()}
		}
		return out
	}
	return orderV4{Owner: o.Owner, Evaluable: o.evaluable(), ValidInputs: conv(o.Inputs), ValidOutputs: conv(o.Outputs), Nonce: o.Nonce}
}

func (o Order) v5() orderV5 {
	conv := func(ios []IO) []ioV5 {
		out := make([]ioV5, len(ios))
		for i, io := range ios {
			out[i] = ioV5{Token: io.Token, VaultId: io.VaultID}
		}
		return out
	}
	return orderV5{Owner: o.Owner, Evaluable: o.evaluable(), ValidInputs: conv(o.Inputs), ValidOutputs: conv(o.Outputs), Nonce: o.Nonce}
}

func (o Order) evaluable() evaluable {
	return evaluable{Interpreter: common.HexToAddress("0x1111"), Store: common.HexToAddress("0x2222"), Bytecode: o.Bytecode}
}

func (a Amount) raw(what string) *big.Int {
	if a.Raw == nil {
		panic(fmt.Sprintf("raintest: %s: a V4 event needs a Raw or Units amount", what))
	}
	return a.Raw
}

func (a Amount) float(what string) [32]byte {
	if a.Float == nil {
		panic(fmt.Sprintf("raintest: %s: a V5 event needs a Float, FloatBytes or Dec amount", what))
	}
	return *a.Float
}

func idx(i int64) *big.Int { return big.NewInt(i) }

// someContext is a signed context entry, so encodings carry one like real
// takes that pass signed data (Decode skips it).
var someContext = []signedContext{{Signer: common.HexToAddress("0x3333"), Context: [][32]byte{{1}, {2}}, Signature: []byte{0xaa, 0xbb}}}

func encode(version int, name string, args ...any) (common.Hash, []byte) {
	a, err := rain.ABI(version)
	if err != nil {
		panic(err)
	}
	ev, ok := a.Events[name]
	if !ok {
		panic("raintest: no event " + name)
	}
	data, err := ev.Inputs.NonIndexed().Pack(args...)
	if err != nil {
		panic(fmt.Sprintf("raintest: encode %s: %v", name, err))
	}
	return ev.ID, data
}

// TakeOrderV2 encodes a V4 TakeOrderV2 (Raw/Units amounts).
func TakeOrderV2(t TakeOrder) (common.Hash, []byte) {
	return encode(4, "TakeOrderV2", t.Sender,
		takeConfigV4{Order: t.Order.v4(), InputIOIndex: idx(t.InputIOIndex), OutputIOIndex: idx(t.OutputIOIndex), SignedContext: someContext},
		t.Input.raw("input"), t.Output.raw("output"))
}

// TakeOrderV3 encodes a V5 TakeOrderV3 (Float amounts).
func TakeOrderV3(t TakeOrder) (common.Hash, []byte) {
	return encode(5, "TakeOrderV3", t.Sender,
		takeConfigV5{Order: t.Order.v5(), InputIOIndex: idx(t.InputIOIndex), OutputIOIndex: idx(t.OutputIOIndex), SignedContext: someContext},
		t.Input.float("input"), t.Output.float("output"))
}

// ClearV2 encodes a V4 ClearV2.
func ClearV2(c Clear) (common.Hash, []byte) {
	return encode(4, "ClearV2", c.Sender, c.Alice.v4(), c.Bob.v4(), clearConfigV4{
		AliceInputIOIndex: idx(c.AliceInputIOIndex), AliceOutputIOIndex: idx(c.AliceOutputIOIndex),
		BobInputIOIndex: idx(c.BobInputIOIndex), BobOutputIOIndex: idx(c.BobOutputIOIndex),
		AliceBountyVaultId: c.AliceBountyVaultID.Big(), BobBountyVaultId: c.BobBountyVaultID.Big()})
}

// ClearV3 encodes a V5 ClearV3.
func ClearV3(c Clear) (common.Hash, []byte) {
	return encode(5, "ClearV3", c.Sender, c.Alice.v5(), c.Bob.v5(), clearConfigV5{
		AliceInputIOIndex: idx(c.AliceInputIOIndex), AliceOutputIOIndex: idx(c.AliceOutputIOIndex),
		BobInputIOIndex: idx(c.BobInputIOIndex), BobOutputIOIndex: idx(c.BobOutputIOIndex),
		AliceBountyVaultId: c.AliceBountyVaultID, BobBountyVaultId: c.BobBountyVaultID})
}

// AfterClear encodes a V4 AfterClear (Raw/Units amounts).
func AfterClear(a StateChange) (common.Hash, []byte) {
	return encode(4, "AfterClear", a.Sender, stateChangeV4{
		AliceOutput: a.AliceOutput.raw("aliceOutput"), BobOutput: a.BobOutput.raw("bobOutput"),
		AliceInput: a.AliceInput.raw("aliceInput"), BobInput: a.BobInput.raw("bobInput")})
}

// AfterClearV2 encodes a V5 AfterClearV2 (Float amounts).
func AfterClearV2(a StateChange) (common.Hash, []byte) {
	return encode(5, "AfterClearV2", a.Sender, stateChangeV5{
		AliceOutput: a.AliceOutput.float("aliceOutput"), BobOutput: a.BobOutput.float("bobOutput"),
		AliceInput: a.AliceInput.float("aliceInput"), BobInput: a.BobInput.float("bobInput")})
}

// Log wraps an encoding as the log an orderbook at address emits.
func Log(address common.Address, topic0 common.Hash, data []byte) types.Log {
	return types.Log{Address: address, Topics: []common.Hash{topic0}, Data: data}
}
