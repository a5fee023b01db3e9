package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/broker"
)

func TestGeneratorDeterministic(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	a := NewGenerator(Options{Seed: 7, Start: start})
	b := NewGenerator(Options{Seed: 7, Start: start})
	c := NewGenerator(Options{Seed: 8, Start: start})
	same := true
	for range 2000 {
		ra, rb, rc := a.Next(), b.Next(), c.Next()
		if ra.Topic != rb.Topic || !bytes.Equal(ra.Value, rb.Value) || ra.At != rb.At {
			t.Fatalf("same seed diverged: %s vs %s", ra.Value, rb.Value)
		}
		same = same && bytes.Equal(ra.Value, rc.Value)
	}
	if same {
		t.Fatal("different seeds produced the same stream")
	}
}

func TestGeneratorSendOrderAndEnvelope(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	g := NewGenerator(Options{Seed: 1, Start: start, Rate: 1000})
	var prev time.Duration
	for range 5000 {
		r := g.Next()
		if r.At < prev {
			t.Fatalf("records out of send order: %v after %v", r.At, prev)
		}
		prev = r.At
		if r.Kind == Malformed {
			if json.Valid(r.Value) {
				t.Fatalf("malformed record is valid JSON: %s", r.Value)
			}
			continue
		}
		var e envelope
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("record %s: %v", r.Value, err)
		}
		if e.ID == "" || e.Type == "" || e.Time == "" {
			t.Fatalf("envelope misses id/type/time: %s", r.Value)
		}
		if e.Type == "Heartbeat" {
			if e.Service == "" || e.OrderID != "" {
				t.Fatalf("heartbeat envelope: %s", r.Value)
			}
		} else if e.OrderID == "" || string(r.Key) != e.OrderID {
			t.Fatalf("order event must carry orderId and use it as key: key %q %s", r.Key, r.Value)
		}
		et, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || et.After(start.Add(r.At).Add(time.Millisecond)) {
			t.Fatalf("event time %s lies after its send time %s", e.Time, start.Add(r.At))
		}
	}
}

// TestProduceAndReadBack runs the embedded broker and the producer in-process,
// reads every topic back over TCP with a kafka-go consumer group (and with kcat
// when installed), and checks counts, envelope shape and anomaly shares.
func TestProduceAndReadBack(t *testing.T) {
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: Topics, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const n = 20000
	shares := Shares{Stall: 0.1, Missing: 0.05, OutOfOrder: 0.1, Backdated: 0.2, Duplicate: 0.05, Unknown: 0.03, Malformed: 0.02, Noise: 0.04}
	p, err := NewProducer(ProducerOptions{Brokers: []string{b.Addr()}, Gen: Options{Seed: 42, Shares: &shares}, Limit: n, Unpaced: true, Progress: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Records != n {
		t.Fatalf("generated %d records, want %d", st.Records, n)
	}

	got := readAll(ctx, t, b.Addr(), n)
	counts := classify(t, got)
	for _, k := range []Kind{Malformed, Noise, Unknown, Duplicate} {
		if counts[k] != st.ByKind[k] {
			t.Errorf("%s: read %d, generator says %d", k, counts[k], st.ByKind[k])
		}
	}
	regular := float64(st.ByKind[Regular])
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 0.3*want+0.005 {
			t.Errorf("%s share = %.4f, configured %.4f", name, got, want)
		}
	}
	near("malformed", float64(st.ByKind[Malformed])/regular, shares.Malformed)
	near("noise", float64(st.ByKind[Noise])/regular, shares.Noise)
	near("unknown", float64(st.ByKind[Unknown])/regular, shares.Unknown)
	near("duplicate", float64(st.ByKind[Duplicate])/regular, shares.Duplicate)
	near("stalled", float64(st.Stalled)/float64(st.Orders), shares.Stall)
	near("backdated", float64(st.Backdated)/float64(st.Orders), shares.Backdated)
	near("out of order", float64(st.Swapped)/float64(st.Orders), shares.OutOfOrder*0.9)
	if st.Missing == 0 {
		t.Error("no order with a missing step")
	}
	if counts["backdated>14d"] == 0 {
		t.Error("no OrderPlaced back-dated more than 14 days")
	}
	for _, topic := range Topics {
		if counts[Kind("topic:"+topic)] != st.ByTopic[topic] {
			t.Errorf("topic %s: read %d, generator says %d", topic, counts[Kind("topic:"+topic)], st.ByTopic[topic])
		}
	}

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not installed (apt-get install kcat)")
		}
		total := 0
		for _, topic := range Topics {
			out, err := exec.CommandContext(ctx, kcat, "-C", "-b", b.Addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
			if err != nil {
				t.Fatalf("kcat %s: %v", topic, err)
			}
			lines := strings.Count(string(out), "\n")
			if lines != st.ByTopic[topic] {
				t.Errorf("kcat read %d records from %s, want %d", lines, topic, st.ByTopic[topic])
			}
			total += lines
		}
		if total != n {
			t.Errorf("kcat read %d records in all, want %d", total, n)
		}
	})
}

type readRecord struct {
	topic string
	value []byte
}

func readAll(ctx context.Context, t *testing.T, addr string, n int) []readRecord {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: "simulator-test", GroupTopics: Topics,
		StartOffset: kafka.FirstOffset, SessionTimeout: 6 * time.Second, MaxWait: 100 * time.Millisecond,
		MinBytes: 1, MaxBytes: 10 << 20,
	})
	defer r.Close()
	out := make([]readRecord, 0, n)
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read back after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, readRecord{m.Topic, m.Value})
	}
	return out
}

func classify(t *testing.T, recs []readRecord) map[Kind]int {
	t.Helper()
	counts := map[Kind]int{}
	seen := map[string]bool{}
	now := time.Now()
	for _, r := range recs {
		counts[Kind("topic:"+r.topic)]++
		var e envelope
		if err := json.Unmarshal(r.value, &e); err != nil {
			counts[Malformed]++
			continue
		}
		switch {
		case seen[e.ID]:
			counts[Duplicate]++
		case e.Type == "Heartbeat":
			counts[Noise]++
		case strings.HasPrefix(e.OrderID, "X-"):
			counts[Unknown]++
		}
		seen[e.ID] = true
		if e.Type == "OrderPlaced" {
			if et, _ := time.Parse(time.RFC3339Nano, e.Time); now.Sub(et) > 14*24*time.Hour {
				counts["backdated>14d"]++
			}
		}
	}
	return counts
}

// TestProducerResumes checks that a restarted producer continues the seeded
// stream where the last run stopped instead of replaying it.
func TestProducerResumes(t *testing.T) {
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: Topics, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	state := t.TempDir() + "/simulator.json"
	for range 2 {
		p, err := NewProducer(ProducerOptions{Brokers: []string{b.Addr()}, Gen: Options{Seed: 9}, Limit: 300, Unpaced: true, Progress: -1, StateFile: state})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for _, r := range readAll(ctx, t, b.Addr(), 600) {
		var e envelope
		if json.Unmarshal(r.value, &e) == nil {
			got[e.ID]++
		}
	}
	want := map[string]int{}
	g := NewGenerator(Options{Seed: 9})
	for range 600 {
		var e envelope
		if r := g.Next(); json.Unmarshal(r.Value, &e) == nil {
			want[e.ID]++
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d distinct ids, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("id %s read %d times, want %d", id, got[id], n)
		}
	}
}

func TestParseShares(t *testing.T) {
	s, err := ParseShares("stall=0.2, noise=0")
	if err != nil || s.Stall != 0.2 || s.Noise != 0 || s.Malformed != DefaultShares.Malformed {
		t.Fatalf("ParseShares = %+v, %v", s, err)
	}
	if back, err := ParseShares(s.String()); err != nil || back != s {
		t.Fatalf("round trip %q: %+v %v", s.String(), back, err)
	}
	for in, want := range map[string]string{
		"stal=1":     `anomaly "stal=1": expected name=fraction with name one of backdated, duplicate, malformed, missing, noise, out-of-order, stall, unknown`,
		"stall=2":    `anomaly stall=2: expected a fraction between 0 and 1`,
		"noise=lots": `anomaly noise=lots: expected a fraction between 0 and 1`,
		"malformed":  `anomaly "malformed": expected name=fraction with name one of backdated, duplicate, malformed, missing, noise, out-of-order, stall, unknown`,
	} {
		if _, err := ParseShares(in); err == nil || err.Error() != want {
			t.Errorf("ParseShares(%q) = %v, want %s", in, err, want)
		}
	}
}
