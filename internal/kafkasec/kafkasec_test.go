package kafkasec

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hedgeline/hedgeline/internal/testcerts"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testPassword = "s3cret-Pa55word"

// flags parses args with the flags registered as every command does.
func flags(t *testing.T, args ...string) Flags {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadErrorsNameFlagAndPath: each wrong setting is reported naming its
// flag and, for a file, its path; all problems at once; never the password.
func TestLoadErrorsNameFlagAndPath(t *testing.T) {
	pki := testcerts.New(t, "127.0.0.1")
	missing := filepath.Join(t.TempDir(), "nope.pem")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing CA", []string{"--kafka-tls-ca-file", missing}, []string{"--kafka-tls-ca-file", missing, "no such file"}},
		{"CA not PEM", []string{"--kafka-tls-ca-file", notPEM}, []string{"--kafka-tls-ca-file", notPEM, "no PEM certificate"}},
		{"missing cert", []string{"--kafka-tls-cert-file", missing, "--kafka-tls-key-file", pki.ClientKey},
			[]string{"--kafka-tls-cert-file", missing, "no such file"}},
		{"cert without key", []string{"--kafka-tls-cert-file", pki.ClientCert}, []string{"--kafka-tls-cert-file: needs --kafka-tls-key-file"}},
		{"key without cert", []string{"--kafka-tls-key-file", pki.ClientKey}, []string{"--kafka-tls-key-file: needs --kafka-tls-cert-file"}},
		{"key of another cert", []string{"--kafka-tls-cert-file", pki.ClientCert, "--kafka-tls-key-file", pki.ServerKey},
			[]string{"--kafka-tls-cert-file", pki.ClientCert, pki.ServerKey, "private key does not match"}},
		{"unknown mechanism", []string{"--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-username", "u", "--kafka-sasl-password", testPassword},
			[]string{"--kafka-sasl-mechanism", `"GSSAPI"`, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"}},
		{"no user", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-password", testPassword}, []string{"needs --kafka-sasl-username"}},
		{"no password", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u"}, []string{"needs --kafka-sasl-password-file"}},
		{"missing password file", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u", "--kafka-sasl-password-file", missing},
			[]string{"--kafka-sasl-password-file", missing, "no such file"}},
		{"empty password file", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u", "--kafka-sasl-password-file", writeFile(t, "pw", "\n")},
			[]string{"--kafka-sasl-password-file", "empty"}},
		{"both passwords", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u", "--kafka-sasl-password", testPassword, "--kafka-sasl-password-file", writeFile(t, "pw", testPassword)},
			[]string{"exclusive"}},
		{"credentials without mechanism", []string{"--kafka-sasl-username", "u", "--kafka-sasl-password", testPassword}, []string{"need --kafka-sasl-mechanism"}},
		{"every problem at once", []string{"--kafka-tls-ca-file", missing, "--kafka-sasl-mechanism", "nope"},
			[]string{"--kafka-tls-ca-file", "--kafka-sasl-mechanism"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := flags(t, c.args...).Load()
			if err == nil {
				t.Fatalf("%v: no error", c.args)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// TestLoadSettings: what each flag turns into, for both client libraries.
func TestLoadSettings(t *testing.T) {
	pki := testcerts.New(t, "kafka.test")
	pwFile := writeFile(t, "pw", testPassword+"\n")

	if s, err := flags(t).Load(); err != nil || s.TLS() != nil || len(s.Opts()) != 0 || s.String() != "plaintext" {
		t.Fatalf("no flags: %v, %v, %d opts, %q", err, s.TLS(), len(s.Opts()), s)
	}
	// Any TLS file turns TLS on.
	s, err := flags(t, "--kafka-tls-ca-file", pki.CAFile).Load()
	if err != nil || s.TLS() == nil || s.TLS().RootCAs == nil || s.TLS().MinVersion != 0x0303 {
		t.Fatalf("CA file: %v, %+v", err, s.TLS())
	}
	if s, err := flags(t, "--kafka-tls").Load(); err != nil || s.TLS() == nil || s.TLS().RootCAs != nil {
		t.Fatalf("--kafka-tls alone: system roots; got %v, %+v", err, s.TLS())
	}

	for _, mech := range []string{"plain", "SCRAM-SHA-256", "scram-sha-512"} {
		s, err := flags(t, "--kafka-tls-ca-file", pki.CAFile, "--kafka-tls-cert-file", pki.ClientCert, "--kafka-tls-key-file", pki.ClientKey,
			"--kafka-tls-server-name", "kafka.test",
			"--kafka-sasl-mechanism", mech, "--kafka-sasl-username", "hedgeline", "--kafka-sasl-password-file", pwFile).Load()
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		want, _ := ParseMechanism(mech)
		if m, u := s.SASL(); m != want || u != "hedgeline" {
			t.Errorf("%s: SASL %s as %s", mech, m, u)
		}
		if len(s.TLS().Certificates) != 1 || s.TLS().ServerName != "kafka.test" {
			t.Errorf("%s: TLS %d certificates, server name %q", mech, len(s.TLS().Certificates), s.TLS().ServerName)
		}
		if len(s.Opts()) != 2 {
			t.Errorf("%s: %d franz-go options, want TLS and SASL", mech, len(s.Opts()))
		}
		sc := sarama.NewConfig()
		s.Sarama(sc)
		if !sc.Net.TLS.Enable || sc.Net.TLS.Config.ServerName != "kafka.test" || !sc.Net.SASL.Enable ||
			string(sc.Net.SASL.Mechanism) != want || sc.Net.SASL.User != "hedgeline" || sc.Net.SASL.Password != testPassword {
			t.Errorf("%s: sarama TLS %v, SASL %v %s %s", mech, sc.Net.TLS.Enable, sc.Net.SASL.Enable, sc.Net.SASL.Mechanism, sc.Net.SASL.User)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: sarama rejects the config: %v", mech, err)
		}
		// The password trails no newline, and nothing that prints the
		// security shows it.
		for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v", s, s, s), Cluster{Seeds: []string{"a:1"}, Security: s}.String(),
			fmt.Sprintf("%+v", Cluster{Seeds: []string{"a:1"}, Security: s}), logged(s)} {
			if strings.Contains(out, testPassword) {
				t.Errorf("%s: printed security shows the password: %s", mech, out)
			}
		}
		if !strings.Contains(s.String(), "SASL "+want+" as hedgeline") || !strings.Contains(s.String(), "TLS with a client certificate") {
			t.Errorf("String() = %q", s.String())
		}
	}
}

func logged(s Security) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "security", s, "raw", struct{ S Security }{s})
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "raw", struct{ S Security }{s})
	j, _ := json.Marshal(struct{ S Security }{s})
	return b.String() + string(j)
}

// TestClientsAgainstBroker: franz-go and sarama clients authenticate to a
// kfake broker with mutual TLS and each SASL mechanism (sarama's SCRAM
// through scramClient), and a wrong password fails both. (Bare kfake just
// closes the connection then; the embedded broker answers as Kafka does,
// tested in embedded/kafka.)
func TestClientsAgainstBroker(t *testing.T) {
	pki := testcerts.New(t, "kafka.test")
	for _, mech := range Mechanisms {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.ServerTLS()), kfake.EnableSASL(),
				kfake.Superuser(mech, "hedgeline", testPassword), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			base := []string{"--kafka-tls-ca-file", pki.CAFile, "--kafka-tls-cert-file", pki.ClientCert, "--kafka-tls-key-file", pki.ClientKey,
				"--kafka-tls-server-name", "kafka.test", "--kafka-sasl-mechanism", mech, "--kafka-sasl-username", "hedgeline"}
			good, err := flags(t, append(base, "--kafka-sasl-password", testPassword)...).Load()
			if err != nil {
				t.Fatal(err)
			}
			cl := Cluster{Seeds: c.ListenAddrs(), Security: good}
			if err := franzPing(cl); err != nil {
				t.Errorf("franz-go: %v", err)
			}
			if err := saramaPing(cl); err != nil {
				t.Errorf("sarama: %v", err)
			}

			bad, err := flags(t, append(base, "--kafka-sasl-password", "wrong")...).Load()
			if err != nil {
				t.Fatal(err)
			}
			cl.Security = bad
			start := time.Now()
			err = franzPing(cl)
			t.Logf("franz-go, wrong password, after %s: %v", time.Since(start), err)
			if err == nil {
				t.Error("franz-go: wrong password accepted")
			}
			start = time.Now()
			err = saramaPing(cl)
			t.Logf("sarama, wrong password, after %s: %v", time.Since(start), err)
			if err == nil {
				t.Error("sarama: wrong password accepted")
			}
		})
	}
}

func franzPing(c Cluster) error {
	cl, err := kgo.NewClient(c.Opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func saramaPing(c Cluster) error {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	c.Sarama(sc)
	cl, err := sarama.NewClient(c.Seeds, sc)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Topics()
	return err
}
