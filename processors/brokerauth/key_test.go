package brokerauth_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestParseKeyAcceptsConfigSpellings(t *testing.T) {
	want := sealVia(t, key, "c", "tok")
	for _, s := range []string{keyHex, "0x" + keyHex, strings.ToUpper(keyHex), " " + keyHex + "\n"} {
		k, err := ba.ParseKey(s)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if !bytes.Equal(sealVia(t, k, "c", "tok"), want) {
			t.Fatal("parsed a different key")
		}
	}
	raw, _ := hex.DecodeString(keyHex)
	k, err := ba.NewKey(raw)
	if err != nil || !bytes.Equal(sealVia(t, k, "c", "tok"), want) {
		t.Fatalf("NewKey: %v", err)
	}
}

func TestParseKeyRejectsBadKeysWithoutEchoingThem(t *testing.T) {
	bad := []string{"", keyHex[:62], keyHex + "00", "zz" + keyHex[2:], keyHex[:63] + "g", "0x"}
	for _, s := range bad {
		_, err := ba.ParseKey(s)
		if !errors.Is(err, ba.ErrInvalidKey) {
			t.Fatalf("%d chars accepted: %v", len(s), err)
		}
		if len(s) > 4 && strings.Contains(err.Error(), s[2:10]) {
			t.Fatalf("error echoes the input: %v", err)
		}
		if strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "'g'") {
			t.Fatalf("error quotes a key character: %v", err)
		}
	}
	if _, err := ba.NewKey(make([]byte, 31)); !errors.Is(err, ba.ErrInvalidKey) {
		t.Fatal(err)
	}
}

func TestZeroKey(t *testing.T) {
	if !(ba.Key{}).IsZero() || key.IsZero() {
		t.Fatal("IsZero")
	}
}
