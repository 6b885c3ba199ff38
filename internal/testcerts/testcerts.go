// Package testcerts makes, at test time, the certificates the TLS tests
// need: a CA, a server certificate it signs for given names, and a client
// certificate it signs, written as PEM files into a test's temporary
// directory. Nothing is checked in, so nothing expires in the repository.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA with one server and one client certificate, as files.
type PKI struct {
	Dir string
	// CAFile holds the CA certificate (what clients trust).
	CAFile string
	// ServerCert and ServerKey: the server's certificate, valid for the
	// names New was given, and its key.
	ServerCert, ServerKey string
	// ClientCert and ClientKey: a client certificate (CN "hedgeline").
	ClientCert, ClientKey string

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
	server tls.Certificate
}

// New makes a CA and the server and client certificates under
// t.TempDir(). names are the server certificate's DNS names or IP
// addresses.
func New(t testing.TB, names ...string) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir()}
	caKey := newKey(t)
	caTmpl := template(t, "hedgeline test CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.caKey = caKey
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	p.CAFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	p.ServerCert, p.ServerKey = p.Issue(t, "server", x509.ExtKeyUsageServerAuth, names...)
	p.server, err = tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ClientCert, p.ClientKey = p.Issue(t, "hedgeline", x509.ExtKeyUsageClientAuth)
	return p
}

// Issue signs a certificate for cn with usage (and names, for a server)
// and returns its certificate and key files.
func (p *PKI) Issue(t testing.TB, cn string, usage x509.ExtKeyUsage, names ...string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, cn)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".pem", "CERTIFICATE", der), p.write(t, cn+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// ServerTLS is the server side of the PKI: its certificate, and client
// certificates required and verified against the CA.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.caPool,
	}
}

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func template(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}
