package brokerauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestEvolveRefreshOnNotAuthenticatedIsCountedAndIgnored(t *testing.T) {
	_, events, err := when(given(stored(t)), refresh(t, newAccess))
	if err != nil {
		t.Fatal(err)
	}
	l := given(events...)
	if l.Status != aggregate.Uninitialized || l.Version != 1 || len(l.State.EncryptedAccessToken) != 0 {
		t.Fatalf("lifecycle %+v", l)
	}
	// a later StoreTokens is still the genesis
	l = aggregate.Replay(def, append(events, stored(t)))
	if l.Status != aggregate.Live || l.Version != 2 {
		t.Fatalf("lifecycle %+v", l)
	}
}

func TestEvolveTokensStoredTwiceIsAnOverwrite(t *testing.T) {
	first := stored(t)
	second := first
	second.AccessToken, second.RefreshToken = first.RefreshToken, first.AccessToken
	l := given(first, second)
	if l.Status != aggregate.Live || l.Version != 2 || string(l.State.EncryptedAccessToken) != string(first.RefreshToken) {
		t.Fatalf("lifecycle %+v", l)
	}
}

func TestEvolveRevalidatesEvents(t *testing.T) {
	good := stored(t)
	short := good
	short.RefreshToken = short.RefreshToken[:20]
	noTime := good
	noTime.AccessTokenFetchedAt = time.Time{}
	cases := []struct {
		name, reason string
		events       []aggregate.Event
	}{
		{"genesis with short ciphertext", "refresh_token", []aggregate.Event{short}},
		{"genesis without fetch time", "access_token_fetched_at", []aggregate.Event{noTime}},
		{"overwrite with short ciphertext", "refresh_token", []aggregate.Event{good, short}},
		{"refresh with empty ciphertext", "access_token", []aggregate.Event{good, ba.AccessTokenRefreshed{RefreshedAt: meta.At}}},
		{"refresh without time", "refreshed_at", []aggregate.Event{good, ba.AccessTokenRefreshed{AccessToken: good.AccessToken}}},
		{"unknown event", "unknown event", []aggregate.Event{unknownEvent{}}},
		{"unknown event when live", "unknown event", []aggregate.Event{good, unknownEvent{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := given(tc.events...)
			if l.Status != aggregate.Failed || !strings.Contains(l.Failure, tc.reason) {
				t.Fatalf("lifecycle %+v, want failure with %q", l, tc.reason)
			}
		})
	}
}

func TestReplayEqualsExecute(t *testing.T) {
	l1, e1, err := when(given(), store(t, accessTok, refreshTok))
	if err != nil {
		t.Fatal(err)
	}
	l2, e2, err := aggregate.Execute(def, l1, refresh(t, newAccess), aggregate.Meta{CommandID: "cmd-2", At: meta.At.Add(60e9)})
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, given(append(e1, e2...)...)) != mustJSON(t, l2) {
		t.Fatal("replay differs from execute")
	}
}

type unknownEvent struct{}

func (unknownEvent) EventType() string { return "BrokerAuthEvent::Revoked" }
