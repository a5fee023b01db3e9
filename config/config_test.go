package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSharedExample(t *testing.T) {
	cfg, err := Load("../../shared/examples/tracker.yaml", nil)
	if err != nil {
		t.Fatalf("shared example must be valid:\n%v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Kafka.Brokers[0] != "127.0.0.1:9092" || cfg.Kafka.GroupID != "tracker" {
		t.Fatalf("unexpected values: %+v", cfg)
	}
	s := cfg.Sources[0]
	if s.Name != "orders" || len(s.Topics) != 4 || s.BufferTTL.Duration != time.Hour || s.MaxEventBytes != 1<<20 {
		t.Fatalf("source defaults wrong: %+v", s)
	}
	if !strings.HasSuffix(cfg.Models[0], filepath.Join("examples", "order-fulfillment.bpmn")) {
		t.Fatalf("model path not resolved against the config dir: %s", cfg.Models[0])
	}
	if cfg.Targets["commands"].KafkaTopic != "commands" || cfg.Targets["commands"].Timeout.Duration != 10*time.Second {
		t.Fatalf("targets: %+v", cfg.Targets)
	}
	if cfg.Engine.DedupeRetention.Duration != 7*24*time.Hour {
		t.Fatalf("dedupe retention default: %v", cfg.Engine.DedupeRetention)
	}
}

func TestParseProblems(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bpmn")
	if err := os.WriteFile(model, []byte("<x/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	const base = "kafka: {brokers: [127.0.0.1:9092]}\n"
	tests := []struct {
		name, yaml string
		env        []string
		want       []string
	}{
		{"valid minimal", base, nil, nil},
		{"valid full", base + "models: [m.bpmn]\nsources:\n  - topics: [a]\n    buffer_ttl: PT0S\n    start: {OrderPlaced: order}\n    dead_letter_topic: a-dlq\n" +
			"targets: {cmd: {kafka_topic: c}, hook: {webhook: 'http://127.0.0.1:9/x'}}\nsla: {sinks: [hook, log]}\n" +
			"auth: {tokens: [{name: ops, token_env: OPS, role: operator}]}\nhistory: {backend: elasticsearch, elasticsearch: {urls: ['http://127.0.0.1:9200']}}\n", nil, nil},
		{"unknown top-level key", base + "listne: 1\n", nil,
			[]string{`c.yaml:2: listne: unknown key "listne" (allowed: auth, data_dir, decisions, engine, history, http, kafka, limits, listen, models, sla, sources, targets)`}},
		{"unknown nested key", "kafka:\n  brokers: [127.0.0.1:9092]\n  group: x\n", nil,
			[]string{`c.yaml:3: kafka.group: unknown key "group" (allowed: batch_size, brokers, client_id, group_id, linger, sasl, session_timeout, tls)`}},
		{"empty brokers", "kafka: {brokers: []}\n", nil, []string{`c.yaml:1: kafka.brokers: no brokers: list at least one host:port`}},
		{"no kafka at all", "listen: 127.0.0.1:1\n", nil, []string{`c.yaml: kafka.brokers: no brokers: list at least one host:port`}},
		{"bad broker address", "kafka: {brokers: [localhost]}\n", nil, []string{`c.yaml:1: kafka.brokers[0]: invalid address "localhost": expected host:port like 127.0.0.1:8080`}},
		{"bad duration", base + "sources:\n  - topics: [a]\n    buffer_ttl: 1 hour\n", nil,
			[]string{`c.yaml:4: sources[0].buffer_ttl: invalid duration "1 hour": expected ISO 8601 like PT1H or P7D, or Go syntax like 500ms`}},
		{"unknown backends", base + "engine: {backend: camunda7}\nhistory: {backend: solr}\n", nil, []string{
			`c.yaml:2: engine.backend: unknown backend "camunda7": use embedded or zeebe`,
			`c.yaml:3: history.backend: unknown backend "solr": use embedded or elasticsearch`}},
		{"missing model file", base + "models: [nope.bpmn]\n", nil, []string{`c.yaml:2: models[0]: file nope.bpmn not found`}},
		{"bad jsonpath and format", base + "sources:\n  - topics: [a]\n    format: avro\n    correlation_key: orderId\n", nil, []string{
			`c.yaml:4: sources[0].format: unknown format "avro": use auto, json or cloudevents`,
			`c.yaml:5: sources[0].correlation_key: jsonpath "orderId": must start with $ (e.g. $.orderId, $key, $headers.name)`}},
		{"topic in two sources", base + "sources:\n  - topics: [a]\n  - topics: [a]\n", nil,
			[]string{`c.yaml:4: sources[1].topics[0]: topic "a" is already read by sources[0]; a topic belongs to one source`}},
		{"wrong shape", base + "models: m.bpmn\n", nil, []string{`c.yaml:2: models: expected a list, found a value "m.bpmn"`}},
		{"target needs one kind", base + "targets: {x: {}, y: {kafka_topic: t, webhook: 'http://a/'}, z: {webhook: 'ftp://a'}}\n", nil, []string{
			`c.yaml:2: targets.x: set kafka_topic or webhook`,
			`c.yaml:2: targets.y: set only one of kafka_topic and webhook`,
			`c.yaml:2: targets.z.webhook: invalid URL "ftp://a": expected http(s)://host[:port]/path`}},
		{"bad token role and sink", base + "sla: {sinks: [pager]}\nauth: {tokens: [{name: a, token_env: A, role: root}]}\n", nil, []string{
			`c.yaml:2: sla.sinks[0]: unknown sink "pager": use log or a name under targets`,
			`c.yaml:3: auth.tokens[0].role: unknown role "root": use viewer, operator or admin`}},
		{"all problems at once", "listen: nope\nkafka: {brokers: []}\nengine: {backend: x}\n", nil, []string{
			`c.yaml:1: listen: invalid address "nope": expected host:port like 127.0.0.1:8080`,
			`c.yaml:2: kafka.brokers: no brokers: list at least one host:port`,
			`c.yaml:3: engine.backend: unknown backend "x": use embedded or zeebe`}},
		{"env override fixes brokers", "listen: 127.0.0.1:1\n", []string{"TRACKER_KAFKA_BROKERS=127.0.0.1:1,127.0.0.1:2", "TRACKER_OPS_TOKEN=secret"}, nil},
		{"bad env value names the variable", base, []string{"TRACKER_KAFKA_BATCH_SIZE=lots"},
			[]string{`environment TRACKER_KAFKA_BATCH_SIZE: kafka.batch_size: expected a whole number, found "lots"`}},
		{"invalid yaml", "kafka: [\n", nil, []string{`c.yaml: not valid YAML: yaml: line 1: did not find expected node content`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(tt.yaml), tt.env)
			var got []string
			if err != nil {
				for _, p := range err.(Problems) {
					got = append(got, strings.ReplaceAll(p.String(), dir+string(filepath.Separator), ""))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte("kafka: {brokers: [127.0.0.1:9092]}\n"),
		[]string{"TRACKER_LISTEN=0.0.0.0:9000", "TRACKER_HISTORY_ELASTICSEARCH_URLS=http://127.0.0.1:9200", "TRACKER_HISTORY_BACKEND=elasticsearch", "TRACKER_KAFKA_LINGER=20ms"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9000" || cfg.History.Elasticsearch.URLs[0] != "http://127.0.0.1:9200" || cfg.Kafka.Linger.Duration != 20*time.Millisecond {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	vars := EnvOverrides()
	for env, key := range map[string]string{"TRACKER_DATA_DIR": "data_dir", "TRACKER_KAFKA_BROKERS": "kafka.brokers", "TRACKER_ENGINE_ZEEBE_GATEWAY": "engine.zeebe.gateway"} {
		if vars[env] != key {
			t.Errorf("EnvOverrides()[%s] = %q, want %q", env, vars[env], key)
		}
	}
	if _, ok := vars["TRACKER_SOURCES"]; ok {
		t.Error("sources must not be settable from the environment")
	}
}
