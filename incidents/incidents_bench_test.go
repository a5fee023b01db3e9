package incidents

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// synthFeed generates an endless change feed: for every message an incident
// entry followed by its message entry, as the engine writes them.
type synthFeed struct{ notify chan struct{} }

func (f *synthFeed) FeedNotify() <-chan struct{} { return f.notify }

func (f *synthFeed) Feed(from uint64, max int) ([]engine.Change, error) {
	out := make([]engine.Change, 0, max)
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for seq := from; len(out) < max; seq++ {
		n := (seq - 1) / 2
		id := fmt.Sprintf("orders/0/%d", n)
		c := engine.Change{Seq: seq, Time: at, WallTime: at.Add(time.Duration(n) * time.Millisecond)}
		if seq%2 == 1 {
			c.Kind = engine.ChangeIncident
			c.Payload, _ = json.Marshal(map[string]any{
				"incidentId": fmt.Sprintf("inc-%d", n), "reason": "UNKNOWN_MESSAGE", "messageId": id,
				"messageName": fmt.Sprintf("Msg%d", n%10), "correlationKey": fmt.Sprintf("A-%d", n), "source": "orders",
				"severity": "medium", "ruleId": "Rule_Default", "eventTime": at,
				"raw": fmt.Sprintf(`{"type":"Msg%d","orderId":"A-%d","data":{"amount":%d}}`, n%10, n, n),
			})
		} else {
			c.Kind = engine.ChangeMessage
			c.Payload = fmt.Appendf(nil, `{"messageId":%q,"name":"Msg%d","correlationKey":"A-%d","outcome":"uncorrelated","reason":"UNKNOWN_MESSAGE","eventTime":"2026-11-03T10:00:00Z","topic":"orders","partition":0,"offset":%d,"variables":{"amount":%d}}`, id, n%10, n, n, n)
		}
		out = append(out, c)
	}
	return out, nil
}

// BenchmarkProject measures projecting incidents from the feed: each
// iteration is one Step of 1,000 changes (500 incidents and their messages).
func BenchmarkProject(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Feed: &synthFeed{}, NoSync: true, BatchSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	incidents := 0
	for b.Loop() {
		n, err := s.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		incidents += n / 2
	}
	b.ReportMetric(float64(incidents)/time.Since(start).Seconds(), "incidents/s")
}

// BenchmarkList measures one filtered page of 50 out of 20,000 incidents.
func BenchmarkList(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Feed: &synthFeed{}, NoSync: true, BatchSize: 2000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for range 20 {
		if _, err := s.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	f := Filter{State: StateOpen, MessageName: "Msg3", Limit: 50}
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.List(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Items) != 50 {
			b.Fatalf("%d items", len(p.Items))
		}
	}
}
