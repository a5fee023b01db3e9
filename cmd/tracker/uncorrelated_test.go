package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/simulator"
)

// TestUncorrelatedEndToEnd runs the tracker in-process against the embedded
// broker with the shared decision table and no model deployed yet:
// a Heartbeat is ignored; a malformed record goes to the dead-letter topic
// (read back with kcat when installed) and opens an incident; an OrderPlaced
// that no model uses opens an incident, and after the model is deployed over
// the API, retrying that incident starts the instance and resolves it.
func TestUncorrelatedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end pipeline test")
	}
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: append(append([]string{}, simulator.Topics...), "dead-letters"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cfg := defaultDemoConfig(t)
	cfg.Kafka.Brokers = []string{b.Addr()}
	cfg.Kafka.SessionTimeout = config.Dur(6 * time.Second)
	cfg.Decisions = "../../../shared/examples/uncorrelated.dmn"
	demoSources(cfg)
	a, err := setup(ctx, cfg, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.shutdown(context.Background())
	api := "http://" + a.http.Addr() + "/api/v1"

	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), BatchTimeout: 5 * time.Millisecond}
	malformed := `{"id":"m-1","type":"PaymentReceived","orderId":"A-5`
	if err := w.WriteMessages(ctx,
		kafka.Message{Topic: "payments", Key: []byte("payment"), Value: []byte(`{"id":"h-1","type":"Heartbeat","service":"payment","time":"2026-11-03T10:00:05Z"}`)},
		kafka.Message{Topic: "payments", Key: []byte("A-5"), Value: []byte(malformed), Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc")}}},
		kafka.Message{Topic: "orders", Key: []byte("A-6"), Value: []byte(`{"id":"o-6","type":"OrderPlaced","orderId":"A-6","time":"2026-11-20T09:00:00Z","data":{"total":12.5}}`)},
	); err != nil {
		t.Fatal(err)
	}
	w.Close()

	type incident struct {
		ID, Reason, Decision, RuleID, State string
	}
	var decodeInc, orderInc incident
	waitUntil(ctx, t, "two incidents", func() bool {
		var page struct{ Items []incident }
		getJSONInto(t, api+"/incidents", &page)
		for _, i := range page.Items {
			switch i.Reason {
			case "DECODE_ERROR":
				decodeInc = i
			case "UNKNOWN_MESSAGE":
				orderInc = i
			}
		}
		return decodeInc.ID != "" && orderInc.ID != ""
	})
	if decodeInc.Decision != "dead-letter" || decodeInc.RuleID != "Rule_Decode" || orderInc.RuleID != "Rule_Default" {
		t.Fatalf("incidents: %+v %+v", decodeInc, orderInc)
	}
	var hb struct {
		Items []struct{ Outcome, Decision, RuleID string }
	}
	waitUntil(ctx, t, "the heartbeat in history", func() bool {
		getJSONInto(t, api+"/events?messageName=Heartbeat", &hb)
		return len(hb.Items) == 1
	})
	if hb.Items[0].Outcome != "uncorrelated" || hb.Items[0].Decision != "ignore" || hb.Items[0].RuleID != "Rule_Noise" {
		t.Fatalf("heartbeat: %+v", hb.Items[0])
	}

	t.Run("dead letter read with kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not installed (apt-get install kcat)")
		}
		var out []byte
		waitUntil(ctx, t, "the dead letter", func() bool {
			out, _ = exec.CommandContext(ctx, kcat, "-C", "-b", b.Addr(), "-t", "dead-letters", "-o", "beginning", "-e", "-q",
				"-f", "%k|%s|%h\n").Output()
			return len(out) > 0
		})
		line := strings.TrimSpace(string(out))
		if !strings.HasPrefix(line, "A-5|"+malformed+"|") || !strings.Contains(line, "traceparent=00-abc") || !strings.Contains(line, "tracker-error-reason=DECODE_ERROR") {
			t.Fatalf("dead letter %q", line)
		}
	})

	// Deploy the model, retry the OrderPlaced incident: the order starts and the incident is resolved.
	resp, err := http.Post(api+"/models", "application/xml", bytes.NewReader(simulator.ModelXML))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploy: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post(api+"/incidents/"+orderInc.ID+"/retry", "application/json", strings.NewReader(`{"comment":"model deployed"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Outcome     string
		InstanceKey int64
		Incident    incident
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || r.Outcome != "started" || r.Incident.State != "resolved" || r.InstanceKey == 0 {
		t.Fatalf("retry: %d %+v %v", resp.StatusCode, r, err)
	}
	var inst struct{ CorrelationKey, State string }
	getJSONInto(t, fmt.Sprintf("%s/instances/%d", api, r.InstanceKey), &inst)
	if inst.CorrelationKey != "A-6" || inst.State != "active" {
		t.Fatalf("instance %+v", inst)
	}
}

func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getJSONInto(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
