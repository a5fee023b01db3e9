package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/simulator"
)

// TestInstanceDetailShowsResolvedIncident: the delay notice of a 15-day-old
// order cannot be delivered (no Kafka brokers configured), which raises an
// ACTION_FAILED incident on the instance; after an operator resolves it, the
// instance detail shows it resolved.
func TestInstanceDetailShowsResolvedIncident(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := defaultDemoConfig(t)
	a, err := setup(ctx, cfg, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.shutdown(context.Background())
	if _, _, _, err := a.models.DeployAll(ctx, "order-fulfillment.bpmn", simulator.ModelXML); err != nil {
		t.Fatal(err)
	}
	placed := time.Now().Add(-15 * 24 * time.Hour)
	outs, err := a.engine.Apply(ctx, []engine.Message{{Name: "OrderPlaced", CorrelationKey: "A-15", ID: "p-15", EventTime: placed, ReadAt: time.Now()}})
	if err != nil || outs[0].Result != engine.Started {
		t.Fatalf("start: %+v %v", outs, err)
	}
	if _, err := a.engine.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.http.Addr() + "/api/v1"
	var id string
	for id == "" {
		var page struct {
			Items []struct{ ID string } `json:"items"`
		}
		if resp, err := http.Get(base + "/incidents?reason=ACTION_FAILED"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
		}
		if len(page.Items) > 0 {
			id = page.Items[0].ID
		}
		select {
		case <-ctx.Done():
			t.Fatal("no ACTION_FAILED incident")
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp, err := http.Post(base+"/incidents/"+id+"/resolve", "application/json", strings.NewReader(`{"comment":"sent by hand"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: %v %v", resp, err)
	}
	resp.Body.Close()
	for {
		var d struct {
			Incidents []struct{ ID, State string } `json:"incidents"`
		}
		if resp, err := http.Get(fmt.Sprintf("%s/instances/%d", base, outs[0].InstanceKey)); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
		}
		if len(d.Incidents) == 1 && d.Incidents[0].ID == id && d.Incidents[0].State == "resolved" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instance detail incidents: %+v", d.Incidents)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
