package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// hook is a real local HTTP server that answers with the scripted statuses
// (the last one repeats) and records every request.
type hook struct {
	mu       sync.Mutex
	statuses []int
	reqs     []hookReq
	srv      *httptest.Server
}

type hookReq struct {
	header http.Header
	body   string
	status int
}

func newHook(t *testing.T, statuses ...int) *hook {
	h := &hook{statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		st := h.statuses[min(len(h.reqs), len(h.statuses)-1)]
		h.reqs = append(h.reqs, hookReq{header: r.Header.Clone(), body: string(body), status: st})
		h.mu.Unlock()
		if r.Method != http.MethodPost {
			st = http.StatusMethodNotAllowed
		}
		w.WriteHeader(st)
		io.WriteString(w, http.StatusText(st))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// updates returns the action updates of the change feed.
func (w *world) updates() []engine.Action {
	w.t.Helper()
	var out []engine.Action
	for _, c := range w.feed(engine.ChangeActionUpdated) {
		var a engine.Action
		if err := json.Unmarshal(c.Payload, &a); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestWebhookTarget(t *testing.T) {
	t.Setenv("TRACKER_TEST_HOOK_TOKEN", "s3cret")
	tests := []struct {
		name        string
		statuses    []int
		maxAttempts int
		requests    int
		updates     []string // state of each feed update, in order
		incident    bool
	}{
		{name: "500 twice then 200: delivered once, two failures recorded", statuses: []int{500, 500, 200},
			requests: 3, updates: []string{"pending", "pending", "delivered"}},
		{name: "down past the retry budget: failed with an incident", statuses: []int{503}, maxAttempts: 4,
			requests: 4, updates: []string{"pending", "pending", "pending", "failed"}, incident: true},
		{name: "400 is not retried", statuses: []int{400}, requests: 1, updates: []string{"failed"}, incident: true},
		{name: "429 is retried", statuses: []int{429, 202}, requests: 2, updates: []string{"pending", "delivered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t, tt.statuses...)
			w := newWorld(t, t.TempDir(), "order-webhook.bpmn")
			w.apply(event{"OrderPlaced", "A-2", 15 * day, `{"customer":"c-17","total":129.9,"items":3,"card":"4111"}`})
			w.tick(now)
			raised := w.pending()
			if len(raised) != 1 {
				t.Fatalf("%d actions raised, want 1", len(raised))
			}
			r := w.runRelay(Options{MaxAttempts: tt.maxAttempts, Targets: map[string]config.Target{"ops-webhook": {
				Webhook: h.srv.URL + "/hook", Headers: map[string]string{"X-Team": "ops"},
				HeadersEnv: map[string]string{"Authorization": "TRACKER_TEST_HOOK_TOKEN"},
			}}})

			wantTotals := Totals{Delivered: 1}
			if tt.incident {
				wantTotals = Totals{Failed: 1}
			}
			if got := r.Totals(); got != wantTotals {
				t.Errorf("Totals() = %+v, want %+v", got, wantTotals)
			}
			reqs := h.requests()
			if len(reqs) != tt.requests {
				t.Fatalf("%d requests, want %d", len(reqs), tt.requests)
			}
			id := raised[0].ID
			for i, r := range reqs {
				if r.header.Get("Tracker-Action-Id") != id || r.header.Get("Idempotency-Key") != id ||
					r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Team") != "ops" || r.header.Get("Authorization") != "s3cret" {
					t.Errorf("request %d headers %v", i, r.header)
				}
				var rec Record
				if err := json.Unmarshal([]byte(r.body), &rec); err != nil {
					t.Fatalf("request %d body %q: %v", i, r.body, err)
				}
				if rec.ActionID != id || rec.Type != "SendDelayNoticeCommand" || !jsonEqual(rec.Variables, `{"customer":"c-17","total":129.9}`) {
					t.Errorf("request %d body %s", i, r.body)
				}
			}
			ups := w.updates()
			var states []string
			for i, u := range ups {
				states = append(states, string(u.State))
				if u.Attempts != i+1 {
					t.Errorf("update %d counts %d attempts", i, u.Attempts)
				}
				want := fmt.Sprintf("webhook %s/hook answered %d %s: %s", h.srv.URL, reqs[i].status, http.StatusText(reqs[i].status), http.StatusText(reqs[i].status))
				if u.State != engine.ActionDelivered && u.LastError != want {
					t.Errorf("update %d error %q", i, u.LastError)
				}
			}
			if strings.Join(states, " ") != strings.Join(tt.updates, " ") {
				t.Errorf("updates %v, want %v", states, tt.updates)
			}
			var incidents []string
			for _, c := range w.feed(engine.ChangeIncident) {
				var p struct {
					Reason string `json:"reason"`
					Detail string `json:"detail"`
				}
				if err := json.Unmarshal(c.Payload, &p); err != nil {
					t.Fatal(err)
				}
				incidents = append(incidents, p.Reason)
			}
			if got := len(incidents) == 1 && incidents[0] == "ACTION_FAILED"; got != tt.incident {
				t.Errorf("incidents %v, want an ACTION_FAILED incident: %v", incidents, tt.incident)
			}
		})
	}
}
