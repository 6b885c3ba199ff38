package tlsconf

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
)

// ServerFlags are a listener's TLS flags, named after a prefix:
// --P-cert-file, --P-key-file, --P-client-ca-file.
type ServerFlags struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string

	prefix string
}

// Register declares the flags on fs as --prefix-*; what names the server
// in the help ("the embedded broker").
func (f *ServerFlags) Register(fs *flag.FlagSet, prefix, what string) {
	f.prefix = prefix
	fs.StringVar(&f.CertFile, prefix+"-cert-file", f.CertFile, "PEM certificate "+what+" serves TLS with (with --"+prefix+"-key-file; default: plaintext)")
	fs.StringVar(&f.KeyFile, prefix+"-key-file", f.KeyFile, "PEM private key of --"+prefix+"-cert-file")
	fs.StringVar(&f.ClientCAFile, prefix+"-client-ca-file", f.ClientCAFile, "PEM CA certificates: "+what+" requires client certificates they sign (mutual TLS)")
}

// On says whether the listener serves TLS.
func (f ServerFlags) On() bool { return f.CertFile != "" || f.KeyFile != "" || f.ClientCAFile != "" }

func (f ServerFlags) flag(suffix string) string {
	if f.prefix == "" {
		return suffix
	}
	return "--" + f.prefix + "-" + suffix
}

// Load reads the files and returns the server configuration, or nil when
// TLS is off. Every problem is reported, each naming its flag and file.
func (f ServerFlags) Load() (*tls.Config, error) {
	if !f.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if f.CertFile == "" || f.KeyFile == "" {
		errs = append(errs, fmt.Errorf("%s and %s: both needed to serve TLS", f.flag("cert-file"), f.flag("key-file")))
	} else if pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
		errs = append(errs, fmt.Errorf("%s %s, %s %s: %w", f.flag("cert-file"), f.CertFile, f.flag("key-file"), f.KeyFile, err))
	} else {
		c.Certificates = []tls.Certificate{pair}
	}
	if f.ClientCAFile != "" {
		pool, err := caPool(f.ClientCAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.flag("client-ca-file"), err))
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}
