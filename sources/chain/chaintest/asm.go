package chaintest

import (
	"bytes"
	"fmt"
	"maps"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
)

// program is a tiny EVM assembler: opcodes by name (go-ethereum's vm
// constants), pushes of the shortest width, and labels for jump targets and
// for data blobs appended after the code. There is no Solidity compiler on the
// build machines, and the three stub contracts are a few dozen instructions.
type program struct {
	code   []byte
	labels map[string]int // label -> code offset
	refs   []labelRef     // PUSH2 placeholders to patch
	blobs  []blob         // data appended after the code, in order
}

type labelRef struct {
	at    int // offset of the 2 placeholder bytes
	label string
}

type blob struct {
	label string
	data  []byte
}

func newProgram() *program { return &program{labels: map[string]int{}} }

// op appends opcodes without immediates.
func (p *program) op(ops ...vm.OpCode) *program {
	for _, o := range ops {
		if o.IsPush() && o != vm.PUSH0 {
			panic(fmt.Sprintf("chaintest asm: %v needs push()", o))
		}
		p.code = append(p.code, byte(o))
	}
	return p
}

// push appends the shortest PUSHn of v (PUSH0 for zero).
func (p *program) push(v uint64) *program {
	return p.pushBytes(new(big.Int).SetUint64(v).Bytes())
}

// pushBytes appends PUSHn of b (1..32 bytes; empty is PUSH0).
func (p *program) pushBytes(b []byte) *program {
	switch {
	case len(b) == 0:
		p.code = append(p.code, byte(vm.PUSH0))
	case len(b) <= 32:
		p.code = append(p.code, byte(vm.PUSH1)+byte(len(b)-1))
		p.code = append(p.code, b...)
	default:
		panic(fmt.Sprintf("chaintest asm: push of %d bytes", len(b)))
	}
	return p
}

// pushLabel appends a PUSH2 of a label's offset, patched by assemble.
func (p *program) pushLabel(label string) *program {
	p.code = append(p.code, byte(vm.PUSH2))
	p.refs = append(p.refs, labelRef{at: len(p.code), label: label})
	p.code = append(p.code, 0, 0)
	return p
}

// jumpdest defines a jump target.
func (p *program) jumpdest(label string) *program {
	p.define(label, len(p.code))
	p.code = append(p.code, byte(vm.JUMPDEST))
	return p
}

// data appends a blob after the code; the label is its offset for CODECOPY.
func (p *program) data(label string, b []byte) *program {
	p.blobs = append(p.blobs, blob{label: label, data: b})
	return p
}

func (p *program) define(label string, at int) {
	if _, dup := p.labels[label]; dup {
		panic("chaintest asm: label defined twice: " + label)
	}
	p.labels[label] = at
}

// assemble lays the blobs out after the code and patches the label pushes.
func (p *program) assemble() []byte {
	out := append([]byte(nil), p.code...)
	for _, b := range p.blobs {
		p.define(b.label, len(out))
		out = append(out, b.data...)
	}
	if len(out) > 0xffff {
		panic("chaintest asm: program larger than PUSH2 can address")
	}
	for _, r := range p.refs {
		at, ok := p.labels[r.label]
		if !ok {
			panic("chaintest asm: undefined label " + r.label)
		}
		out[r.at], out[r.at+1] = byte(at>>8), byte(at)
	}
	return out
}

// selector is the 4-byte function (or error) selector of a signature.
func selector(sig string) []byte { return crypto.Keccak256([]byte(sig))[:4] }

// loadSelector pushes the call's 4-byte selector (zero-padded calldata).
func (p *program) loadSelector() *program {
	return p.op(vm.PUSH0, vm.CALLDATALOAD).push(0xe0).op(vm.SHR)
}

// emitterCode is the orderbook stand-in. Calldata is a sequence of records

//	topic0 (32 bytes) | length n (32 bytes, big-endian) | data (n bytes)

// and the code emits one LOG1(data, topic0) per record, in order, so one
// transaction can carry e.g. a ClearV3 followed by its AfterClearV2. A record
// running past the calldata reverts (a bug in the Go encoder, not a test case).
func emitterCode() []byte {
	p := newProgram()
	p.push(0)                                  // [ptr]
	p.jumpdest("loop")                         // [ptr]
	p.op(vm.CALLDATASIZE, vm.DUP2, vm.LT)      // [ptr<size ptr]
	p.pushLabel("record").op(vm.JUMPI)         // [ptr]
	p.op(vm.STOP)                              // all records done
	p.jumpdest("record")                       // [ptr]
	p.op(vm.DUP1).push(32).op(vm.ADD)          // [ptr+32 ptr]
	p.op(vm.CALLDATALOAD)                      // [n ptr]
	p.op(vm.DUP1, vm.DUP3).push(64)            // [64 ptr n n ptr]
	p.op(vm.ADD, vm.ADD)                       // [end n ptr]  end = ptr+64+n
	p.op(vm.DUP1, vm.CALLDATASIZE, vm.LT)      // [size<end end n ptr]
	p.pushLabel("truncated").op(vm.JUMPI)      // [end n ptr]
	p.op(vm.DUP2, vm.DUP4).push(64).op(vm.ADD) // [ptr+64 n end n ptr]
	p.push(0).op(vm.CALLDATACOPY)              // memory[0:n] = data; [end n ptr]
	p.op(vm.DUP3, vm.CALLDATALOAD)             // [topic0 end n ptr]
	p.op(vm.DUP3).push(0).op(vm.LOG1)          // LOG1(mem 0, n, topic0); [end n ptr]
	p.op(vm.SWAP2, vm.POP, vm.POP)             // [end] is the next ptr
	p.pushLabel("loop").op(vm.JUMP)
	p.jumpdest("truncated")
	p.op(vm.PUSH0, vm.PUSH0, vm.REVERT)
	return p.assemble()
}

// responderCode answers each 4-byte selector in answers with its fixed
// return data and reverts (empty data) on any other call. It is the ERC20
// stub: symbol() and decimals() never change.
func responderCode(answers map[[4]byte][]byte) []byte {
	p := newProgram()
	p.loadSelector() // [sel]
	// Sorted for a deterministic bytecode (the map order is random).
	sels := sortedSelectors(answers)
	for i, sel := range sels {
		p.op(vm.DUP1).pushBytes(sel[:]).op(vm.EQ) // [sel==s sel]
		p.pushLabel(fmt.Sprintf("answer%d", i)).op(vm.JUMPI)
	}
	p.op(vm.PUSH0, vm.PUSH0, vm.REVERT)
	for i, sel := range sels {
		out := answers[sel]
		label := fmt.Sprintf("answer%d", i)
		p.jumpdest(label)
		// CODECOPY(mem 0, blob offset, len); RETURN(mem 0, len)
		p.push(uint64(len(out))).pushLabel(label + ".data").push(0).op(vm.CODECOPY)
		p.push(uint64(len(out))).push(0).op(vm.RETURN)
		p.data(label+".data", out)
	}
	return p.assemble()
}

// Pyth stub selectors. setPrice is ours (not Pyth's): anyone may call it, it
// stores a price so that a later block answers differently from an earlier
// one (historical eth_call).
var (
	selGetPriceUnsafe    = selector("getPriceUnsafe(bytes32)") // 0x96834ad3
	selSetPrice          = selector("setPrice(bytes32,int64,uint64,int32,uint256)")
	errPriceFeedNotFound = selector("PriceFeedNotFound()") // what Pyth reverts with
)

// pythCode is the Pyth stub. A feed's price lives in four storage slots
// starting at keccak256(feedId), holding the ABI words of
// PythStructs.Price{int64 price, uint64 conf, int32 expo, uint256 publishTime}
// (sign-extended), so getPriceUnsafe copies them out as they are. A feed
// whose publishTime word is zero is unknown: revert PriceFeedNotFound().
func pythCode() []byte {
	p := newProgram()
	p.loadSelector()                                     // [sel]
	p.op(vm.DUP1).pushBytes(selGetPriceUnsafe).op(vm.EQ) // [sel==get sel]
	p.pushLabel("get").op(vm.JUMPI)                      // [sel]
	p.op(vm.DUP1).pushBytes(selSetPrice).op(vm.EQ)       // [sel==set sel]
	p.pushLabel("set").op(vm.JUMPI)                      // [sel]
	p.op(vm.PUSH0, vm.PUSH0, vm.REVERT)                  // unknown function
	p.jumpdest("get")                                    // [sel]
	p.push(4).op(vm.CALLDATALOAD, vm.PUSH0, vm.MSTORE)   // mem[0:32] = feedId
	p.push(32).op(vm.PUSH0, vm.KECCAK256)                // [slot sel]
	for i := uint64(0); i < 4; i++ {
		p.op(vm.DUP1).push(i).op(vm.ADD, vm.SLOAD).push(32 * i).op(vm.MSTORE) // mem[32i] = sload(slot+i)
	}
	p.push(96).op(vm.MLOAD, vm.ISZERO) // [publishTime==0 slot sel]
	p.pushLabel("notfound").op(vm.JUMPI)
	p.push(128).push(0).op(vm.RETURN) // the Price tuple
	p.jumpdest("notfound")
	p.pushBytes(errPriceFeedNotFound).op(vm.PUSH0, vm.MSTORE) // selector in mem[28:32]
	p.push(4).push(28).op(vm.REVERT)
	p.jumpdest("set")                                  // [sel]  calldata: sel|feed|4 words
	p.push(4).op(vm.CALLDATALOAD, vm.PUSH0, vm.MSTORE) // mem[0:32] = feedId
	p.push(32).op(vm.PUSH0, vm.KECCAK256)              // [slot sel]
	for i := uint64(0); i < 4; i++ {
		p.push(36 + 32*i).op(vm.CALLDATALOAD)       // [word slot sel]
		p.op(vm.DUP2).push(i).op(vm.ADD, vm.SSTORE) // sstore(slot+i, word)
	}
	p.op(vm.STOP)
	return p.assemble()
}

func sortedSelectors(m map[[4]byte][]byte) [][4]byte {
	return slices.SortedFunc(maps.Keys(m), func(a, b [4]byte) int { return bytes.Compare(a[:], b[:]) })
}
