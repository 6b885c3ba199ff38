package brokerauth

import "time"

// Token lifetimes at Schwab, and how early a refresh is due.
const (
	AccessTokenLifetime  = 30 * time.Minute
	RefreshTokenLifetime = 7 * 24 * time.Hour
	RefreshMargin        = time.Minute
)

// State is an authenticated broker: both tokens, encrypted, and when each
// was fetched. The zero State is NotAuthenticated.
type State struct {
	EncryptedAccessToken  EncryptedToken `json:"access_token"`
	AccessTokenFetchedAt  time.Time      `json:"access_token_fetched_at"`
	EncryptedRefreshToken EncryptedToken `json:"refresh_token"`
	RefreshTokenFetchedAt time.Time      `json:"refresh_token_fetched_at"`
}

// AccessToken decrypts the access token; ErrNotAuthenticated if none.
func (s State) AccessToken(key Key) (string, error) {
	if len(s.EncryptedAccessToken) == 0 {
		return "", ErrNotAuthenticated
	}
	return Decrypt(key, s.EncryptedAccessToken)
}

// RefreshToken decrypts the refresh token; ErrNotAuthenticated if none.
func (s State) RefreshToken(key Key) (string, error) {
	if len(s.EncryptedRefreshToken) == 0 {
		return "", ErrNotAuthenticated
	}
	return Decrypt(key, s.EncryptedRefreshToken)
}

// AccessTokenExpiresAt is when the access token stops working.
func (s State) AccessTokenExpiresAt() time.Time {
	return s.AccessTokenFetchedAt.Add(AccessTokenLifetime)
}

// RefreshTokenExpiresAt is when re-authentication becomes necessary.
func (s State) RefreshTokenExpiresAt() time.Time {
	return s.RefreshTokenFetchedAt.Add(RefreshTokenLifetime)
}

// NeedsRefresh reports whether the access token has expired or expires
// within RefreshMargin of now (true for the zero State).
func (s State) NeedsRefresh(now time.Time) bool {
	return !now.Before(s.AccessTokenExpiresAt().Add(-RefreshMargin))
}

// RefreshExpired reports whether the refresh token has expired, so only a
// manual re-authentication (StoreTokens) helps (true for the zero State).
func (s State) RefreshExpired(now time.Time) bool {
	return !now.Before(s.RefreshTokenExpiresAt())
}
