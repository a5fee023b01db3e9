package correlate

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/tracker-dev/tracker/config"
)

// connection holds what every kafka-go client of the consumer needs to reach
// the cluster.
type connection struct {
	brokers   []string
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

func newConnection(k config.Kafka) (*connection, error) {
	if len(k.Brokers) == 0 {
		return nil, fmt.Errorf("kafka.brokers: at least one broker is needed")
	}
	clientID := k.ClientID
	if clientID == "" {
		clientID = "tracker"
	}
	tlsCfg, err := tlsConfig(k.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := saslMechanism(k.SASL)
	if err != nil {
		return nil, err
	}
	return &connection{
		brokers: k.Brokers,
		dialer: &kafka.Dialer{
			ClientID: clientID, Timeout: 10 * time.Second, DualStack: true,
			TLS: tlsCfg, SASLMechanism: mech,
		},
		transport: &kafka.Transport{
			ClientID: clientID, DialTimeout: 10 * time.Second, TLS: tlsCfg, SASL: mech,
		},
	}, nil
}

func tlsConfig(t *config.TLS) (*tls.Config, error) {
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

func saslMechanism(s *config.SASL) (sasl.Mechanism, error) {
	if s == nil || s.Mechanism == "" {
		return nil, nil
	}
	password := os.Getenv(s.PasswordEnv)
	switch s.Mechanism {
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: password}, nil
	case "scram-sha-256", "scram-sha-512":
		// kafka-go's SCRAM needs github.com/xdg-go/scram, which go.mod does not have yet.
		return nil, fmt.Errorf("kafka.sasl.mechanism %q is not supported by this build yet: use plain (over TLS)", s.Mechanism)
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q: use plain, scram-sha-256 or scram-sha-512", s.Mechanism)
}
