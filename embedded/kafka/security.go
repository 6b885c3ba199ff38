package kafka

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// User is a SASL account of the embedded broker.
type User struct {
	Mechanism string // one of kafkasec.Mechanisms
	Name      string
	Password  string
}

// String names the account, never its password (fmt prints a Config's
// Users through it).
func (u User) String() string { return u.Mechanism + " user " + u.Name }

// housekeepingUser is the account of the broker's own client (the reaper):
// a random password made at start, never written anywhere.
const housekeepingUser = "hedgeline-embedded-housekeeping"

// security is what Start derives from Config.TLS and Config.Users: the
// kfake options, the listener's TLS and the credentials of the broker's
// own client.
type security struct {
	server *tls.Config // nil: plaintext
	opts   []kfake.Opt
	self   kafkasec.Security // how the reaper connects
}

// securityErrors are the problems of c.TLS and c.Users.
func (c Config) securityErrors() []error {
	var errs []error
	if c.TLS != nil && (len(c.TLS.Certificates) == 0 || len(c.TLS.Certificates[0].Certificate) == 0) {
		errs = append(errs, errors.New("TLS: the config needs a certificate (Certificates)"))
	}
	for _, u := range c.Users {
		if _, err := kafkasec.ParseMechanism(u.Mechanism); err != nil {
			errs = append(errs, fmt.Errorf("user %q: %w", u.Name, err))
		}
		if u.Name == "" || u.Password == "" || u.Name == housekeepingUser {
			errs = append(errs, fmt.Errorf("user %q: needs a name (not %s) and a password", u.Name, housekeepingUser))
		}
	}
	return errs
}

// newSecurity builds the security of a valid cfg.
func newSecurity(cfg Config) (security, error) {
	var s security
	var selfTLS *tls.Config
	if cfg.TLS != nil {
		s.server = cfg.TLS.Clone()
		own := s.server.Certificates[0].Certificate[0]
		// The reaper trusts exactly the broker's own certificate, whatever
		// names it carries: it dials the bound address, which the
		// certificate need not name.
		selfTLS = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
					return errors.New("embedded broker: peer is not this broker")
				}
				return nil
			},
		}
		if s.server.ClientAuth >= tls.VerifyClientCertIfGiven && s.server.ClientCAs != nil {
			// Clients must present a certificate the configured CAs
			// signed: the reaper presents its own, which this broker
			// alone trusts in addition.
			cert, leaf, err := selfSignedClientCert()
			if err != nil {
				return s, fmt.Errorf("TLS: housekeeping client certificate: %w", err)
			}
			s.server.ClientCAs = s.server.ClientCAs.Clone()
			s.server.ClientCAs.AddCert(leaf)
			selfTLS.Certificates = []tls.Certificate{cert}
		}
	}
	if len(cfg.Users) == 0 {
		s.self, _ = kafkasec.New(selfTLS, "", "", "")
		return s, nil
	}
	s.opts = append(s.opts, kfake.EnableSASL())
	for _, u := range cfg.Users {
		m, _ := kafkasec.ParseMechanism(u.Mechanism) // checked by Validate
		// The broker enforces no ACLs: every user may do everything.
		s.opts = append(s.opts, kfake.Superuser(m, u.Name, u.Password))
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return s, err
	}
	password := hex.EncodeToString(pw)
	s.opts = append(s.opts, kfake.Superuser(kafkasec.ScramSHA512, housekeepingUser, password))
	self, err := kafkasec.New(selfTLS, kafkasec.ScramSHA512, housekeepingUser, password)
	s.self = self
	return s, err
}

// selfSignedClientCert makes a client certificate for the reaper, valid for
// the broker's lifetime and trusted by this broker only.
func selfSignedClientCert() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: housekeepingUser},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(100 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // a root in ClientCAs verifies itself
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// secureListener serves TLS (in place of kfake.TLS, so that it sees the
// plaintext requests) and fixes a deviation of kfake: a failed SASL
// authentication (wrong password, unknown user) makes kfake close the
// connection without an answer, which clients report as a bare EOF and
// retry. Kafka answers SASL_AUTHENTICATION_FAILED, which franz-go and
// sarama report as such and do not retry; so when kfake closes a
// connection whose last request was a SaslAuthenticate it did not answer,
// the listener writes that answer first.
type secureListener struct {
	net.Listener
	tls      *tls.Config // nil: plaintext
	log      *slog.Logger
	failures *atomic.Int64
	closing  *atomic.Bool // the broker is stopping: a cut is not a failure
}

func (l *secureListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	return &authConn{Conn: c, l: l}, nil
}

// authConn follows the request frames kfake reads (size, api key, version,
// correlation id) and whether the last one was answered.
type authConn struct {
	net.Conn
	l *secureListener

	mu      sync.Mutex
	head    [12]byte // size(4) key(2) version(2) correlation(4) of the frame being read
	headN   int
	rest    int64          // body bytes of the frame after head not read yet
	pending *requestHeader // an unanswered SaslAuthenticate
	closed  bool
}

type requestHeader struct {
	key, version int16
	corr         int32
}

func (c *authConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.follow(p[:n])
	c.mu.Unlock()
	return n, err
}

// follow advances the frame parser over b, noting each complete request.
func (c *authConn) follow(b []byte) {
	for len(b) > 0 {
		if c.headN < len(c.head) {
			k := copy(c.head[c.headN:], b)
			c.headN += k
			b = b[k:]
			if c.headN < len(c.head) {
				return
			}
			c.rest = int64(binary.BigEndian.Uint32(c.head[:4])) - 8
		} else {
			k := int64(len(b))
			if k > c.rest {
				k = c.rest
			}
			c.rest -= k
			b = b[k:]
		}
		if c.rest <= 0 {
			h := requestHeader{
				key:     int16(binary.BigEndian.Uint16(c.head[4:6])),
				version: int16(binary.BigEndian.Uint16(c.head[6:8])),
				corr:    int32(binary.BigEndian.Uint32(c.head[8:12])),
			}
			c.pending = nil
			if h.key == int16(kmsg.SASLAuthenticate) {
				c.pending = &h
			}
			c.headN, c.rest = 0, 0
		}
	}
}

func (c *authConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	// SASL is one request at a time: a write answers the last request.
	c.pending = nil
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *authConn) Close() error {
	c.mu.Lock()
	h, first := c.pending, !c.closed
	c.pending, c.closed = nil, true
	c.mu.Unlock()
	if h != nil && first && !c.l.closing.Load() {
		c.l.failures.Add(1)
		c.l.log.Warn("SASL authentication failed: wrong user name or password", "client", c.RemoteAddr().String())
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Conn.Write(authFailedResponse(*h))
	}
	return c.Conn.Close()
}

// authFailedResponse is Kafka's answer to a SaslAuthenticate whose
// credentials it rejects.
func authFailedResponse(h requestHeader) []byte {
	msg := "Authentication failed: invalid credentials"
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = h.version
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	buf := make([]byte, 8, 64) // size, correlation id
	if resp.IsFlexible() {
		buf = append(buf, 0) // the response header's empty tagged fields
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	binary.BigEndian.PutUint32(buf[4:8], uint32(h.corr))
	return buf
}
