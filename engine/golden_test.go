package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestFeedGolden pins the change feed of the shared example (happy path, an
// early event, a skipped step and the 14/21-day timers) that history and
// actions consume. Run with -update to rewrite testdata/*.feed.golden.
func TestFeedGolden(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	hr := time.Hour
	h.apply(msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", hr), msg("GoodsFetched", "A", "e3", 6*hr),
		msg("GoodsShipped", "A", "e4", 23*hr), msg("OrderDelivered", "A", "e5", 52*hr))
	h.apply(msg("PaymentReceived", "B", "b2", hr), msg("OrderPlaced", "B", "b1", 0), msg("GoodsShipped", "B", "b4", 23*hr))
	h.clock.now = t0.Add(24 * hr)
	h.tick(t0.Add(24 * hr))
	h.clock.now = t0.Add(22 * day24)
	h.tick(t0.Add(22 * day24))

	feed, err := h.e.Feed(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, c := range feed {
		var p any
		if err := json.Unmarshal(c.Payload, &p); err != nil {
			t.Fatalf("feed entry %d: payload is not JSON: %v: %s", c.Seq, err, c.Payload)
		}
		if c.Kind == ChangeMessage {
			// the hand-written JSON has exactly the documented fields
			dec := json.NewDecoder(bytes.NewReader(c.Payload))
			dec.DisallowUnknownFields()
			var mp messagePayload
			if err := dec.Decode(&mp); err != nil || mp.MessageID == "" || mp.Outcome == "" {
				t.Errorf("feed entry %d: message payload %s: %v", c.Seq, c.Payload, err)
			}
		}
		fmt.Fprintf(&b, "%d %s %s inst=%d %s@%d %s %s\n", c.Seq, c.Kind, c.Time.Format(time.RFC3339), c.InstanceKey, c.ProcessID, c.Version, c.ElementID, c.Payload)
	}
	file := filepath.Join("testdata", "order-fulfillment.feed.golden")
	if *update {
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("feed differs from %s (run with -update to accept):\n%s", file, b.String())
	}
}

// TestFeedVariablesChanged: a variables entry carries what changed (new keys
// and new values); an event that repeats its instance's variables adds none.
func TestFeedVariablesChanged(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	h.apply(withVars(msg("OrderPlaced", "A", "e1", 0), `{"amount":10,"items":2}`),
		withVars(msg("PaymentReceived", "A", "e2", time.Hour), `{"amount":10,"items":3,"paid":true}`),
		withVars(msg("GoodsFetched", "A", "e3", 2*time.Hour), `{"amount":10,"items":3}`))
	feed, err := h.e.Feed(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range feed {
		if c.Kind == ChangeVariables {
			got = append(got, string(c.Payload))
		}
	}
	want := []string{`{"amount":10,"items":2}`, `{"items":3,"paid":true}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("variables entries %q, want %q", got, want)
	}
	in, _, err := h.e.Instance(feed[0].InstanceKey)
	if err != nil {
		t.Fatal(err)
	}
	if v := string(in.Variables); v != `{"amount":10,"items":3,"paid":true}` {
		t.Errorf("instance variables %s", v)
	}
}
