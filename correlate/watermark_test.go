package correlate

import (
	"context"
	"fmt"
	"strings"
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
			tp(0): {applied: 10, end: 10, eventTime: t1}, tp(1): {applied: 0, end: 0}}, now},
		{"lagging partitions: the least event time", true, map[engine.TopicPartition]*partState{
			tp(0): {applied: 5, end: 10, eventTime: t2}, tp(1): {applied: 3, end: 9, eventTime: t1}, tp(2): {applied: 4, end: 4}}, t1},
		{"lagging partition with nothing applied: unknown", true, map[engine.TopicPartition]*partState{
			tp(0): {applied: 5, end: 10, eventTime: t2}, tp(1): {applied: 0, end: 9}}, time.Time{}},
		{"end unknown counts as lagging", true, map[engine.TopicPartition]*partState{
			tp(0): {applied: 5, end: -1, eventTime: t2}}, t2},
		{"event time ahead of the clock: now", true, map[engine.TopicPartition]*partState{
			tp(0): {applied: 5, end: 10, eventTime: now.Add(time.Hour)}}, now},
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

func TestMergeByEventTime(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 11, 1, 9, min, 0, 0, time.UTC) }
	msg := func(topic string, p int, off int64, min int) engine.Message {
		return engine.Message{Position: engine.Position{Topic: topic, Partition: p, Offset: off}, EventTime: at(min), ID: fmt.Sprintf("%s/%d/%d", topic, p, off)}
	}
	req := &httpReq{}
	batch := []engine.Message{
		msg("payments", 0, 10, 5), msg("payments", 0, 11, 2), // out of order inside the partition: kept
		msg("orders", 0, 3, 1), msg("orders", 0, 4, 6),
		{ID: "http-1", EventTime: at(3)}, {ID: "http-2", EventTime: at(0)},
		msg("orders", 1, 7, 4),
	}
	metas := make([]meta, len(batch))
	metas[4], metas[5] = meta{req: req, idx: 0}, meta{req: req, idx: 1}
	gotB, gotM := mergeByEventTime(batch, metas)
	var ids []string
	for i, m := range gotB {
		ids = append(ids, m.ID)
		if (gotM[i].req != nil) != strings.HasPrefix(m.ID, "http") {
			t.Fatalf("meta %d does not follow its message", i)
		}
	}
	want := "orders/0/3 http-1 http-2 orders/1/7 payments/0/10 payments/0/11 orders/0/4"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
}
