package topics

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func sampleRejection() Rejection {
	return Rejection{AggregateType: OnChainTrade, Reason: "undecodable command", Topic: OnChainTradeCommands,
		Partition: 3, Offset: 9, RejectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// The issue: a 900 KB command, valid JSON but not compact, went into the
// rejection as base64 (1.2 MB), which the topic refused, so it was retried
// until it vanished. Its rejection must fit and say what it lost.
func TestRejectionOfOversizedCommandFits(t *testing.T) {
	original := []byte(`{ "command_type": "Witness", "payload": { "note": "` + strings.Repeat("x", 900<<10) + `" } }`)
	r := sampleRejection()
	r.SetOriginal(original)
	b, err := EncodeRejection(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxRejectionBytes {
		t.Fatalf("rejection is %d bytes, over %d", len(b), MaxRejectionBytes)
	}
	got, err := DecodeRejection(b)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(original)
	if !got.Truncated || got.OriginalSize != int64(len(original)) || got.OriginalSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("truncated %v size %d sha %s, want true %d %x", got.Truncated, got.OriginalSize, got.OriginalSHA256, len(original), sum)
	}
	if !bytes.Equal(got.Original(), original[:MaxOriginalBytes]) {
		t.Errorf("original is %d bytes, want the first %d of the record", len(got.Original()), MaxOriginalBytes)
	}
}

// A hand-built rejection (Command set directly, a reason quoting a huge
// field, huge names) is bounded by EncodeRejection itself.
func TestEncodeRejectionBoundsEveryField(t *testing.T) {
	huge := strings.Repeat("\x01é", 300<<10) // control bytes escape to six
	r := sampleRejection()
	r.AggregateType, r.AggregateID, r.Topic, r.Reason = huge, huge, huge, "bad symbol "+huge
	r.Command = []byte(`{"a":"` + strings.Repeat("y", 2<<20) + `"}`)
	b, err := EncodeRejection(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxRejectionBytes {
		t.Fatalf("rejection is %d bytes, over %d", len(b), MaxRejectionBytes)
	}
	got, err := DecodeRejection(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || got.Command != nil || len(got.Raw) != MaxOriginalBytes {
		t.Errorf("command not truncated into raw: truncated %v, %d raw bytes", got.Truncated, len(got.Raw))
	}
	if len(got.Reason) > MaxReasonBytes || !strings.HasPrefix(got.Reason, "bad symbol ") ||
		!strings.HasSuffix(got.Reason, "[truncated, 921611 bytes]") {
		t.Errorf("reason of %d bytes ends %q", len(got.Reason), got.Reason[max(0, len(got.Reason)-40):])
	}
	for _, s := range []string{got.Reason, got.AggregateID} {
		if strings.ContainsRune(s, '\uFFFD') {
			t.Errorf("cut inside a UTF-8 sequence: %q", s[len(s)-40:])
		}
	}
}

// A record without a usable timestamp or an error without a message must
// not make its own rejection unwritable.
func TestEncodeRejectionNeverFailsOnItsInput(t *testing.T) {
	for name, at := range map[string]time.Time{"zero": {}, "year 10000": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		r := sampleRejection()
		r.RejectedAt, r.Reason = at, " "
		b, err := EncodeRejection(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := DecodeRejection(b)
		if err != nil || !got.RejectedAt.Equal(time.Unix(0, 0)) || got.Reason != "no reason given" {
			t.Errorf("%s: rejected_at %v reason %q (%v)", name, got.RejectedAt, got.Reason, err)
		}
	}
}

// Property: for originals and reasons of random size (up to 4 MiB) and
// content, the encoding fits MaxRejectionBytes and decodes back to the whole
// original, or to its prefix with the right size and hash.
func TestRejectionAlwaysFits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []byte {
		b := make([]byte, n)
		switch rng.IntN(3) {
		case 0: // arbitrary bytes
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
		case 1: // control characters: the worst JSON escaping
			for i := range b {
				b[i] = byte(rng.UintN(32))
			}
		default: // compact JSON
			if n >= 8 {
				copy(b, `{"a":"`)
				for i := 6; i < n-2; i++ {
					b[i] = 'a' + byte(rng.UintN(26))
				}
				copy(b[n-2:], `"}`)
			}
		}
		return b
	}
	size := func() int {
		if rng.IntN(4) == 0 {
			return MaxOriginalBytes - 2 + rng.IntN(5) // around the limit
		}
		return rng.IntN(4 << 20)
	}
	for i := range 40 {
		original := fill(size())
		r := sampleRejection()
		r.Reason = string(fill(rng.IntN(1 << 20)))
		r.AggregateID = string(fill(rng.IntN(64 << 10)))
		r.SetOriginal(original)
		b, err := EncodeRejection(r)
		if err != nil {
			t.Fatalf("#%d (%d bytes): %v", i, len(original), err)
		}
		if len(b) > MaxRejectionBytes {
			t.Fatalf("#%d: %d-byte original gave a %d-byte rejection", i, len(original), len(b))
		}
		got, err := DecodeRejection(b)
		if err != nil {
			t.Fatalf("#%d: decode: %v", i, err)
		}
		checkOriginal(t, got, original)
	}
}

// checkOriginal asserts what a decoded rejection says of the original.
func checkOriginal(t *testing.T, got Rejection, original []byte) {
	t.Helper()
	if len(original) <= MaxOriginalBytes {
		if got.Truncated || !bytes.Equal(got.Original(), original) {
			t.Fatalf("%d-byte original: truncated %v, %d bytes back", len(original), got.Truncated, len(got.Original()))
		}
		return
	}
	sum := sha256.Sum256(original)
	if !got.Truncated || !bytes.Equal(got.Original(), original[:MaxOriginalBytes]) ||
		got.OriginalSize != int64(len(original)) || got.OriginalSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("%d-byte original: truncated %v, %d bytes back, size %d", len(original), got.Truncated, len(got.Original()), got.OriginalSize)
	}
}

func TestDecodeRejectionChecksTruncation(t *testing.T) {
	valid := sampleRejection()
	valid.SetOriginal(bytes.Repeat([]byte("z"), MaxOriginalBytes+1))
	for name, edit := range map[string]func(*Rejection){
		"raw":                func(r *Rejection) { r.Command, r.Raw = []byte(`{}`), nil },
		"original_size":      func(r *Rejection) { r.OriginalSize = MaxOriginalBytes },
		"original_sha256":    func(r *Rejection) { r.OriginalSHA256 = strings.ToUpper(r.OriginalSHA256) },
		"original_truncated": func(r *Rejection) { r.Truncated = false; r.Raw = []byte("x") },
	} {
		r := valid
		edit(&r)
		if got := fieldsOf(r.Validate()); len(got) != 1 || got[0] != name {
			t.Errorf("%s: fields %v", name, got)
		}
	}
}
