package correlate

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

var exampleStart = time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)

// TestExampleEvents produces the shared events.jsonl (once with kafka-go,
// once with kcat as an outside client) and checks the outcome of every event.
func TestExampleEvents(t *testing.T) {
	type want struct {
		result engine.Result
		reason engine.Reason
	}
	wants := []want{
		{engine.Started, ""},                               // e-1 OrderPlaced
		{engine.Correlated, ""},                            // e-2 PaymentReceived
		{engine.Correlated, ""},                            // e-3 GoodsFetched
		{engine.Correlated, ""},                            // e-4 GoodsShipped
		{engine.Correlated, ""},                            // e-5 OrderDelivered
		{engine.Buffered, engine.ReasonNoInstance},         // e-6 PaymentReceived for A-9999
		{engine.Uncorrelated, engine.ReasonUnknownMessage}, // e-7 Heartbeat
		{engine.Duplicate, ""},                             // e-2 again
	}
	lines := readLines(t, filepath.Join("testdata", "events.jsonl"))
	if len(lines) != len(wants) {
		t.Fatalf("events.jsonl has %d events, the test expects %d", len(lines), len(wants))
	}
	producers := []struct {
		name    string
		produce func(t *testing.T, addr string)
	}{
		{"kafka-go", func(t *testing.T, addr string) {
			var msgs []kafka.Message
			for _, l := range lines {
				msgs = append(msgs, kafka.Message{Topic: "orders", Value: l})
			}
			produce(t, addr, msgs...)
		}},
		{"kcat", func(t *testing.T, addr string) {
			kcat, err := exec.LookPath("kcat")
			if err != nil {
				t.Skip("kcat not installed (apt-get install kcat); the kafka-go subtest covers the same events")
			}
			out, err := exec.Command(kcat, "-P", "-b", addr, "-t", "orders", "-p", "0", "-l", filepath.Join("testdata", "events.jsonl")).CombinedOutput()
			if err != nil {
				t.Fatalf("kcat: %v\n%s", err, out)
			}
		}},
	}
	for _, p := range producers {
		t.Run(p.name, func(t *testing.T) {
			_, addr := newCluster(t)
			p.produce(t, addr)
			clk := newClock(exampleStart)
			eng := openEngine(t, t.TempDir(), clk, nil)
			defer eng.Close()
			rec := newRecorder()
			r := start(t, Options{Engine: eng, Kafka: kafkaCfg(addr, "g"), Sources: []config.Source{exampleConfigSource("orders")},
				Clock: clk.Now, TickInterval: 20 * time.Millisecond, OnApplied: rec.onApplied, OnTick: rec.onTick, KnownMessage: loadProcs(t).known})
			waitFor(t, "all example events applied", func() bool { return rec.count() == len(wants) })
			for i, w := range wants {
				got, m := rec.outcome("orders", 0, int64(i))
				if got.Result != w.result || got.Reason != w.reason {
					t.Errorf("event %d (%s %s): got %s %s, want %s %s", i+1, m.ID, m.Name, got.Result, got.Reason, w.result, w.reason)
				}
			}
			if !r.c.Ready() {
				t.Error("Ready() = false with the partition assigned")
			}
			waitFor(t, "lag 0", func() bool { return r.c.Lag()[engine.TopicPartition{Topic: "orders"}] == 0 })
			// Caught up: the watermark is the consumer's clock.
			waitFor(t, "watermark = now", func() bool { return r.c.Watermark().Equal(clk.Now()) })

			// The A-9999 payment expires once its TTL (PT1H from when it was read) has passed.
			clk.Add(2 * time.Hour)
			waitFor(t, "BUFFER_EXPIRED", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				for _, o := range rec.ticks {
					if o.Result == engine.Uncorrelated && o.Reason == engine.ReasonBufferExpired {
						return true
					}
				}
				return false
			})
			if got := eng.Positions()[engine.TopicPartition{Topic: "orders"}]; got != int64(len(wants)) {
				t.Errorf("engine position = %d, want %d", got, len(wants))
			}
		})
	}
}
