package brokerauth_test

import (
	"testing"
	"time"

	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestTokenLifetimes(t *testing.T) {
	if ba.AccessTokenLifetime != 30*time.Minute || ba.RefreshTokenLifetime != 7*24*time.Hour || ba.RefreshMargin != time.Minute {
		t.Fatal("lifetimes changed")
	}
	s := given(stored(t)).State
	at := meta.At
	if !s.AccessTokenExpiresAt().Equal(at.Add(30*time.Minute)) || !s.RefreshTokenExpiresAt().Equal(at.Add(7*24*time.Hour)) {
		t.Fatalf("expiry %v %v", s.AccessTokenExpiresAt(), s.RefreshTokenExpiresAt())
	}
	cases := []struct {
		after         time.Duration
		refresh, dead bool
	}{
		{0, false, false},
		{28*time.Minute + 59*time.Second, false, false},
		{29 * time.Minute, true, false}, // expires within one minute
		{30 * time.Minute, true, false},
		{7*24*time.Hour - time.Nanosecond, true, false},
		{7 * 24 * time.Hour, true, true},
	}
	for _, tc := range cases {
		now := at.Add(tc.after)
		if got := s.NeedsRefresh(now); got != tc.refresh {
			t.Errorf("NeedsRefresh(+%v) = %v", tc.after, got)
		}
		if got := s.RefreshExpired(now); got != tc.dead {
			t.Errorf("RefreshExpired(+%v) = %v", tc.after, got)
		}
	}
	var none ba.State
	if !none.NeedsRefresh(at) || !none.RefreshExpired(at) {
		t.Fatal("a broker that is not authenticated has usable tokens")
	}
}

func TestRefreshResetsTheAccessClockOnly(t *testing.T) {
	s := given(stored(t), ba.AccessTokenRefreshed{AccessToken: stored(t).AccessToken, RefreshedAt: meta.At.Add(29 * time.Minute)}).State
	if s.NeedsRefresh(meta.At.Add(57 * time.Minute)) {
		t.Fatal("refreshed access token already due")
	}
	if !s.RefreshExpired(meta.At.Add(7 * 24 * time.Hour)) {
		t.Fatal("refreshing the access token extended the refresh token")
	}
}
