package tlsconf

import (
	"crypto/tls"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/internal/testcerts"
)

func parseServer(t *testing.T, args ...string) ServerFlags {
	t.Helper()
	var f ServerFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs, "tls", "the broker")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestServerFlags(t *testing.T) {
	pki := testcerts.New(t, "127.0.0.1")
	if c, err := parseServer(t).Load(); c != nil || err != nil {
		t.Fatalf("no flags: %v, %v; want plaintext", c, err)
	}
	c, err := parseServer(t, "--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey, "--tls-client-ca-file", pki.CAFile).Load()
	if err != nil || len(c.Certificates) != 1 || c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Fatalf("mutual TLS: %v, %+v", err, c)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--tls-cert-file", pki.ServerCert}, []string{"--tls-cert-file and --tls-key-file: both needed"}},
		{[]string{"--tls-cert-file", missing, "--tls-key-file", pki.ServerKey}, []string{"--tls-cert-file " + missing, "no such file"}},
		{[]string{"--tls-client-ca-file", missing}, []string{"--tls-client-ca-file: open " + missing, "both needed"}},
		{[]string{"--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey, "--tls-client-ca-file", pki.ServerKey},
			[]string{"--tls-client-ca-file: " + pki.ServerKey + ": no PEM certificate"}},
	} {
		_, err := parseServer(t, tc.args...).Load()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want %q", tc.args, err, w)
			}
		}
	}
}

// Without Register (a Flags built in code), errors name the fields.
func TestFlagsWithoutRegister(t *testing.T) {
	_, err := Flags{CertFile: "c.pem"}.Load()
	if err == nil || err.Error() != "CertFile: needs KeyFile" {
		t.Errorf("got %v", err)
	}
}
