package brokerauth

import (
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// StoreTokens stores both tokens after an OAuth login; allowed whether or
// not the broker is authenticated (re-authentication overwrites). The
// producer encrypts the tokens (Encrypt) before producing: commands are
// kept on a topic, so they never carry a plaintext token.
type StoreTokens struct {
	AccessToken  EncryptedToken `json:"access_token"`
	RefreshToken EncryptedToken `json:"refresh_token"`
}

// RefreshAccessToken replaces the access token (encrypted by the
// producer, as in StoreTokens); the broker must be authenticated.
type RefreshAccessToken struct {
	NewAccessToken EncryptedToken `json:"new_access_token"`
}

// Migrate imports the legacy schwab_auth row: tokens already encrypted
// under the configured key, stored unchanged. Only on a broker that is not
// authenticated: it must not overwrite newer tokens with legacy ones.
type Migrate struct {
	AccessToken           EncryptedToken `json:"access_token"`
	AccessTokenFetchedAt  time.Time      `json:"access_token_fetched_at"`
	RefreshToken          EncryptedToken `json:"refresh_token"`
	RefreshTokenFetchedAt time.Time      `json:"refresh_token_fetched_at"`
}

func (StoreTokens) CommandType() string        { return "StoreTokens" }
func (RefreshAccessToken) CommandType() string { return "RefreshAccessToken" }
func (Migrate) CommandType() string            { return "Migrate" }

// Commands decodes command payloads by type name.
var Commands = aggregate.Decoder[aggregate.Command]{
	"StoreTokens":        aggregate.As[StoreTokens, aggregate.Command],
	"RefreshAccessToken": aggregate.As[RefreshAccessToken, aggregate.Command],
	"Migrate":            aggregate.As[Migrate, aggregate.Command],
}
