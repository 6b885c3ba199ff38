// Package rain decodes the Raindex orderbook events that carry the market
// maker's fills (V4: TakeOrderV2, ClearV2, AfterClear; V5: TakeOrderV3,
// ClearV3, AfterClearV2) and turns them into trades. Pure functions: the
// chain source fetches logs and token symbols and calls these.
package rain

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// The minimal ABIs of the six events, with the upstream struct and field
// names (IOrderBookV4.json and IOrderBookV5.json).
//
//go:embed abi/orderbook_v4.json abi/orderbook_v5.json
var abiFiles embed.FS

var (
	// v4 and v5 are the canonical ABIs: event signatures (topic0) and, in
	// raintest, the encoders.
	v4, v5 abi.ABI
	// shapeV4 and shapeV5 decode: the same layout with the parts we never
	// read made opaque (see opaque).
	shapeV4, shapeV5 abi.ABI

	TopicTakeOrderV2, TopicClearV2, TopicAfterClear   common.Hash
	TopicTakeOrderV3, TopicClearV3, TopicAfterClearV2 common.Hash
	events                                            map[common.Hash]eventSpec
)

// eventSpec is what Decode needs to know about a topic0.
type eventSpec struct {
	name    string
	version int
	kind    Kind
	shape   abi.Event
}

func init() {
	v4, shapeV4 = loadABI("abi/orderbook_v4.json")
	v5, shapeV5 = loadABI("abi/orderbook_v5.json")
	events = map[common.Hash]eventSpec{}
	add := func(full, shape abi.ABI, name string, version int, kind Kind) common.Hash {
		id := full.Events[name].ID
		events[id] = eventSpec{name: name, version: version, kind: kind, shape: shape.Events[name]}
		return id
	}
	TopicTakeOrderV2 = add(v4, shapeV4, "TakeOrderV2", 4, KindTakeOrder)
	TopicClearV2 = add(v4, shapeV4, "ClearV2", 4, KindClear)
	TopicAfterClear = add(v4, shapeV4, "AfterClear", 4, KindAfterClear)
	TopicTakeOrderV3 = add(v5, shapeV5, "TakeOrderV3", 5, KindTakeOrder)
	TopicClearV3 = add(v5, shapeV5, "ClearV3", 5, KindClear)
	TopicAfterClearV2 = add(v5, shapeV5, "AfterClearV2", 5, KindAfterClear)
}

// loadABI parses an embedded ABI and derives its decoding shape. A bad
// embedded file is a build defect, hence the panic.
func loadABI(path string) (full, shape abi.ABI) {
	raw, err := abiFiles.ReadFile(path)
	if err != nil {
		panic(fmt.Sprintf("rain: read embedded %s: %v", path, err))
	}
	if full, err = abi.JSON(bytes.NewReader(raw)); err != nil {
		panic(fmt.Sprintf("rain: parse embedded %s: %v", path, err))
	}
	var entries []map[string]any
	if err := json.Unmarshal(raw, &entries); err != nil {
		panic(fmt.Sprintf("rain: parse embedded %s: %v", path, err))
	}
	for _, e := range entries {
		opaque(e)
	}
	shaped, err := json.Marshal(entries)
	if err == nil {
		shape, err = abi.JSON(bytes.NewReader(shaped))
	}
	if err != nil {
		panic(fmt.Sprintf("rain: derive the decoding shape of %s: %v", path, err))
	}
	return full, shape
}

// opaque replaces the components named evaluable and signedContext by a
// uint256. Both are dynamic, so their head in the enclosing tuple is one
// offset word, which a uint256 reads without following it. Nothing here
// uses them, and not following them keeps decoding linear in the log's
// size: a hostile encoding could otherwise point every signedContext entry
// at one large bytes32[] and multiply the allocation.
func opaque(node map[string]any) {
	for _, key := range []string{"inputs", "components"} {
		list, _ := node[key].([]any)
		for i, c := range list {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if name := m["name"]; name == "evaluable" || name == "signedContext" {
				list[i] = map[string]any{"name": name, "type": "uint256"}
				continue
			}
			opaque(m)
		}
	}
}

// ABI is the canonical ABI of the version's three events (4 or 5), for
// encoders (raintest). Callers must not modify it.
func ABI(version int) (abi.ABI, error) {
	switch version {
	case 4:
		return v4, nil
	case 5:
		return v5, nil
	}
	return abi.ABI{}, fmt.Errorf("no orderbook ABI for version %d (want 4 or 5)", version)
}

// Topics are the six topic0 values, for the eth_getLogs filter: one
// orderbook address may emit V4 and V5 events.
func Topics() []common.Hash {
	return []common.Hash{TopicTakeOrderV2, TopicClearV2, TopicAfterClear, TopicTakeOrderV3, TopicClearV3, TopicAfterClearV2}
}

// IsAfterClear reports whether topic0 is AfterClear or AfterClearV2.
func IsAfterClear(topic0 common.Hash) bool {
	return topic0 == TopicAfterClear || topic0 == TopicAfterClearV2
}

// EventName names the event of a topic0, or "" when it is none of the six.
func EventName(topic0 common.Hash) string {
	return events[topic0].name
}
