package brokerauth_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestDefinition(t *testing.T) {
	if def.Type != "BrokerAuth" || ba.ID != "schwab" || def.Decide == nil || def.Evolve == nil || def.DecodeCommand == nil || def.DecodeEvent == nil {
		t.Fatalf("definition %+v", def)
	}
	if len(ba.Commands) != 3 || len(ba.Events) != 2 {
		t.Fatalf("decoders: %d commands, %d events", len(ba.Commands), len(ba.Events))
	}
}

func TestEventTypeNamesHaveNoPrefix(t *testing.T) {
	if n := (ba.TokensStored{}).EventType(); n != "TokensStored" {
		t.Fatal(n)
	}
	if n := (ba.AccessTokenRefreshed{}).EventType(); n != "AccessTokenRefreshed" {
		t.Fatal(n)
	}
}

func allCommands(t *testing.T) []aggregate.Command {
	return []aggregate.Command{
		store(t, accessTok, refreshTok),
		refresh(t, newAccess),
		legacyMigrate(t),
	}
}

func allEvents(t *testing.T) []aggregate.Event {
	s := stored(t)
	return []aggregate.Event{s, ba.AccessTokenRefreshed{AccessToken: s.AccessToken, RefreshedAt: meta.At}}
}

func TestCommandsRoundTripThroughJSON(t *testing.T) {
	for _, c := range allCommands(t) {
		raw := mustJSON(t, c)
		back, err := def.DecodeCommand(c.CommandType(), json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", c.CommandType(), err)
		}
		if got := mustJSON(t, back); got != raw {
			t.Fatalf("%s:\n got %s\nwant %s", c.CommandType(), got, raw)
		}
	}
	// tokens travel as hex ciphertext in commands
	r := allCommands(t)[1].(ba.RefreshAccessToken)
	if raw := mustJSON(t, r); raw != `{"new_access_token":"`+hex.EncodeToString(r.NewAccessToken)+`"}` {
		t.Fatal(raw)
	}
}

func TestEventsRoundTripThroughJSON(t *testing.T) {
	for _, e := range allEvents(t) {
		raw := mustJSON(t, e)
		back, err := def.DecodeEvent(e.EventType(), json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", e.EventType(), err)
		}
		if got := mustJSON(t, back); got != raw {
			t.Fatalf("%s:\n got %s\nwant %s", e.EventType(), got, raw)
		}
	}
}

func TestEncryptedTokensAreHexInJSON(t *testing.T) {
	s := stored(t)
	raw := mustJSON(t, s)
	if !strings.Contains(raw, `"access_token":"`+hex.EncodeToString(s.AccessToken)+`"`) {
		t.Fatalf("not hex: %s", raw)
	}
	var tok ba.EncryptedToken
	if err := json.Unmarshal([]byte(`"0x`+hex.EncodeToString(s.AccessToken)+`"`), &tok); err != nil || string(tok) != string(s.AccessToken) {
		t.Fatalf("0x prefix: %v", err)
	}
	for _, bad := range []string{`"zz"`, `"abc"`, `12`, `null`} {
		var tok ba.EncryptedToken
		if err := json.Unmarshal([]byte(bad), &tok); err == nil && bad != `null` {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestDecodersRejectUnknownFields(t *testing.T) {
	for _, c := range allCommands(t) {
		raw := strings.Replace(mustJSON(t, c), "{", `{"bogus":1,`, 1)
		if _, err := ba.Commands.Decode(c.CommandType(), json.RawMessage(raw)); err == nil {
			t.Errorf("%s: unknown field accepted", c.CommandType())
		}
	}
	for _, e := range allEvents(t) {
		raw := strings.Replace(mustJSON(t, e), "{", `{"bogus":1,`, 1)
		if _, err := ba.Events.Decode(e.EventType(), json.RawMessage(raw)); err == nil {
			t.Errorf("%s: unknown field accepted", e.EventType())
		}
	}
}

func TestDecodersRejectUnknownTypes(t *testing.T) {
	if _, err := ba.Commands.Decode("Logout", json.RawMessage(`{}`)); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := ba.Events.Decode("SchwabAuthEvent::TokensStored", json.RawMessage(`{}`)); err == nil {
		t.Error("prefixed event name accepted")
	}
}
