package brokerauth_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

// secrets are the strings that must never appear outside the ciphertext:
// the key (hex, upper-case hex, decimal bytes) and every token (as text
// and as hex).
func secrets(t *testing.T) []string {
	raw, _ := hex.DecodeString(keyHex)
	s := []string{keyHex, strings.ToUpper(keyHex), fmt.Sprint(raw)[1:20], fmt.Sprintf("%x", raw[:8])}
	for _, tok := range []string{accessTok, refreshTok, newAccess} {
		s = append(s, tok, hex.EncodeToString([]byte(tok)))
	}
	return s
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets(t) {
		if strings.Contains(text, s) {
			t.Fatalf("%s leaks %q:\n%s", what, s, text)
		}
	}
}

func TestKeyNeverPrints(t *testing.T) {
	type config struct {
		Key   ba.Key
		inner ba.Key
		Ptr   *ba.Key
	}
	cfg := config{Key: key, inner: key, Ptr: &key}
	out := fmt.Sprintf("%v %+v %#v", key, key, key)
	if out != "[redacted] [redacted] [redacted]" {
		t.Fatalf("got %q", out)
	}
	for _, verb := range []string{"%s", "%q", "%x", "%X", "%d", "%v", "%+v", "%#v", "%T %p"} {
		assertNoSecret(t, verb, fmt.Sprintf(verb, key))
		assertNoSecret(t, verb+" struct", fmt.Sprintf(verb, cfg))
		assertNoSecret(t, verb+" pointer", fmt.Sprintf(verb, &cfg))
	}
	assertNoSecret(t, "String", key.String()+key.GoString())
	b, err := json.Marshal(cfg)
	if err != nil || string(b) != `{"Key":"[redacted]","Ptr":"[redacted]"}` {
		t.Fatalf("json %s %v", b, err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "key", key, "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "key", key, "cfg", cfg)
	assertNoSecret(t, "slog", logs.String())
}

// Commands are kept on a topic: as produced (JSON) and as printed they
// hold only ciphertext.
func TestCommandsNeverContainTokens(t *testing.T) {
	for _, c := range []aggregate.Command{
		store(t, accessTok, refreshTok),
		refresh(t, newAccess),
	} {
		assertNoSecret(t, "command JSON", mustJSON(t, c))
		assertNoSecret(t, "command", fmt.Sprintf("%v %+v %#v %s", c, c, c, c))
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("command", "c", c)
		assertNoSecret(t, "slog", logs.String())
	}
}

func TestEventsAndStateNeverContainSecrets(t *testing.T) {
	var l aggregate.Lifecycle[ba.State]
	var all []aggregate.Event
	for i, c := range []aggregate.Command{
		store(t, accessTok, refreshTok),
		refresh(t, newAccess),
		store(t, refreshTok, accessTok),
	} {
		next, events, err := aggregate.Execute(def, l, c, aggregate.Meta{CommandID: fmt.Sprint("cmd-", i), At: meta.At})
		if err != nil {
			t.Fatal(err)
		}
		l, all = next, append(all, events...)
	}
	for _, e := range all {
		assertNoSecret(t, e.EventType(), mustJSON(t, e))
		assertNoSecret(t, e.EventType()+" %+v", fmt.Sprintf("%+v %#v", e, e))
	}
	assertNoSecret(t, "state", mustJSON(t, l))
	assertNoSecret(t, "state %+v", fmt.Sprintf("%+v", l))
}

// Every error path that sees a token or the key keeps them out of its
// message.
func TestErrorsNeverContainSecrets(t *testing.T) {
	good := sealVia(t, key, "cmd-1", accessTok)
	tampered := bytes.Clone(good)
	tampered[20] ^= 1
	var errs []error
	add := func(_ any, err error) { errs = append(errs, err) }
	exec := func(_ aggregate.Lifecycle[ba.State], _ []aggregate.Event, err error) { errs = append(errs, err) }
	add(ba.Decrypt(other, good))
	add(ba.Decrypt(key, tampered))
	add(ba.Decrypt(key, good[:5]))
	add(ba.Decrypt(key, legacySeal(t, keyHex, 3, append([]byte(accessTok), 0xff))))
	add(ba.Decrypt(ba.Key{}, good))
	add(ba.ParseKey(keyHex[:63]))
	add(ba.ParseKey(keyHex[:63] + "g"))
	add(ba.ParseKey(keyHex + keyHex))
	add(ba.ParseKey("0x" + keyHex[2:] + "q"))
	l := given(stored(t))
	exec(when(given(), refresh(t, newAccess)))
	exec(when(given(), ba.StoreTokens{AccessToken: legacySeal(t, keyHex, 4, []byte(accessTok+"\xff")), RefreshToken: good}))
	exec(when(given(), ba.StoreTokens{AccessToken: good}))
	exec(when(given(), ba.StoreTokens{AccessToken: sealVia(t, other, "c", accessTok), RefreshToken: good}))
	exec(when(l, ba.RefreshAccessToken{NewAccessToken: tampered}))
	add(ba.Encrypt(key, "c", ba.FieldAccess, accessTok+"\xff"))
	exec(when(l, ba.Migrate{AccessToken: good, RefreshToken: tampered}))
	exec(when(given(), ba.Migrate{AccessToken: sealVia(t, other, "c", accessTok), RefreshToken: good, AccessTokenFetchedAt: meta.At, RefreshTokenFetchedAt: meta.At}))
	exec(when(given(ba.TokensStored{}), store(t, accessTok, refreshTok)))
	add(ba.Decide(ba.Key{}, l, store(t, accessTok, refreshTok), meta))
	add(ba.Commands.Decode("StoreTokens", json.RawMessage(`{"access_token":"`+accessTok+`","refresh_token":7}`)))
	add(l.State.AccessToken(other))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d did not fail", i)
		}
		assertNoSecret(t, fmt.Sprint("error ", i), fmt.Sprintf("%v %+v", err, err))
	}
	// the failure a broken event leaves in the lifecycle
	bad := stored(t)
	bad.AccessToken = bad.AccessToken[:3]
	assertNoSecret(t, "failure", given(bad).Failure)
}
