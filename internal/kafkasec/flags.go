package kafkasec

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/hedgeline/hedgeline/internal/secret"
	"github.com/hedgeline/hedgeline/internal/tlsconf"
)

// Flags are the --kafka-tls-* and --kafka-sasl-* flags of every command
// that talks to Kafka.
type Flags struct {
	TLS          tlsconf.Flags
	Mechanism    string
	User         string
	Password     string
	PasswordFile string
}

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	f.TLS.Register(fs, "kafka-tls", "Kafka")
	fs.StringVar(&f.Mechanism, "kafka-sasl-mechanism", f.Mechanism, "authenticate to Kafka with SASL: "+strings.Join(Mechanisms, ", ")+" (default: no SASL)")
	fs.StringVar(&f.User, "kafka-sasl-username", f.User, "SASL user name")
	fs.StringVar(&f.PasswordFile, "kafka-sasl-password-file", f.PasswordFile, "file holding the SASL password (one line)")
	// A flag so that HEDGELINE_KAFKA_SASL_PASSWORD sets it; on a command
	// line every local user can read it.
	fs.StringVar(&f.Password, "kafka-sasl-password", f.Password, "SASL password: prefer HEDGELINE_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file (a command line is visible to every local user)")
}

// Load reads the files the flags name and returns the security. Every
// problem is reported, each naming its flag (and file); no error contains
// the password.
func (f Flags) Load() (Security, error) {
	var errs []error
	tlsConfig, err := f.TLS.Load()
	if err != nil {
		errs = append(errs, err)
	}
	password := f.Password
	switch {
	case f.Mechanism == "":
		if f.User != "" || f.Password != "" || f.PasswordFile != "" {
			errs = append(errs, errors.New("--kafka-sasl-username, --kafka-sasl-password(-file): need --kafka-sasl-mechanism"))
		}
	default:
		p, err := secret.FromValueOrFile("--kafka-sasl-password", f.Password, "--kafka-sasl-password-file", f.PasswordFile)
		switch {
		case err != nil:
			errs = append(errs, err)
		case f.PasswordFile != "" && p == "":
			errs = append(errs, fmt.Errorf("--kafka-sasl-password-file %s: empty", f.PasswordFile))
		default:
			password = p
		}
	}
	var sec Security
	if f.Mechanism != "" {
		m, err := ParseMechanism(f.Mechanism)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism: %w", err))
		case f.User == "":
			errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism %s: needs --kafka-sasl-username", m))
		case password == "" && f.PasswordFile == "":
			errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism %s: needs --kafka-sasl-password-file (or HEDGELINE_KAFKA_SASL_PASSWORD)", m))
		}
		if len(errs) == 0 {
			sec, err = New(tlsConfig, m, f.User, password)
			errs = append(errs, err)
		}
	} else {
		sec = Security{tls: tlsConfig}
	}
	if err := errors.Join(errs...); err != nil {
		return Security{}, err
	}
	return sec, nil
}
