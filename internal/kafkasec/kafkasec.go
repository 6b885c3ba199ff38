// Package kafkasec is how every Kafka client hedgeline creates connects:
// the bootstrap addresses, TLS (a CA to trust, a client certificate, the
// server name to verify) and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
// One Cluster value yields the franz-go options (Opts) and the sarama
// settings goka's processors and views use (Sarama), so no producer,
// consumer or admin client connects differently from the others.
//
// Secrets (the SASL password) come from a file or the environment, are
// kept where fmt and log/slog do not print them, and never enter an error.
package kafkasec

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms hedgeline speaks, as Kafka names them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists them, for help texts and errors.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// Cluster is where Kafka is and how to connect to it.
type Cluster struct {
	Seeds    []string // bootstrap host:port addresses
	Security Security
}

// Plaintext is a cluster of seeds reached without TLS or authentication:
// the embedded broker of tests and benchmarks.
func Plaintext(seeds ...string) Cluster { return Cluster{Seeds: seeds} }

// Opts are the franz-go options that reach the cluster (seeds, TLS, SASL),
// followed by extra.
func (c Cluster) Opts(extra ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Seeds...)}, c.Security.Opts()...)
	return append(opts, extra...)
}

// Sarama applies the cluster's security to a sarama (goka) client config;
// the seeds are given to goka separately.
func (c Cluster) Sarama(s *sarama.Config) { c.Security.Sarama(s) }

// String names the seeds and the security, never a secret.
func (c Cluster) String() string {
	return strings.Join(c.Seeds, ",") + " (" + c.Security.String() + ")"
}

// Security secures every connection to the cluster. The zero value is
// plaintext without authentication.
type Security struct {
	tls  *tls.Config // nil: plaintext
	sasl *credentials
}

// credentials sit behind a pointer in an unexported field: fmt prints a
// nested pointer as an address, and log/slog and encoding/json skip
// unexported fields, so printing a Security never shows the password.
type credentials struct {
	mechanism string
	user      string
	password  string
}

// New is a Security of a client TLS config (nil: plaintext) and SASL
// credentials (mechanism "": none; else one of Mechanisms). Load builds it
// from flags; tests call it directly.
func New(tlsConfig *tls.Config, mechanism, user, password string) (Security, error) {
	s := Security{tls: tlsConfig}
	if mechanism == "" {
		return s, nil
	}
	m, err := ParseMechanism(mechanism)
	if err != nil {
		return Security{}, err
	}
	if user == "" || password == "" {
		return Security{}, fmt.Errorf("SASL %s needs a user name and a password", m)
	}
	s.sasl = &credentials{mechanism: m, user: user, password: password}
	return s, nil
}

// ParseMechanism returns the Kafka name of a SASL mechanism, in any case.
func ParseMechanism(m string) (string, error) {
	for _, k := range Mechanisms {
		if strings.EqualFold(m, k) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown SASL mechanism %q (want %s)", m, strings.Join(Mechanisms, ", "))
}

// TLS is the client TLS config, or nil for plaintext.
func (s Security) TLS() *tls.Config { return s.tls }

// SASL is the mechanism and user name ("" and "" without SASL).
func (s Security) SASL() (mechanism, user string) {
	if s.sasl == nil {
		return "", ""
	}
	return s.sasl.mechanism, s.sasl.user
}

// Credentials are the SASL mechanism, user and password ("" without
// SASL), for a broker that must accept them: the embedded one. Never log
// them.
func (s Security) Credentials() (mechanism, user, password string) {
	if s.sasl == nil {
		return "", "", ""
	}
	return s.sasl.mechanism, s.sasl.user, s.sasl.password
}

// String says what the security is, for logs: "TLS, SASL SCRAM-SHA-512
// as hedgeline", "plaintext".
func (s Security) String() string {
	var parts []string
	if s.tls != nil {
		t := "TLS"
		if len(s.tls.Certificates) > 0 {
			t += " with a client certificate"
		}
		if s.tls.ServerName != "" {
			t += " verifying " + s.tls.ServerName
		}
		parts = append(parts, t)
	}
	if s.sasl != nil {
		parts = append(parts, "SASL "+s.sasl.mechanism+" as "+s.sasl.user)
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// Opts are the franz-go options of the security (none for the zero value).
func (s Security) Opts() []kgo.Opt {
	var opts []kgo.Opt
	if s.tls != nil {
		// franz-go clones the config per dial and sets the server name
		// from the broker's address when the config has none.
		opts = append(opts, kgo.DialTLSConfig(s.tls))
	}
	if s.sasl != nil {
		opts = append(opts, kgo.SASL(s.sasl.franz()))
	}
	return opts
}

func (c *credentials) franz() sasl.Mechanism {
	switch c.mechanism {
	case ScramSHA256:
		return scram.Auth{User: c.user, Pass: c.password}.AsSha256Mechanism()
	case ScramSHA512:
		return scram.Auth{User: c.user, Pass: c.password}.AsSha512Mechanism()
	default:
		return plain.Auth{User: c.user, Pass: c.password}.AsMechanism()
	}
}

// Sarama applies the security to a sarama client config (goka's
// processors, views, emitters and topic managers).
func (s Security) Sarama(c *sarama.Config) {
	if s.tls != nil {
		c.Net.TLS.Enable = true
		// sarama dials with crypto/tls, which takes the server name from
		// the address when the config has none, as franz-go does.
		c.Net.TLS.Config = s.tls.Clone()
	}
	if s.sasl == nil {
		return
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1
	c.Net.SASL.User = s.sasl.user
	c.Net.SASL.Password = s.sasl.password
	switch s.sasl.mechanism {
	case ScramSHA256, ScramSHA512:
		c.Net.SASL.Mechanism = sarama.SASLMechanism(s.sasl.mechanism)
		mech := s.sasl.mechanism
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{mechanism: mech} }
	default:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	}
}
