package kafkasec

import (
	"context"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// scramClient is sarama's SCRAMClient on franz-go's SCRAM implementation:
// sarama leaves SCRAM to its users, and franz-go's is the one this module
// already builds (and tests against kfake).
//
// sarama calls Begin, then Step("") for the client-first message, then Step
// with each server message until Done.
type scramClient struct {
	mechanism string
	session   sasl.Session
	first     []byte // the client-first message, until Step sends it
	done      bool
}

func (c *scramClient) Begin(user, password, authzID string) error {
	a := scram.Auth{User: user, Pass: password, Zid: authzID}
	m := a.AsSha512Mechanism()
	if c.mechanism == ScramSHA256 {
		m = a.AsSha256Mechanism()
	}
	s, first, err := m.Authenticate(context.Background(), "")
	if err != nil {
		return err
	}
	c.session, c.first, c.done = s, first, false
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.first != nil {
		first := c.first
		c.first = nil
		return string(first), nil
	}
	done, resp, err := c.session.Challenge([]byte(challenge))
	if err != nil {
		return "", err
	}
	c.done = done
	return string(resp), nil
}

func (c *scramClient) Done() bool { return c.done }
