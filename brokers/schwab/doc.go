// Package schwab is the Charles Schwab Trader API behind brokers.Broker,
// and the OAuth pieces its login needs. `hedgeline broker-auth login`
// stores the tokens; `hedgeline run --broker schwab` trades with them.
//
// OAuth (auth.go): App.AuthorizeURL is the page the user logs in on;
// ParseCode takes the redirected URL (or the bare code) the user pastes
// back; OAuth.Exchange trades the code for tokens and OAuth.Refresh gets a
// new access token. Lifetimes are the broker-auth aggregate's: access 30
// minutes, refresh 7 days, refreshed when the access token expires within
// a minute. An expired or refused refresh token gives ErrReauthenticate,
// whose message says to run `hedgeline broker-auth login`. Tokens print,
// log and marshal redacted (or not at all); error bodies are scrubbed of
// the tokens and the app secret before they reach an error.
//
// REST (client.go, orders.go), all under App.BaseURL:
//   - GET /trader/v1/accounts/accountNumbers: the hash of the account at
//     Config.AccountIndex, looked up once;
//   - POST /trader/v1/accounts/{hash}/orders: a DAY market order, whole
//     shares; 201 with the order id as the last segment of Location;
//   - GET /trader/v1/accounts/{hash}/orders/{id}: status, mapped by the
//     states table (an unmapped status, UNKNOWN included, is
//     ErrUnknownStatus), the price weighted over every execution leg;
//   - GET /trader/v1/accounts/{hash}/orders?fromEnteredTime&toEnteredTime:
//     finds an order whose placement answer was lost (see Place);
//   - GET /marketdata/v1/markets/equity: Market (open when the day's
//     isOpen and now is inside sessionHours.regularMarket).
//
// Tokens (client.go): RunRefresh refreshes the access token a minute
// before it expires (Config.Sleep and Now make it testable); each new
// token goes to Config.OnRefresh to be stored. SetTokens takes a newer
// login from the broker-auth aggregate. A refused or expired refresh token
// stops every call with ErrReauthenticate (logged once) until SetTokens
// brings a new login. The fake Schwab for tests is package schwabtest.
//
// Errors follow the brokers contract: 400, 403 and 422 wrap
// brokers.ErrRejected, 404 is brokers.ErrNotFound, network errors,
// timeouts, 429 and 5xx are *TransientError (with Retry-After), and a 401
// refreshes the access token and retries once.
package schwab
