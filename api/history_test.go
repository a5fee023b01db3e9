package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/sqlite"
	"github.com/tracker-dev/tracker/models"
	"github.com/tracker-dev/tracker/simulator"
)

var histT0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// histOrders is how many orders the end-to-end test sends. Order i goes
// through 1 + i%5 of the model's five messages, step s at s hours after its
// start (histT0 + i minutes): i%5 == 2 stalls at GoodsShipped, i%5 == 4
// completes. Every 7th OrderPlaced is delivered twice.
const histOrders = 100

var histSteps = []string{"OrderPlaced", "PaymentReceived", "GoodsFetched", "GoodsShipped", "OrderDelivered"}

func histTraffic() []engine.Message {
	var out []engine.Message
	for i := range histOrders {
		ck := fmt.Sprintf("ORD-%d", 1000+i)
		for s := 0; s <= i%5; s++ {
			at := histT0.Add(time.Duration(i)*time.Minute + time.Duration(s)*time.Hour)
			vars := fmt.Sprintf(`{"step%d":true}`, s)
			if s == 0 {
				vars = fmt.Sprintf(`{"orderId":%q,"customer":"c-%d"}`, ck, i%7)
			}
			m := engine.Message{Name: histSteps[s], CorrelationKey: ck, ID: fmt.Sprintf("m-%d-%d", i, s), EventTime: at, ReadAt: at,
				Variables: json.RawMessage(vars), Source: "orders"}
			out = append(out, m)
			if s == 0 && i%7 == 0 {
				out = append(out, m)
			}
		}
	}
	return out
}

// newHistoryServer drives the real engine with the shared example model,
// projects its feed into SQLite and serves the read API over HTTP. now is
// the service's clock.
func newHistoryServer(t *testing.T, now time.Time) (*httptest.Server, *engine.Engine) {
	t.Helper()
	return newHistoryServerWith(t, now, histTraffic())
}

// newHistoryServerWith is newHistoryServer with the given traffic.
func newHistoryServerWith(t *testing.T, now time.Time, msgs []engine.Message) (*httptest.Server, *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	repo, err := models.OpenRepository(filepath.Join(dir, "models"), models.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	xml, err := os.ReadFile("../history/testdata/order-fulfillment.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, problems, err := repo.Deploy(ctx, "order-fulfillment.bpmn", xml); err != nil {
		t.Fatalf("deploy: %v %v", err, problems)
	}
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(dir, "engine"), Processes: repo, NoSync: true, Clock: func() time.Time { return histT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	for len(msgs) > 0 {
		n := min(len(msgs), 100)
		if _, err := eng.Apply(ctx, msgs[:n]); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
	store, err := sqlite.Open(sqlite.Options{Dir: filepath.Join(dir, "history"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	proj, err := history.NewProjector(history.ProjectorOptions{Feed: eng, Backend: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := history.NewService(history.ServiceOptions{Backend: store, Processes: repo, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ModelRoutes(s.API(), repo, s.RequireRole(RoleOperator))
	InstanceRoutes(s.API(), svc, eng)
	HistoryRoutes(s.API(), svc)
	ts := httptest.NewServer(s.Echo())
	t.Cleanup(ts.Close)
	return ts, eng
}

func histGet[T any](t *testing.T, base, path string, wantStatus int) T {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, raw)
	}
	return v
}

// keysOf pages through /instances with the given query.
func keysOf(t *testing.T, base, query string) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 100 {
		q := query + "&limit=7"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p := histGet[InstancePage](t, base, "/api/v1/instances?"+q, http.StatusOK)
		if len(p.Items) > 7 {
			t.Fatalf("page of %d items, limit 7", len(p.Items))
		}
		for _, it := range p.Items {
			out = append(out, it.CorrelationKey)
		}
		if cursor = p.Next; cursor == "" {
			return out
		}
	}
	t.Fatal("paging does not end")
	return nil
}

func TestHistoryAPIStuck(t *testing.T) {
	// GoodsShipped has tracker.sla P3D. At now, orders that reached it more
	// than 3 days ago are stuck: reached at histT0 + i min + 2 h, so those
	// with i < 60 (and i%5 == 2, the ones stalled there).
	now := histT0.Add(3*24*time.Hour + 3*time.Hour)
	ts, _ := newHistoryServer(t, now)
	var want, atShipped []string
	for i := histOrders - 1; i >= 0; i-- { // newest first
		if i%5 == 2 {
			atShipped = append(atShipped, fmt.Sprintf("ORD-%d", 1000+i))
			if i < 60 {
				want = append(want, fmt.Sprintf("ORD-%d", 1000+i))
			}
		}
	}
	if got := keysOf(t, ts.URL, "stuck=true&element=GoodsShipped"); !slices.Equal(got, want) {
		t.Errorf("stuck at GoodsShipped:\n got %v\nwant %v", got, want)
	}
	if got := keysOf(t, ts.URL, "element=GoodsShipped&processId=order-fulfillment"); !slices.Equal(got, atShipped) {
		t.Errorf("at GoodsShipped:\n got %v\nwant %v", got, atShipped)
	}
	p := histGet[InstancePage](t, ts.URL, "/api/v1/instances?stuck=true&element=GoodsShipped&limit=1", http.StatusOK)
	if len(p.Items) != 1 || len(p.Items[0].ActiveElements) == 0 {
		t.Fatalf("first stuck item = %+v", p.Items)
	}
	for _, a := range p.Items[0].ActiveElements {
		if a.ElementID == "GoodsShipped" && !a.Stuck {
			t.Errorf("active element %+v is not marked stuck", a)
		}
	}

	st := histGet[StatisticsBody](t, ts.URL, "/api/v1/models/order-fulfillment/statistics", http.StatusOK)
	byID := map[string]history.ElementStatistics{}
	for _, e := range st.Elements {
		byID[e.ElementID] = e
	}
	gs := byID["GoodsShipped"]
	if gs.Active != int64(len(atShipped)) || gs.Stuck != int64(len(want)) || gs.Completed != 40 {
		t.Errorf("GoodsShipped statistics = %+v; want active %d, stuck %d, completed 40", gs, len(atShipped), len(want))
	}
	// Every completed GoodsShipped visit took exactly one hour.
	if d := gs.DurationMs; d.Count != 40 || d.Avg != 3.6e6 || d.P50 < 3.6e6*0.99 || d.P50 > 3.6e6*1.01 || d.P95 < 3.6e6*0.99 || d.P95 > 3.6e6*1.01 {
		t.Errorf("GoodsShipped durations = %+v; want 40 of 3600000 ms", d)
	}
	var sources []string
	for _, th := range st.Thresholds {
		sources = append(sources, th.ElementID+"="+th.Source)
	}
	for _, s := range []string{"GoodsShipped=sla", "PaymentReceived=sla", "GoodsFetched=p95"} {
		if !slices.Contains(sources, s) {
			t.Errorf("thresholds %v lack %s", sources, s)
		}
	}
	v1 := histGet[StatisticsBody](t, ts.URL, "/api/v1/models/order-fulfillment/statistics?version=2", http.StatusOK)
	if len(v1.Elements) != 0 {
		t.Errorf("statistics of version 2 (never deployed) = %+v, want none", v1.Elements)
	}
}

func TestHistoryAPIInstanceDetail(t *testing.T) {
	ts, eng := newHistoryServer(t, histT0.Add(time.Hour))
	// ORD-1007 stalled at GoodsShipped (7 % 5 == 2) and had a duplicate start.
	p := histGet[InstancePage](t, ts.URL, "/api/v1/instances?correlationKey=ORD-1007", http.StatusOK)
	if len(p.Items) != 1 {
		t.Fatalf("instances of ORD-1007 = %+v", p.Items)
	}
	key := p.Items[0].Key
	d := histGet[InstanceDetail](t, ts.URL, fmt.Sprintf("/api/v1/instances/%d", key), http.StatusOK)
	view, _, err := eng.Instance(key)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Indexed || d.State != "active" || d.CorrelationKey != "ORD-1007" {
		t.Errorf("detail header = %+v", d.InstanceItem)
	}
	var path []string
	for _, e := range d.Path {
		path = append(path, e.ElementID+":"+e.State)
	}
	wantPath := []string{"OrderPlaced:completed", "FulfilOrder:active", "FulfilStart:completed", "PaymentReceived:completed", "GoodsFetched:completed", "GoodsShipped:active"}
	if !slices.Equal(path, wantPath) {
		t.Errorf("path = %v\nwant %v", path, wantPath)
	}
	var evs []string
	for _, e := range d.Events {
		evs = append(evs, e.MessageName+":"+e.Outcome)
	}
	if want := []string{"OrderPlaced:started", "OrderPlaced:duplicate", "PaymentReceived:correlated", "GoodsFetched:correlated"}; !slices.Equal(evs, want) {
		t.Errorf("events = %v, want %v", evs, want)
	}
	var vars map[string]any
	if err := json.Unmarshal(d.Variables, &vars); err != nil || vars["orderId"] != "ORD-1007" || vars["step2"] != true {
		t.Errorf("variables = %s (%v)", d.Variables, err)
	}
	if len(d.Subscriptions) != len(view.Subscriptions) || len(d.Timers) != len(view.Timers) || len(d.Timers) == 0 {
		t.Errorf("subscriptions %v timers %v; engine has %v and %v", d.Subscriptions, d.Timers, view.Subscriptions, view.Timers)
	}
	found := false
	for _, s := range d.Subscriptions {
		found = found || (s.MessageName == "GoodsShipped" && s.CorrelationKey == "ORD-1007")
	}
	if !found {
		t.Errorf("no open GoodsShipped subscription in %v", d.Subscriptions)
	}

	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/instances/abc", http.StatusBadRequest, `instance key "abc" is not a positive integer`},
		{"/api/v1/instances/999999", http.StatusNotFound, "instance 999999 not found"},
		{"/api/v1/instances?state=sleeping&limit=0&startedAfter=yesterday", http.StatusBadRequest, "3 invalid query parameters"},
		{"/api/v1/instances?cursor=bogus", http.StatusBadRequest, "invalid cursor"},
		{"/api/v1/instances?q=---", http.StatusBadRequest, "no letters or digits"},
		{"/api/v1/events?outcome=lost", http.StatusBadRequest, `outcome="lost" is not one of`},
		{"/api/v1/search", http.StatusBadRequest, "q is required"},
		{"/api/v1/models/order-fulfillment/statistics?from=monday", http.StatusBadRequest, `from="monday" is not an RFC 3339 time`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			body := histGet[ErrorBody](t, ts.URL, tc.path, tc.status)
			if !strings.Contains(body.Error, tc.want) {
				t.Errorf("error = %q, want it to contain %q", body.Error, tc.want)
			}
			if tc.status == http.StatusBadRequest && len(body.Problems) == 0 {
				t.Errorf("no problems in %+v", body)
			}
		})
	}
}

func TestHistoryAPIEventsAndSearch(t *testing.T) {
	ts, _ := newHistoryServer(t, histT0)
	dups := 0
	for i := range histOrders {
		if i%7 == 0 {
			dups++
		}
	}
	ev := histGet[EventPage](t, ts.URL, "/api/v1/events?outcome=duplicate&limit=1000", http.StatusOK)
	if len(ev.Items) != dups {
		t.Errorf("duplicate events = %d, want %d", len(ev.Items), dups)
	}
	ev = histGet[EventPage](t, ts.URL, "/api/v1/events?messageName=GoodsShipped&sort=eventTime&limit=3", http.StatusOK)
	if len(ev.Items) != 3 || ev.Next == "" || !ev.Items[0].EventTime.Before(ev.Items[2].EventTime) {
		t.Errorf("first GoodsShipped events oldest first = %+v next %q", ev.Items, ev.Next)
	}
	from, to := histT0.Add(90*time.Minute).Format(time.RFC3339), histT0.Add(100*time.Minute).Format(time.RFC3339)
	ev = histGet[EventPage](t, ts.URL, "/api/v1/events?from="+from+"&to="+to+"&limit=1000", http.StatusOK)
	for _, e := range ev.Items {
		if e.EventTime.Before(histT0.Add(90*time.Minute)) || !e.EventTime.Before(histT0.Add(100*time.Minute)) {
			t.Errorf("event %s at %s outside [%s, %s)", e.ID, e.EventTime, from, to)
		}
	}
	if len(ev.Items) == 0 {
		t.Error("no events in the time range")
	}
	sr := histGet[SearchResult](t, ts.URL, "/api/v1/search?q=ORD-1042", http.StatusOK)
	if len(sr.Instances) != 1 || sr.Instances[0].CorrelationKey != "ORD-1042" {
		t.Errorf("search instances = %+v", sr.Instances)
	}
	if want := 1 + 42%5 + 1; len(sr.Events) != want { // its steps and the duplicate OrderPlaced (42 % 7 == 0)
		t.Errorf("search events = %d, want %d", len(sr.Events), want)
	}
	sr = histGet[SearchResult](t, ts.URL, "/api/v1/search?q=c-3&limit=1000", http.StatusOK)
	want := 0
	for i := range histOrders {
		if i%7 == 3 {
			want++
		}
	}
	if len(sr.Instances) != want {
		t.Errorf("search c-3 found %d instances, want %d", len(sr.Instances), want)
	}
}

// TestHistoryAPISimulatedTraffic drives the engine with the demo simulator's
// records (stalls, duplicates, unknown orders, noise) and checks that
// stuck=true&element=GoodsShipped lists exactly the orders whose last step
// was GoodsFetched.
func TestHistoryAPISimulatedTraffic(t *testing.T) {
	gen := simulator.NewGenerator(simulator.Options{Seed: 7, Start: histT0, Shares: &simulator.Shares{
		Stall: 0.2, Duplicate: 0.05, Unknown: 0.02, Noise: 0.02}})
	last := map[string]string{} // order → last regular step
	var msgs []engine.Message
	for range 800 {
		r := gen.Next()
		var env struct {
			ID, Type, OrderID, Time string
			Data                    json.RawMessage
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("simulator record %s: %v", r.Value, err)
		}
		at, err := time.Parse(time.RFC3339Nano, env.Time)
		if err != nil {
			t.Fatal(err)
		}
		m := engine.Message{Name: env.Type, CorrelationKey: env.OrderID, ID: env.ID, EventTime: at, ReadAt: at,
			Variables: env.Data, Source: r.Topic}
		if env.OrderID == "" {
			m.Invalid = engine.ReasonMissingCorrelationKey
		}
		msgs = append(msgs, m)
		if r.Kind == simulator.Regular {
			last[env.OrderID] = env.Type
		}
	}
	var want []string
	for id, step := range last {
		if step == "GoodsFetched" {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("the simulator stalled no order before GoodsShipped; pick another seed")
	}
	t.Logf("%d orders, %d stalled before GoodsShipped", len(last), len(want))
	ts, _ := newHistoryServerWith(t, histT0.Add(10*24*time.Hour), msgs)
	got := keysOf(t, ts.URL, "stuck=true&element=GoodsShipped")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("stuck at GoodsShipped:\n got %v\nwant %v", got, want)
	}
	// Unknown orders are uncorrelated events, not instances.
	ev := histGet[EventPage](t, ts.URL, "/api/v1/events?outcome=uncorrelated&limit=1000", http.StatusOK)
	if len(ev.Items) == 0 {
		t.Error("no uncorrelated events from the simulator's unknown orders and noise")
	}
}

// TestHistoryAPIContract checks the DESIGN.md §9 field names of the list and
// statistics bodies on the raw JSON.
func TestHistoryAPIContract(t *testing.T) {
	ts, _ := newHistoryServer(t, histT0)
	for _, tc := range []struct {
		query   string
		need    []string
		without []string
	}{
		{"state=active&limit=3", []string{"key", "processId", "version", "correlationKey", "state", "startedAt", "activeElements"}, []string{"endedAt"}},
		{"state=completed&limit=3", []string{"key", "processId", "version", "correlationKey", "state", "startedAt", "endedAt", "activeElements"}, nil},
	} {
		body := histGet[struct {
			Items []map[string]json.RawMessage `json:"items"`
			Next  *string                      `json:"next"`
		}](t, ts.URL, "/api/v1/instances?"+tc.query, http.StatusOK)
		if len(body.Items) != 3 || body.Next == nil {
			t.Fatalf("%s: %d items, next %v", tc.query, len(body.Items), body.Next)
		}
		for _, it := range body.Items {
			for _, k := range tc.need {
				if _, ok := it[k]; !ok {
					t.Errorf("%s: item lacks %q: %v", tc.query, k, it)
				}
			}
			for _, k := range tc.without {
				if _, ok := it[k]; ok {
					t.Errorf("%s: item has %q: %s", tc.query, k, it[k])
				}
			}
			var active []map[string]json.RawMessage
			if err := json.Unmarshal(it["activeElements"], &active); err != nil {
				t.Fatal(err)
			}
			for _, a := range active {
				if _, ok := a["elementId"]; !ok {
					t.Errorf("active element without elementId: %v", a)
				}
				if _, ok := a["since"]; !ok {
					t.Errorf("active element without since: %v", a)
				}
			}
		}
	}
	st := histGet[struct {
		Elements []map[string]json.RawMessage `json:"elements"`
	}](t, ts.URL, "/api/v1/models/order-fulfillment/statistics", http.StatusOK)
	if len(st.Elements) == 0 {
		t.Fatal("no element statistics")
	}
	for _, e := range st.Elements {
		for _, k := range []string{"elementId", "active", "completed", "skipped", "incidents", "durationMs"} {
			if _, ok := e[k]; !ok {
				t.Errorf("element statistics lack %q: %v", k, e)
			}
		}
		var d map[string]json.RawMessage
		if err := json.Unmarshal(e["durationMs"], &d); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"p50", "p95", "avg"} {
			if _, ok := d[k]; !ok {
				t.Errorf("durationMs lacks %q: %v", k, d)
			}
		}
	}
}
