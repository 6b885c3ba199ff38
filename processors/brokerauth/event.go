package brokerauth

import (
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// TokensStored authenticates the broker with both tokens (encrypted).
type TokensStored struct {
	AccessToken           EncryptedToken `json:"access_token"`
	AccessTokenFetchedAt  time.Time      `json:"access_token_fetched_at"`
	RefreshToken          EncryptedToken `json:"refresh_token"`
	RefreshTokenFetchedAt time.Time      `json:"refresh_token_fetched_at"`
}

// AccessTokenRefreshed replaces the access token (encrypted).
type AccessTokenRefreshed struct {
	AccessToken EncryptedToken `json:"access_token"`
	RefreshedAt time.Time      `json:"refreshed_at"`
}

// Event type names have no "BrokerAuthEvent::" prefix: upstream's
// SchwabAuth spelled them bare, and legacy events keep their names.
func (TokensStored) EventType() string         { return "TokensStored" }
func (AccessTokenRefreshed) EventType() string { return "AccessTokenRefreshed" }

// Events decodes event payloads by type name.
var Events = aggregate.Decoder[aggregate.Event]{
	"TokensStored":         aggregate.As[TokensStored, aggregate.Event],
	"AccessTokenRefreshed": aggregate.As[AccessTokenRefreshed, aggregate.Event],
}
