// Package config loads and validates the tracker's YAML configuration
// (DESIGN.md §8).
//
// Decoding is strict: an unknown key is an error naming file, line and key.
// Every value is checked and all problems are reported at once. TRACKER_*
// environment variables override scalar settings (see [EnvOverrides]).
package config

import (
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

// Config is the whole tracker configuration.
type Config struct {
	Listen    string            `yaml:"listen"`
	DataDir   string            `yaml:"data_dir"`
	Kafka     Kafka             `yaml:"kafka"`
	Models    []string          `yaml:"models"`
	Sources   []Source          `yaml:"sources"`
	HTTP      HTTPIngest        `yaml:"http"`
	Decisions string            `yaml:"decisions"`
	Targets   map[string]Target `yaml:"targets"`
	Engine    Engine            `yaml:"engine"`
	History   History           `yaml:"history"`
	SLA       SLA               `yaml:"sla"`
	Auth      Auth              `yaml:"auth"`
	Limits    Limits            `yaml:"limits"`

	// File is the path the config was loaded from ("" when built in code).
	File string `yaml:"-"`
}

// Kafka is how the tracker reaches the cluster.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	GroupID  string   `yaml:"group_id"`
	ClientID string   `yaml:"client_id"`
	// BatchSize is the most records applied to the engine at once (default 1000).
	BatchSize int `yaml:"batch_size"`
	// Linger is how long a batch waits to fill (default 5ms).
	Linger Duration `yaml:"linger"`
	// SessionTimeout of the consumer group (default 10s; kfake's minimum is 6s).
	SessionTimeout Duration `yaml:"session_timeout"`
	TLS            *TLS     `yaml:"tls"`
	SASL           *SASL    `yaml:"sasl"`
}

// TLS configures encrypted connections.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures authentication. The password comes from an environment
// variable so that it never sits in the file or the logs.
type SASL struct {
	Mechanism   string `yaml:"mechanism"` // plain | scram-sha-256 | scram-sha-512
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
}

// Source maps the records of some topics to messages (DESIGN.md §8).
type Source struct {
	// Name identifies the source in decisions and metrics (default: the first topic).
	Name           string            `yaml:"name"`
	Topics         []string          `yaml:"topics"`
	Format         string            `yaml:"format"` // auto | json | cloudevents
	MessageName    string            `yaml:"message_name"`
	CorrelationKey string            `yaml:"correlation_key"`
	MessageID      string            `yaml:"message_id"`
	EventTime      string            `yaml:"event_time"`
	Variables      string            `yaml:"variables"`
	BufferTTL      *Duration         `yaml:"buffer_ttl"` // nil = default PT1H; PT0S = no buffering
	Start          map[string]string `yaml:"start"`
	MaxEventBytes  ByteSize          `yaml:"max_event_bytes"`
	DeadLetter     string            `yaml:"dead_letter_topic"`

	namedByDefault bool
}

// HTTPIngest configures POST /api/v1/events.
type HTTPIngest struct {
	BufferTTL     *Duration `yaml:"buffer_ttl"`
	MaxEventBytes ByteSize  `yaml:"max_event_bytes"`
	// MaxRequestBytes caps a whole request, batch included (default 8 MiB).
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`
}

// Target is a named destination for actions and alerts: a Kafka topic or a webhook.
type Target struct {
	KafkaTopic string            `yaml:"kafka_topic"`
	Webhook    string            `yaml:"webhook"`
	Headers    map[string]string `yaml:"headers"`
	// HeadersEnv maps a header name to an environment variable holding its value (secrets).
	HeadersEnv map[string]string `yaml:"headers_env"`
	Timeout    Duration          `yaml:"timeout"`
}

// Engine selects and tunes the workflow engine.
type Engine struct {
	Backend         string    `yaml:"backend"` // embedded | zeebe
	DedupeRetention *Duration `yaml:"dedupe_retention"`
	CacheSize       int       `yaml:"cache_size"`
	GroupCommit     *int      `yaml:"group_commit"` // events per engine commit; 0 or 1: every batch
	Zeebe           *Zeebe    `yaml:"zeebe"`
}

// Zeebe reaches a Zeebe gateway.
type Zeebe struct {
	Gateway   string `yaml:"gateway"`
	Plaintext bool   `yaml:"plaintext"`
	CAFile    string `yaml:"ca_file"`
}

// History selects the read-model backend.
type History struct {
	Backend       string         `yaml:"backend"` // embedded | elasticsearch
	Retention     *Duration      `yaml:"retention"`
	Elasticsearch *Elasticsearch `yaml:"elasticsearch"`
}

// Elasticsearch reaches an Elasticsearch (or OpenSearch) cluster.
type Elasticsearch struct {
	URLs        []string `yaml:"urls"`
	IndexPrefix string   `yaml:"index_prefix"`
	Username    string   `yaml:"username"`
	PasswordEnv string   `yaml:"password_env"`
	APIKeyEnv   string   `yaml:"api_key_env"`
	CAFile      string   `yaml:"ca_file"`
	Sniff       bool     `yaml:"sniff"`
	Healthcheck bool     `yaml:"healthcheck"`
}

// SLA configures alerting.
type SLA struct {
	DefaultRepeat *Duration `yaml:"default_repeat"`
	Sinks         []string  `yaml:"sinks"` // target names, or "log"
}

// Auth lists API tokens. Loopback requests need none.
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is one API token, read from an environment variable.
type Token struct {
	Name     string `yaml:"name"`
	TokenEnv string `yaml:"token_env"`
	Role     string `yaml:"role"` // viewer | operator | admin
}

// Limits caps request sizes and similar.
type Limits struct {
	MaxModelBytes ByteSize `yaml:"max_model_bytes"`
}

// Duration is a config duration: ISO 8601 (PT1H, P7D) or Go syntax (500ms, 1h).
type Duration struct {
	time.Duration
	ISO iso8601.Duration
}
