package rain_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/hedgeline/hedgeline/sources/chain/rain"
)

// The topic0 values of the upstream signature table: a wrong type or field
// order in the embedded ABI changes them.
func TestTopics(t *testing.T) {
	for _, c := range []struct {
		name string
		got  common.Hash
		want string
	}{
		{"TakeOrderV2", rain.TopicTakeOrderV2, "0xdb6a7f7c95db17afba67ed8b030afd2d087b130ec173b9f15ccde01097dd9353"},
		{"ClearV2", rain.TopicClearV2, "0x692ee69af2843c70772be93470669f3c73e583316a047b6bfefdae5629de37ce"},
		{"AfterClear", rain.TopicAfterClear, "0x3f20e55919cca701abb2a40ab72542b25ea7eed63a50f979dd2cd3231e5f488d"},
		{"TakeOrderV3", rain.TopicTakeOrderV3, "0x194f1feb3b4d7076a2c272e774e792e0c48bb8c7aa1a9a3671c1cd6da9e6b4c1"},
		{"ClearV3", rain.TopicClearV3, "0x6fa7f4c28634b0a9d6831401c45ae468195fb63aed07308935c35374ff5d9e39"},
		{"AfterClearV2", rain.TopicAfterClearV2, "0xd9fa84dd790c969daa5c33d8050dc06b4a9b59d5b42e2be5f5e8ae20447f618d"},
	} {
		if c.got != common.HexToHash(c.want) {
			t.Errorf("topic0 of %s = %s, want %s", c.name, c.got, c.want)
		}
		if n := rain.EventName(c.got); n != c.name {
			t.Errorf("EventName(%s) = %q, want %q", c.got, n, c.name)
		}
	}
	if n := len(rain.Topics()); n != 6 {
		t.Errorf("Topics() has %d topics, want 6", n)
	}
	if !rain.IsAfterClear(rain.TopicAfterClear) || !rain.IsAfterClear(rain.TopicAfterClearV2) || rain.IsAfterClear(rain.TopicClearV2) {
		t.Error("IsAfterClear wrong")
	}
}
