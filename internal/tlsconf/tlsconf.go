// Package tlsconf builds the client TLS configuration of a connection from
// command-line flags: whether to use TLS, a CA to trust instead of the
// system's roots, a client certificate and key (mutual TLS), and the name
// to verify the server's certificate against. Kafka (--kafka-tls-*) and
// ClickHouse (--clickhouse-tls-*) declare the same flags through it.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
)

// Flags are one connection's TLS flags, named after a prefix: --P,
// --P-ca-file, --P-cert-file, --P-key-file, --P-server-name.
type Flags struct {
	Enable     bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string

	prefix string // "kafka-tls": the flags' names, for errors
}

// Register declares the flags on fs as --prefix-*; what names the peer in
// the help ("Kafka").
func (f *Flags) Register(fs *flag.FlagSet, prefix, what string) {
	f.prefix = prefix
	fs.BoolVar(&f.Enable, prefix, f.Enable, "connect to "+what+" over TLS (implied by any other --"+prefix+"-* flag)")
	fs.StringVar(&f.CAFile, prefix+"-ca-file", f.CAFile, "PEM file of the CA certificates that sign "+what+"'s certificate (default: the system's roots)")
	fs.StringVar(&f.CertFile, prefix+"-cert-file", f.CertFile, "PEM client certificate presented to "+what+" (mutual TLS; with --"+prefix+"-key-file)")
	fs.StringVar(&f.KeyFile, prefix+"-key-file", f.KeyFile, "PEM private key of --"+prefix+"-cert-file")
	fs.StringVar(&f.ServerName, prefix+"-server-name", f.ServerName, "name "+what+"'s certificate must carry (default: the host dialled)")
}

// On says whether the connection uses TLS: --P, or any file or name given.
func (f Flags) On() bool {
	return f.Enable || f.CAFile != "" || f.CertFile != "" || f.KeyFile != "" || f.ServerName != ""
}

// flag is the name of one of the flags in errors ("--kafka-tls-ca-file");
// without Register, the field's name.
func (f Flags) flag(suffix, field string) string {
	if f.prefix == "" {
		return field
	}
	if suffix == "" {
		return "--" + f.prefix
	}
	return "--" + f.prefix + "-" + suffix
}

// Load reads the files and returns the client configuration, or nil when
// TLS is off. Every problem is reported, each naming its flag and file.
func (f Flags) Load() (*tls.Config, error) {
	if !f.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	var errs []error
	if f.CAFile != "" {
		pool, err := caPool(f.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.flag("ca-file", "CAFile"), err))
		}
		c.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s, %s %s: %w",
				f.flag("cert-file", "CertFile"), f.CertFile, f.flag("key-file", "KeyFile"), f.KeyFile, err))
		}
		c.Certificates = []tls.Certificate{pair}
	case f.CertFile != "":
		errs = append(errs, fmt.Errorf("%s: needs %s", f.flag("cert-file", "CertFile"), f.flag("key-file", "KeyFile")))
	case f.KeyFile != "":
		errs = append(errs, fmt.Errorf("%s: needs %s", f.flag("key-file", "KeyFile"), f.flag("cert-file", "CertFile")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// caPool reads PEM certificates from path; a file without any is an error
// (a key or a DER file given by mistake would otherwise trust nothing).
func caPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError: names the path
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}
