// Package kafkaconn builds kafka-go connections (TLS, SASL PLAIN and SCRAM)
// from the tracker's config, for every component that talks to Kafka: the
// consumer, the actions relay and the dead-letter writer.
package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/tracker-dev/tracker/config"
)

// DialTimeout bounds one connection attempt.
const DialTimeout = 10 * time.Second

// TLS returns the TLS settings of t, nil when TLS is off.
func TLS(t *config.TLS) (*tls.Config, error) {
	if t == nil || !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in by config
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificates found", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// SASL returns the SASL mechanism of s, nil when none is configured. The
// password is read from the environment variable s names.
func SASL(s *config.SASL) (sasl.Mechanism, error) {
	if s == nil || s.Mechanism == "" {
		return nil, nil
	}
	password := os.Getenv(s.PasswordEnv)
	switch s.Mechanism {
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: password}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if s.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, password)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q: use plain, scram-sha-256 or scram-sha-512", s.Mechanism)
}

// Conn is what a kafka-go client needs to reach the cluster.
type Conn struct {
	Brokers   []string
	Dialer    *kafka.Dialer    // for readers and consumer groups
	Transport *kafka.Transport // for writers
}

// New builds the dialer and transport for k.
func New(k config.Kafka) (*Conn, error) {
	tlsCfg, err := TLS(k.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := SASL(k.SASL)
	if err != nil {
		return nil, err
	}
	clientID := k.ClientID
	if clientID == "" {
		clientID = "tracker"
	}
	return &Conn{
		Brokers:   k.Brokers,
		Dialer:    &kafka.Dialer{ClientID: clientID, Timeout: DialTimeout, DualStack: true, TLS: tlsCfg, SASLMechanism: mech},
		Transport: &kafka.Transport{ClientID: clientID, DialTimeout: DialTimeout, TLS: tlsCfg, SASL: mech},
	}, nil
}
