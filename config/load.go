package config

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tracker-dev/tracker/jsonpath"
)

// Defaults applied by [Load] to keys the file leaves out.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultDataDir       = "./data"
	DefaultGroupID       = "tracker"
	DefaultBatchSize     = 1000
	DefaultMaxEventBytes = ByteSize(1 << 20)
	DefaultCacheSize     = 100_000
	DefaultGroupCommit   = 20_000
	DefaultIndexPrefix   = "tracker"
	maxConfigBytes       = 1 << 20
)

// Roles a token can have, from least to most allowed.
var Roles = []string{"viewer", "operator", "admin"}

// Load reads, decodes and validates a config file, applying TRACKER_*
// environment overrides from environ (pass os.Environ()). Relative paths in the
// file are taken relative to the file's directory. The error is [Problems]
// listing everything wrong.
func Load(path string, environ []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("cannot read config: %v", err)}}
	}
	return Parse(path, data, environ)
}

// Parse is [Load] for bytes already read; file names the source in messages.
func Parse(file string, data []byte, environ []string) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, Problems{{File: file, Msg: fmt.Sprintf("config is %d bytes, more than the %d allowed", len(data), maxConfigBytes)}}
	}
	cfg := &Config{File: file}
	d := &decoder{file: file, lines: map[string]int{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && len(bytes.TrimSpace(data)) > 0 {
		return nil, Problems{{File: file, Msg: fmt.Sprintf("not valid YAML: %v", err)}}
	}
	if root.Kind != 0 {
		d.decode(&root, reflect.ValueOf(cfg).Elem(), "")
	}
	applyEnv(cfg, environ, d)
	cfg.applyDefaults()
	cfg.validate(d, filepath.Dir(file))
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
		return nil, d.problems
	}
	return cfg, nil
}

// Default returns the configuration `tracker demo` runs with before flags.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Kafka.GroupID == "" {
		c.Kafka.GroupID = DefaultGroupID
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "tracker"
	}
	if c.Kafka.BatchSize == 0 {
		c.Kafka.BatchSize = DefaultBatchSize
	}
	if c.Kafka.Linger.Duration == 0 {
		c.Kafka.Linger = Dur(5 * time.Millisecond)
	}
	if c.Kafka.SessionTimeout.Duration == 0 {
		c.Kafka.SessionTimeout = Dur(10 * time.Second)
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Name == "" && len(s.Topics) > 0 {
			s.Name, s.namedByDefault = s.Topics[0], true
		}
		if s.Format == "" {
			s.Format = "auto"
		}
		if s.BufferTTL == nil {
			d := Dur(time.Hour)
			s.BufferTTL = &d
		}
		if s.MaxEventBytes == 0 {
			s.MaxEventBytes = DefaultMaxEventBytes
		}
	}
	if c.HTTP.BufferTTL == nil {
		d := Dur(time.Hour)
		c.HTTP.BufferTTL = &d
	}
	if c.HTTP.MaxEventBytes == 0 {
		c.HTTP.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.HTTP.MaxRequestBytes == 0 {
		c.HTTP.MaxRequestBytes = 8 << 20
	}
	for name, t := range c.Targets {
		if t.Timeout.Duration == 0 {
			t.Timeout = Dur(10 * time.Second)
			c.Targets[name] = t
		}
	}
	if c.Engine.Backend == "" {
		c.Engine.Backend = "embedded"
	}
	if c.Engine.DedupeRetention == nil {
		d := Dur(7 * 24 * time.Hour)
		c.Engine.DedupeRetention = &d
	}
	if c.Engine.CacheSize == 0 {
		c.Engine.CacheSize = DefaultCacheSize
	}
	if c.Engine.GroupCommit == nil {
		n := DefaultGroupCommit
		c.Engine.GroupCommit = &n
	}
	if c.History.Backend == "" {
		c.History.Backend = "embedded"
	}
	if c.History.Retention == nil {
		d := Dur(90 * 24 * time.Hour)
		c.History.Retention = &d
	}
	if c.History.Elasticsearch != nil && c.History.Elasticsearch.IndexPrefix == "" {
		c.History.Elasticsearch.IndexPrefix = DefaultIndexPrefix
	}
	if c.SLA.DefaultRepeat == nil {
		d := Dur(4 * time.Hour)
		c.SLA.DefaultRepeat = &d
	}
	if c.Limits.MaxModelBytes == 0 {
		c.Limits.MaxModelBytes = 4 << 20
	}
}

// resolve makes a path from the file relative to the config's directory.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

func (c *Config) validate(d *decoder, dir string) {
	bad := func(key, format string, args ...any) {
		d.add(d.line(key), key, format, args...)
	}
	checkAddr := func(key, addr string) {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			bad(key, "invalid address %q: expected host:port like 127.0.0.1:8080", addr)
		}
	}
	checkFile := func(key, p string) string {
		full := resolve(dir, p)
		if st, err := os.Stat(full); err != nil {
			bad(key, "file %s not found", full)
		} else if st.IsDir() {
			bad(key, "%s is a directory, expected a file", full)
		}
		return full
	}

	checkAddr("listen", c.Listen)
	c.DataDir = resolve(dir, c.DataDir)

	if len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "no brokers: list at least one host:port")
	}
	for i, b := range c.Kafka.Brokers {
		checkAddr(fmt.Sprintf("kafka.brokers[%d]", i), b)
	}
	if c.Kafka.BatchSize < 1 || c.Kafka.BatchSize > 100_000 {
		bad("kafka.batch_size", "%d is out of range: use 1 to 100000", c.Kafka.BatchSize)
	}
	if c.Kafka.SessionTimeout.Duration < time.Second {
		bad("kafka.session_timeout", "%s is too short: use at least 1s (brokers usually require 6s)", c.Kafka.SessionTimeout)
	}
	if t := c.Kafka.TLS; t != nil {
		for key, p := range map[string]*string{"kafka.tls.ca_file": &t.CAFile, "kafka.tls.cert_file": &t.CertFile, "kafka.tls.key_file": &t.KeyFile} {
			if *p != "" {
				*p = checkFile(key, *p)
			}
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("kafka.tls", "cert_file and key_file must be given together")
		}
	}
	if s := c.Kafka.SASL; s != nil {
		if !slices.Contains([]string{"plain", "scram-sha-256", "scram-sha-512"}, s.Mechanism) {
			bad("kafka.sasl.mechanism", "unknown mechanism %q: use plain, scram-sha-256 or scram-sha-512", s.Mechanism)
		}
		if s.Username == "" {
			bad("kafka.sasl.username", "missing")
		}
		if s.PasswordEnv == "" {
			bad("kafka.sasl.password_env", "missing: name the environment variable that holds the password")
		}
	}

	for i, m := range c.Models {
		key := fmt.Sprintf("models[%d]", i)
		if m == "" {
			bad(key, "empty path")
			continue
		}
		c.Models[i] = checkFile(key, m)
	}

	seenTopic := map[string]string{}
	seenName := map[string]bool{}
	for i := range c.Sources {
		s := &c.Sources[i]
		key := fmt.Sprintf("sources[%d]", i)
		if len(s.Topics) == 0 {
			bad(key+".topics", "no topics: list at least one")
		}
		for j, t := range s.Topics {
			tk := fmt.Sprintf("%s.topics[%d]", key, j)
			switch {
			case t == "":
				bad(tk, "empty topic name")
			case seenTopic[t] != "":
				bad(tk, "topic %q is already read by %s; a topic belongs to one source", t, seenTopic[t])
			default:
				seenTopic[t] = key
			}
		}
		if s.Name != "" {
			if seenName[s.Name] && !s.namedByDefault {
				bad(key+".name", "duplicate source name %q", s.Name)
			}
			seenName[s.Name] = true
		}
		if !slices.Contains([]string{"auto", "json", "cloudevents"}, s.Format) {
			bad(key+".format", "unknown format %q: use auto, json or cloudevents", s.Format)
		}
		for field, expr := range map[string]string{
			"message_name": s.MessageName, "correlation_key": s.CorrelationKey, "message_id": s.MessageID,
			"event_time": s.EventTime, "variables": s.Variables,
		} {
			if expr == "" {
				continue
			}
			if _, err := jsonpath.Compile(expr); err != nil {
				bad(key+"."+field, "%v", err)
			}
		}
		if s.Format == "json" && (s.MessageName == "" || s.CorrelationKey == "") {
			bad(key, "format json needs message_name and correlation_key (CloudEvents defaults do not apply)")
		}
		for msg, proc := range s.Start {
			if msg == "" || proc == "" {
				bad(key+".start", "each entry maps a message name to a process id; found %q: %q", msg, proc)
			}
		}
		if s.DeadLetter != "" && slices.Contains(s.Topics, s.DeadLetter) {
			bad(key+".dead_letter_topic", "%q is also a topic this source reads; that would loop", s.DeadLetter)
		}
	}

	if c.Decisions != "" {
		ext := strings.ToLower(filepath.Ext(c.Decisions))
		if ext != ".dmn" && ext != ".yaml" && ext != ".yml" {
			bad("decisions", "%q: expected a .dmn file or a .yaml decision table", c.Decisions)
		}
		c.Decisions = checkFile("decisions", c.Decisions)
	}

	names := make([]string, 0, len(c.Targets))
	for name := range c.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := c.Targets[name]
		key := "targets." + name
		switch {
		case t.KafkaTopic == "" && t.Webhook == "":
			bad(key, "set kafka_topic or webhook")
		case t.KafkaTopic != "" && t.Webhook != "":
			bad(key, "set only one of kafka_topic and webhook")
		case t.Webhook != "":
			if u, err := url.Parse(t.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(key+".webhook", "invalid URL %q: expected http(s)://host[:port]/path", t.Webhook)
			}
		}
		if name == "log" {
			bad(key, `"log" is reserved for the log sink; choose another name`)
		}
	}

	switch c.Engine.Backend {
	case "embedded":
	case "zeebe":
		if c.Engine.Zeebe == nil || c.Engine.Zeebe.Gateway == "" {
			bad("engine.zeebe.gateway", "backend zeebe needs the gateway address (host:port)")
		} else {
			checkAddr("engine.zeebe.gateway", c.Engine.Zeebe.Gateway)
		}
	default:
		bad("engine.backend", "unknown backend %q: use embedded or zeebe", c.Engine.Backend)
	}
	if c.Engine.CacheSize < 0 {
		bad("engine.cache_size", "must not be negative")
	}
	if c.Engine.GroupCommit != nil && *c.Engine.GroupCommit < 0 {
		bad("engine.group_commit", "must not be negative")
	}

	switch c.History.Backend {
	case "embedded":
	case "elasticsearch":
		es := c.History.Elasticsearch
		if es == nil || len(es.URLs) == 0 {
			bad("history.elasticsearch.urls", "backend elasticsearch needs at least one URL")
			break
		}
		for i, raw := range es.URLs {
			if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(fmt.Sprintf("history.elasticsearch.urls[%d]", i), "invalid URL %q: expected http(s)://host:port", raw)
			}
		}
	default:
		bad("history.backend", "unknown backend %q: use embedded or elasticsearch", c.History.Backend)
	}

	for i, s := range c.SLA.Sinks {
		if _, ok := c.Targets[s]; !ok && s != "log" {
			bad(fmt.Sprintf("sla.sinks[%d]", i), "unknown sink %q: use log or a name under targets", s)
		}
	}

	seenTok := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			bad(key+".name", "missing")
		} else if seenTok[t.Name] {
			bad(key+".name", "duplicate token name %q", t.Name)
		}
		seenTok[t.Name] = true
		if t.TokenEnv == "" {
			bad(key+".token_env", "missing: name the environment variable that holds the token")
		}
		if !slices.Contains(Roles, t.Role) {
			bad(key+".role", "unknown role %q: use viewer, operator or admin", t.Role)
		}
	}
}

// line finds the line of key or of its closest parent that the file has.
func (d *decoder) line(key string) int {
	for k := key; k != ""; {
		if l, ok := d.lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
