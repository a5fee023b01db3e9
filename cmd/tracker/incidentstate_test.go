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

// historyIncidents is what the history read model says about the incidents
// of one instance, through the HTTP API: the instance's open-incident count
// in the instance list, the incidents of the instance detail, and the
// process statistics' open incidents summed over its elements.
type historyIncidents struct {
	ListCount  int
	Detail     string // "id=state,..."
	StatsCount int64
}

func readHistoryIncidents(t *testing.T, base, ck string, key int64) historyIncidents {
	t.Helper()
	get := func(path string, v any) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var out historyIncidents
	var list struct {
		Items []struct {
			Key       int64 `json:"key"`
			Incidents int   `json:"incidents"`
		} `json:"items"`
	}
	get("/instances?correlationKey="+ck, &list)
	for _, in := range list.Items {
		if in.Key == key {
			out.ListCount = in.Incidents
		}
	}
	var d struct {
		Incidents []struct{ ID, State string } `json:"incidents"`
	}
	get(fmt.Sprintf("/instances/%d", key), &d)
	var parts []string
	for _, inc := range d.Incidents {
		parts = append(parts, inc.ID+"="+inc.State)
	}
	out.Detail = strings.Join(parts, ",")
	var st struct {
		Elements []struct {
			Incidents int64 `json:"incidents"`
		} `json:"elements"`
	}
	get("/models/order-fulfillment/statistics", &st)
	for _, e := range st.Elements {
		out.StatsCount += e.Incidents
	}
	return out
}

// TestHistoryFollowsResolvedIncident: the delay notice of a 15-day-old order
// cannot be delivered (no Kafka brokers configured), which raises an
// ACTION_FAILED incident on the instance. History counts it open (instance
// list, instance detail, statistics); after an operator resolves it in the
// incident store, history shows it resolved everywhere.
func TestHistoryFollowsResolvedIncident(t *testing.T) {
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
	key := outs[0].InstanceKey
	// waitFor polls until history says want (it follows asynchronously).
	waitFor := func(what string, want func(id string) historyIncidents, id string) {
		t.Helper()
		for {
			got := readHistoryIncidents(t, base, "A-15", key)
			if got == want(id) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: history shows %+v, want %+v", what, got, want(id))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

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
	waitFor("before resolving", func(id string) historyIncidents {
		return historyIncidents{ListCount: 1, Detail: id + "=open", StatsCount: 1}
	}, id)

	resp, err := http.Post(base+"/incidents/"+id+"/resolve", "application/json", strings.NewReader(`{"comment":"sent by hand"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor("after resolving", func(id string) historyIncidents {
		return historyIncidents{ListCount: 0, Detail: id + "=resolved", StatsCount: 0}
	}, id)
}
