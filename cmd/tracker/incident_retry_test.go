package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/simulator"
)

// TestRetryUndecodableIncident runs the tracker against the embedded broker:
// a malformed record becomes a DECODE_ERROR incident, and retrying it decodes
// the stored record again with the source's mapping (it is still malformed,
// so the attempt is recorded and the incident stays open) instead of failing.
func TestRetryUndecodableIncident(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end pipeline test")
	}
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: simulator.Topics, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cfg := defaultDemoConfig(t)
	cfg.Kafka.Brokers = []string{b.Addr()}
	cfg.Kafka.SessionTimeout = config.Dur(6 * time.Second)
	demoSources(cfg)
	a, err := setup(ctx, cfg, appOptions{Demo: nil})
	if err != nil {
		t.Fatal(err)
	}
	defer a.shutdown(context.Background())

	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), BatchTimeout: 5 * time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Topic: "payments", Key: []byte("A-1"), Value: []byte(`{"id":"x-1","type":"PaymentReceived","orderId":"A-1"`)}); err != nil {
		t.Fatal(err)
	}
	w.Close()

	base := "http://" + a.http.Addr() + "/api/v1/incidents"
	var id string
	for id == "" {
		var page struct {
			Items []struct{ ID, Reason string } `json:"items"`
		}
		if resp, err := http.Get(base + "?reason=DECODE_ERROR"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
		}
		if len(page.Items) > 0 {
			id = page.Items[0].ID
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no DECODE_ERROR incident appeared")
		case <-time.After(200 * time.Millisecond):
		}
	}
	resp, err := http.Post(base+"/"+id+"/retry", "application/json", strings.NewReader(`{"comment":"after fixing the producer"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Outcome  string `json:"outcome"`
		Reason   string `json:"reason"`
		Incident struct {
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"incident"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: status %d, %v", resp.StatusCode, err)
	}
	if r.Outcome != "uncorrelated" || r.Reason != "DECODE_ERROR" || r.Incident.State != "open" || r.Incident.Attempts != 1 {
		t.Fatalf("retry result: %+v", r)
	}
}
