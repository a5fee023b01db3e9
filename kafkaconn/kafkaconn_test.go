package kafkaconn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tracker-dev/tracker/config"
)

func TestNew(t *testing.T) {
	t.Setenv("KC_TEST_PASSWORD", "pw")
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		c, err := New(config.Kafka{Brokers: []string{"127.0.0.1:9092"}, SASL: &config.SASL{Mechanism: mech, Username: "u", PasswordEnv: "KC_TEST_PASSWORD"}})
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if c.Dialer.SASLMechanism == nil || c.Transport.SASL == nil || c.Dialer.SASLMechanism.Name() != map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}[mech] {
			t.Fatalf("%s: mechanism not set: %+v", mech, c.Dialer)
		}
	}
	c, err := New(config.Kafka{})
	if err != nil || c.Dialer.TLS != nil || c.Dialer.SASLMechanism != nil || c.Dialer.ClientID != "tracker" {
		t.Fatalf("plain connection: %+v %v", c, err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		k    config.Kafka
		want string
	}{
		{"unknown mechanism", config.Kafka{SASL: &config.SASL{Mechanism: "gssapi"}}, `kafka.sasl.mechanism "gssapi": use plain, scram-sha-256 or scram-sha-512`},
		{"CA file missing", config.Kafka{TLS: &config.TLS{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}}, "kafka.tls.ca_file: open " + filepath.Join(dir, "none.pem") + ": no such file or directory"},
		{"CA file not PEM", config.Kafka{TLS: &config.TLS{Enabled: true, CAFile: notPEM}}, "kafka.tls.ca_file " + notPEM + ": no PEM certificates found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.k); err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}
