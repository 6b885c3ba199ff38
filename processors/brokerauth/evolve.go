package brokerauth

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Evolve applies one event. TokensStored is the genesis on a broker that
// is not authenticated and a transition (overwriting both tokens) on one
// that is. AccessTokenRefreshed on a broker that is not authenticated is
// counted but changes nothing: upstream logged a warning and stayed
// NotAuthenticated, and the lifecycle keeps that (Decide never emits it).
func Evolve(l aggregate.Lifecycle[State], e aggregate.Event) aggregate.Lifecycle[State] {
	switch e := e.(type) {
	case TokensStored:
		store := func() (State, error) {
			if err := e.check(); err != nil {
				return State{}, err
			}
			return State{
				EncryptedAccessToken: e.AccessToken, AccessTokenFetchedAt: e.AccessTokenFetchedAt,
				EncryptedRefreshToken: e.RefreshToken, RefreshTokenFetchedAt: e.RefreshTokenFetchedAt,
			}, nil
		}
		if l.Status == aggregate.Uninitialized {
			return aggregate.Genesis(l, e.EventType(), store)
		}
		return aggregate.Transition(l, e.EventType(), func(State) (State, error) { return store() })
	case AccessTokenRefreshed:
		if l.Status == aggregate.Uninitialized {
			l.Version++
			return l
		}
		return aggregate.Transition(l, e.EventType(), func(s State) (State, error) {
			if err := e.check(); err != nil {
				return s, err
			}
			s.EncryptedAccessToken, s.AccessTokenFetchedAt = e.AccessToken, e.RefreshedAt
			return s, nil
		})
	}
	name := fmt.Sprintf("%T", e)
	err := fmt.Errorf("%w %s", ErrUnknownEvent, name)
	if l.Status == aggregate.Uninitialized {
		return aggregate.Genesis(l, name, func() (State, error) { return State{}, err })
	}
	return aggregate.Transition(l, name, func(s State) (State, error) { return s, err })
}
