package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

func TestComputeWatermark(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	t1 := now.Add(-48 * time.Hour)
	t2 := now.Add(-24 * time.Hour)
	tp := func(p int) engine.TopicPartition { return engine.TopicPartition{Topic: "orders", Partition: p} }
	tests := []struct {
		name   string
		topics bool
		parts  map[engine.TopicPartition]*partState
		want   time.Time
	}{
		{"no topics: now", false, nil, now},
		{"topics but no partitions yet: unknown", true, nil, time.Time{}},
		{"all caught up: now", true, map[engine.TopicPartition]*partState{
			tp(0): {next: 10, end: 10, eventTime: t1}, tp(1): {next: 0, end: 0}}, now},
		{"lagging partitions: the least event time", true, map[engine.TopicPartition]*partState{
			tp(0): {next: 5, end: 10, eventTime: t2}, tp(1): {next: 3, end: 9, eventTime: t1}, tp(2): {next: 4, end: 4}}, t1},
		{"lagging partition with nothing applied: unknown", true, map[engine.TopicPartition]*partState{
			tp(0): {next: 5, end: 10, eventTime: t2}, tp(1): {next: 0, end: 9}}, time.Time{}},
		{"end unknown counts as lagging", true, map[engine.TopicPartition]*partState{
			tp(0): {next: 5, end: -1, eventTime: t2}}, t2},
		{"event time ahead of the clock: now", true, map[engine.TopicPartition]*partState{
			tp(0): {next: 5, end: 10, eventTime: now.Add(time.Hour)}}, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Engine: &nopEngine{}}
			if tt.topics {
				opts.Kafka = config.Kafka{Brokers: []string{"127.0.0.1:1"}}
				opts.Sources = []config.Source{exampleConfigSource("orders")}
			}
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.parts != nil {
				c.parts = tt.parts
			}
			if got := c.computeWatermark(now); !got.Equal(tt.want) {
				t.Fatalf("watermark = %v, want %v", got, tt.want)
			}
			if got := c.Watermark(); !got.Equal(tt.want) {
				t.Fatalf("Watermark() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no engine", Options{}, "correlate: Options.Engine is required"},
		{"no brokers", Options{Engine: &nopEngine{}, Sources: []config.Source{exampleConfigSource("a")}},
			"correlate: kafka.brokers: at least one broker is needed"},
		{"topic in two sources", Options{Engine: &nopEngine{}, Kafka: config.Kafka{Brokers: []string{"b:9092"}},
			Sources: []config.Source{exampleConfigSource("a"), {Name: "other", Topics: []string{"a"}}}},
			`correlate: sources[1] "other": topic "a" is already read by source "orders"`},
		{"source without topics", Options{Engine: &nopEngine{}, Sources: []config.Source{{Name: "x"}}},
			`correlate: sources[0] "x": no topics`},
		{"bad sasl", Options{Engine: &nopEngine{}, Kafka: config.Kafka{Brokers: []string{"b:9092"}, SASL: &config.SASL{Mechanism: "kerberos"}},
			Sources: []config.Source{exampleConfigSource("a")}},
			`correlate: kafka.sasl.mechanism "kerberos": use plain, scram-sha-256 or scram-sha-512`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}

// nopEngine satisfies Engine for tests that never apply anything.
type nopEngine struct{}

func (nopEngine) Apply(_ context.Context, b []engine.Message) ([]engine.Outcome, error) {
	return make([]engine.Outcome, len(b)), nil
}
func (nopEngine) Positions() map[engine.TopicPartition]int64 { return nil }
func (nopEngine) Tick(context.Context, time.Time) (engine.TickResult, error) {
	return engine.TickResult{}, nil
}
