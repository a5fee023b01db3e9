package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/correlate"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
)

// eventProcs is an engine.ProcessSource over the order-fulfillment example.
type eventProcs struct{ all map[string]*models.Process }

func (p *eventProcs) Latest(id string) (*models.Process, bool) { x, ok := p.all[id]; return x, ok }
func (p *eventProcs) Get(id string, v int) (*models.Process, bool) {
	x, ok := p.all[id]
	return x, ok && x.Version == v
}
func (p *eventProcs) LatestAll() []*models.Process {
	var out []*models.Process
	for _, x := range p.all {
		out = append(out, x)
	}
	return out
}

// gatedEngine lets a test hold Apply to saturate the pipeline.
type gatedEngine struct {
	*engine.Engine
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{}
}

func (g *gatedEngine) Apply(ctx context.Context, batch []engine.Message) ([]engine.Outcome, error) {
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	}
	return g.Engine.Apply(ctx, batch)
}

// newEventServer runs the real server with the event route over a real
// consumer (HTTP only) and a real engine with the example model.
func newEventServer(t *testing.T, httpCfg config.HTTPIngest, queue int) (*httptest.Server, *gatedEngine) {
	t.Helper()
	file := "../correlate/testdata/order-fulfillment.bpmn"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defs, problems := models.Parse(file, data, models.Options{})
	if defs == nil {
		t.Fatalf("parse: %v", problems)
	}
	ps := &eventProcs{all: map[string]*models.Process{}}
	for _, p := range defs.Processes {
		p.Version = 1
		ps.all[p.ID] = p
	}
	eng, err := engine.Open(engine.Options{Dir: t.TempDir(), Processes: ps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ge := &gatedEngine{Engine: eng}
	known := func(name string) bool {
		for _, p := range ps.all {
			if len(p.StartEventsFor(name)) > 0 || len(p.CatchEventsFor(name)) > 0 {
				return true
			}
		}
		return false
	}
	cons, err := correlate.New(correlate.Options{Engine: ge, HTTP: httpCfg, HTTPQueue: queue, KnownMessage: known})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	s, err := New(Options{Listen: "127.0.0.1:0", MaxBodyBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	EventRoutes(s.API(), cons, s.RequireRole(RoleOperator))
	ts := httptest.NewServer(s.Echo())
	t.Cleanup(func() {
		ts.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return ts, ge
}

func ce(id, typ, key, extra string) string {
	k := ""
	if key != "" {
		k = fmt.Sprintf(`,"correlationkey":%q`, key)
	}
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/test","type":%q%s,"time":"2026-11-01T09:00:00Z","data":{"n":1}%s}`, id, typ, k, extra)
}

func TestPostEvents(t *testing.T) {
	ts, _ := newEventServer(t, config.HTTPIngest{MaxEventBytes: 2048, MaxRequestBytes: 8192}, 0)
	url := ts.URL + "/api/v1/events"

	status, _, body := do(t, "POST", url, "", MIMECloudEvent, []byte(ce("h-1", "OrderPlaced", "H-1", "")))
	var single EventResult
	if status != http.StatusOK || json.Unmarshal(body, &single) != nil {
		t.Fatalf("single: %d %s", status, body)
	}
	if single.ID != "h-1" || single.Outcome != engine.Started || single.InstanceKey == 0 || single.ProcessID != "order-fulfillment" {
		t.Fatalf("single: %+v", single)
	}

	batch := "[" + strings.Join([]string{
		ce("h-2", "PaymentReceived", "H-1", ""),
		ce("h-3", "GoodsFetched", "H-1", ""),
		ce("h-4", "Heartbeat", "", ""),
		ce("h-5", "PaymentReceived", "", ""),
		ce("h-2", "PaymentReceived", "H-1", ""),
	}, ",") + "]"
	status, _, body = do(t, "POST", url, "", MIMECloudEventBatch, []byte(batch))
	var results []EventResult
	if status != http.StatusOK || json.Unmarshal(body, &results) != nil {
		t.Fatalf("batch: %d %s", status, body)
	}
	want := []struct {
		id      string
		outcome engine.Result
		reason  engine.Reason
	}{
		{"h-2", engine.Correlated, ""},
		{"h-3", engine.Correlated, ""},
		{"h-4", engine.Uncorrelated, engine.ReasonUnknownMessage},
		{"h-5", engine.Uncorrelated, engine.ReasonMissingCorrelationKey},
		{"h-2", engine.Duplicate, ""},
	}
	if len(results) != len(want) {
		t.Fatalf("batch: %d results, want %d: %s", len(results), len(want), body)
	}
	for i, w := range want {
		r := results[i]
		if r.ID != w.id || r.Outcome != w.outcome || r.Reason != w.reason {
			t.Errorf("batch[%d] = %+v, want %s %s %s", i, r, w.id, w.outcome, w.reason)
		}
		if w.outcome == engine.Uncorrelated && (r.Decision == nil || r.Decision.Action != engine.DecisionIncident) {
			t.Errorf("batch[%d]: decision %+v, want the default incident", i, r.Decision)
		}
	}
}

func TestPostEventsErrors(t *testing.T) {
	ts, _ := newEventServer(t, config.HTTPIngest{MaxEventBytes: 512, MaxRequestBytes: 4096}, 0)
	url := ts.URL + "/api/v1/events"
	big := ce("b", "OrderPlaced", "K", `,"pad":"`+strings.Repeat("x", 600)+`"`)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		errText     string
		problems    []Problem
	}{
		{"not JSON", MIMECloudEvent, `{"id":`, 400, "the request body is not valid JSON",
			[]Problem{{Element: "body", Message: "unexpected end of JSON input"}}},
		{"single is an array", MIMECloudEvent, `[]`, 400, "a single CloudEvent must be a JSON object",
			[]Problem{{Element: "body", Message: "expected a JSON object; send arrays as application/cloudevents-batch+json"}}},
		{"batch element not an object", MIMECloudEventBatch, `[` + ce("a", "T", "K", "") + `,3]`, 400, "1 event(s) of the batch are not JSON objects",
			[]Problem{{Element: "events[1]", Message: "expected a JSON object"}}},
		{"empty batch", MIMECloudEventBatch, `[]`, 400, "the batch is empty", nil},
		{"not a CloudEvent", MIMECloudEventBatch, `[` + ce("a", "OrderPlaced", "K", "") + `,{"specversion":"1.0","id":"x","source":"/s"}]`, 400,
			"1 event(s) are not valid CloudEvents; nothing was applied",
			[]Problem{{Element: "events[1]", Message: "CloudEvent without required attribute type"}}},
		{"event over max_event_bytes", MIMECloudEvent, big, 413, "request body too large", nil},
		{"request over max_request_bytes", MIMECloudEventBatch, "[" + strings.Repeat(ce("a", "T", "K", "")+",", 40) + ce("a", "T", "K", "") + "]", 413, "request body too large", nil},
		{"wrong content type", "text/plain", `hello`, 415, `content type "text/plain": send application/cloudevents+json (one event) or application/cloudevents-batch+json (an array)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "POST", url, "", tt.contentType, []byte(tt.body))
			var eb ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("%d %s", status, body)
			}
			if status != tt.status || eb.Error != tt.errText || fmt.Sprint(eb.Problems) != fmt.Sprint(tt.problems) {
				t.Fatalf("got %d %q %v\nwant %d %q %v", status, eb.Error, eb.Problems, tt.status, tt.errText, tt.problems)
			}
		})
	}
	// Nothing of the rejected requests was applied: "a" is new.
	status, _, body := do(t, "POST", url, "", MIMECloudEvent, []byte(ce("a", "OrderPlaced", "K", "")))
	if status != 200 || !strings.Contains(string(body), `"outcome":"started"`) {
		t.Fatalf("after the errors: %d %s", status, body)
	}
}

// TestPostEventsSaturated holds the engine so that the pipeline fills up:
// further requests get 429 with Retry-After, and the held ones complete.
func TestPostEventsSaturated(t *testing.T) {
	ts, ge := newEventServer(t, config.HTTPIngest{}, 1)
	url := ts.URL + "/api/v1/events"
	gate := make(chan struct{})
	ge.mu.Lock()
	ge.gate, ge.entered = gate, make(chan struct{}, 1)
	entered := ge.entered
	ge.mu.Unlock()

	type res struct {
		status int
		hdr    http.Header
	}
	results := make(chan res, 64)
	post := func(i int) {
		status, hdr, _ := do(t, "POST", url, "", MIMECloudEvent, []byte(ce(fmt.Sprintf("s-%d", i), "OrderPlaced", fmt.Sprintf("S-%d", i), "")))
		results <- res{status, hdr}
	}
	go post(0)
	select {
	case <-entered: // the first request is inside Apply
	case <-time.After(30 * time.Second):
		t.Fatal("the first request never reached the engine")
	}
	var sent, rejected int
	sent = 1
	var retryAfter string
	for i := 1; rejected == 0 && i < 60; i++ {
		go post(i)
		sent++
		select {
		case r := <-results:
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("while saturated: status %d", r.status)
			}
			rejected++
			retryAfter = r.hdr.Get("Retry-After")
		case <-time.After(100 * time.Millisecond): // queued; try another
		}
	}
	if rejected == 0 {
		t.Fatal("no request was refused while the engine was held")
	}
	if retryAfter != "1" {
		t.Errorf("Retry-After = %q, want 1", retryAfter)
	}
	ge.mu.Lock()
	ge.gate = nil
	ge.mu.Unlock()
	close(gate)
	for range sent - rejected {
		r := <-results
		if r.status != http.StatusOK && r.status != http.StatusTooManyRequests {
			t.Errorf("held request: status %d", r.status)
		}
	}
}
