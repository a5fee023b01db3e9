package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/incidents"
	"github.com/tracker-dev/tracker/models"
)

// incidentEnv is the real engine (no decision table: every uncorrelated
// message is an incident), an empty model repository, and an incident store
// following the engine's feed, served over HTTP.
type incidentEnv struct {
	ts    *httptest.Server
	eng   *engine.Engine
	repo  *models.Repository
	store *incidents.Store
	ids   map[string]string // message id → incident id
}

func newIncidentEnv(t *testing.T) *incidentEnv {
	t.Helper()
	dir := t.TempDir()
	env := &incidentEnv{ids: map[string]string{}}
	var err error
	if env.repo, err = models.OpenRepository(filepath.Join(dir, "models"), models.RepositoryOptions{}); err != nil {
		t.Fatal(err)
	}
	if env.eng, err = engine.Open(engine.Options{Dir: filepath.Join(dir, "engine"), Processes: env.repo, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.eng.Close() })
	env.store, err = incidents.Open(incidents.Options{Dir: filepath.Join(dir, "incidents"), Feed: env.eng, NoSync: true,
		Correlator: &incidents.EngineCorrelator{Engine: env.eng}, BulkMax: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.store.Close() })
	s, err := New(Options{Listen: "127.0.0.1:0", Tokens: []Token{
		{Name: "viewer-1", Value: "view-token", Role: RoleViewer},
		{Name: "ops-1", Value: "op-token", Role: RoleOperator},
	}})
	if err != nil {
		t.Fatal(err)
	}
	IncidentRoutes(s.API(), env.store, s.RequireRole(RoleOperator))
	env.ts = httptest.NewServer(s.Echo())
	t.Cleanup(env.ts.Close)
	return env
}

// raise applies messages no model knows (UNKNOWN_MESSAGE incidents).
func (env *incidentEnv) raise(t *testing.T, msgs ...engine.Message) {
	t.Helper()
	for i := range msgs {
		msgs[i].ReadAt = time.Now()
		msgs[i].Source = "orders"
		msgs[i].Raw, _ = json.Marshal(map[string]string{"type": msgs[i].Name, "orderId": msgs[i].CorrelationKey})
	}
	if _, err := env.eng.Apply(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	if err := env.store.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	page, err := env.store.List(t.Context(), incidents.Filter{Limit: incidents.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range page.Items {
		env.ids[inc.MessageID] = inc.ID
	}
}

func (env *incidentEnv) deploy(t *testing.T) {
	t.Helper()
	xml, err := os.ReadFile("../incidents/testdata/order-fulfillment.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := env.repo.Deploy(t.Context(), "order-fulfillment.bpmn", xml); err != nil {
		t.Fatal(err)
	}
}

func msg(id, name, key string) engine.Message {
	return engine.Message{ID: id, Name: name, CorrelationKey: key, EventTime: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
}

func incidentMessageIDs(items []incidents.Incident) string {
	var ids []string
	for _, inc := range items {
		ids = append(ids, inc.MessageID)
	}
	return strings.Join(ids, ",")
}

func TestIncidentRoutesListAndGet(t *testing.T) {
	env := newIncidentEnv(t)
	env.raise(t, msg("m-1", "OrderPlaced", "A-1"), msg("m-2", "OrderPlaced", "A-2"), msg("m-3", "InvoiceSent", "A-1"))
	base := env.ts.URL + "/api/v1/incidents"
	for _, tc := range []struct {
		name, query, want string
	}{
		{"all", "", "m-3,m-2,m-1"},
		{"message name", "?messageName=OrderPlaced", "m-2,m-1"},
		{"correlation key", "?correlationKey=A-1", "m-3,m-1"},
		{"reason and state", "?reason=UNKNOWN_MESSAGE&state=open", "m-3,m-2,m-1"},
		{"severity", "?severity=high", ""},
		{"time range", "?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", "m-3,m-2,m-1"},
		{"before", "?to=2000-01-01T00:00:00Z", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, "GET", base+tc.query, "view-token", "", nil)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			if got := incidentMessageIDs(decode[incidents.Page](t, body).Items); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		var all []string
		next := "?limit=2"
		for pages := 0; next != ""; pages++ {
			if pages > 2 {
				t.Fatal("too many pages")
			}
			status, _, body := do(t, "GET", base+next, "view-token", "", nil)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			p := decode[incidents.Page](t, body)
			all = append(all, incidentMessageIDs(p.Items))
			next = ""
			if p.Next != "" {
				next = "?limit=2&cursor=" + p.Next
			}
		}
		if got := strings.Join(all, "|"); got != "m-3,m-2|m-1" {
			t.Fatalf("pages %s", got)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		status, _, body := do(t, "GET", base+"?state=closed&limit=x&from=yesterday&cursor=zz", "view-token", "", nil)
		if status != http.StatusBadRequest {
			t.Fatalf("%d %s", status, body)
		}
		eb := decode[ErrorBody](t, body)
		var got []string
		for _, p := range eb.Problems {
			got = append(got, p.Name+": "+p.Message)
		}
		want := []string{
			`from: "yesterday" is not an RFC 3339 time such as 2026-11-03T10:00:00Z`,
			`limit: "x" is not a positive number`,
			`: state "closed": use open or resolved`,
			`: cursor "zz": use the next value of the previous page`,
		}
		if eb.Error != "invalid incident filter: 4 problem(s)" || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s\n%s", eb.Error, strings.Join(got, "\n"))
		}
	})
	t.Run("get", func(t *testing.T) {
		status, _, body := do(t, "GET", base+"/"+env.ids["m-1"], "view-token", "", nil)
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		ev, _ := raw["event"].(map[string]any)
		hist, _ := raw["history"].([]any)
		if raw["id"] != env.ids["m-1"] || raw["state"] != "open" || raw["reason"] != "UNKNOWN_MESSAGE" || raw["severity"] != "medium" ||
			ev["raw"] != `{"orderId":"A-1","type":"OrderPlaced"}` || len(hist) != 1 {
			t.Fatalf("incident %s", body)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		status, _, body := do(t, "GET", base+"/nope", "view-token", "", nil)
		if status != http.StatusNotFound || decode[ErrorBody](t, body).Error != "incident nope: incident not found" {
			t.Fatalf("%d %s", status, body)
		}
	})
}

func TestIncidentRoutesResolveAndRetry(t *testing.T) {
	env := newIncidentEnv(t)
	env.raise(t, msg("m-1", "OrderPlaced", "A-1"), msg("m-2", "InvoiceSent", "A-1"))
	base := env.ts.URL + "/api/v1/incidents/"
	for _, tc := range []struct {
		name, path, token, body string
		status                  int
		want                    string // error text, or "" for success
	}{
		{"viewer may not resolve", env.ids["m-2"] + "/resolve", "view-token", `{"comment":"x"}`, 403, "role operator required, token has viewer"},
		{"comment required", env.ids["m-2"] + "/resolve", "op-token", `{}`, 400, incidents.ErrCommentRequired.Error()},
		{"unknown field", env.ids["m-2"] + "/resolve", "op-token", `{"coment":"x"}`, 400, "invalid request body"},
		{"resolve", env.ids["m-2"] + "/resolve", "op-token", `{"comment":"invoices are not tracked"}`, 200, ""},
		{"resolve twice", env.ids["m-2"] + "/resolve", "op-token", `{"comment":"again"}`, 409, "incident " + env.ids["m-2"] + ": incident is already resolved"},
		{"retry resolved", env.ids["m-2"] + "/retry", "op-token", ``, 409, "incident " + env.ids["m-2"] + ": incident is already resolved"},
		{"retry unknown", "nope/retry", "op-token", ``, 404, "incident nope: incident not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, "POST", base+tc.path, tc.token, "application/json", []byte(tc.body))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.want != "" {
				if eb := decode[ErrorBody](t, body); eb.Error != tc.want {
					t.Fatalf("error %q, want %q", eb.Error, tc.want)
				}
				return
			}
			inc := decode[incidents.Incident](t, body)
			last := inc.History[len(inc.History)-1]
			if inc.State != incidents.StateResolved || last.Actor != "ops-1" || last.Comment != "invoices are not tracked" {
				t.Fatalf("resolved incident %+v", inc)
			}
		})
	}

	// Retry before and after deploying the model.
	status, _, body := do(t, "POST", base+env.ids["m-1"]+"/retry", "op-token", "", nil)
	if status != http.StatusOK {
		t.Fatalf("retry: %d %s", status, body)
	}
	r := decode[retryResponse](t, body)
	if r.Outcome != engine.Uncorrelated || r.Reason != engine.ReasonUnknownMessage || r.MessageID != "m-1#retry-1" || r.Incident.State != incidents.StateOpen ||
		r.Decision == nil || r.Decision.Action != "incident" {
		t.Fatalf("retry before deploy: %s", body)
	}
	env.deploy(t)
	status, _, body = do(t, "POST", base+env.ids["m-1"]+"/retry", "op-token", "application/json", []byte(`{"comment":"model deployed"}`))
	if status != http.StatusOK {
		t.Fatalf("retry: %d %s", status, body)
	}
	r = decode[retryResponse](t, body)
	if r.Outcome != engine.Started || r.InstanceKey == 0 || r.MessageID != "m-1#retry-2" || r.Incident.State != incidents.StateResolved {
		t.Fatalf("retry after deploy: %s", body)
	}
	if e := r.Incident.History[3]; e.Action != incidents.ActionRetry || e.Actor != "ops-1" || e.Comment != "model deployed" {
		t.Fatalf("retry entry %+v", e)
	}
}

func TestIncidentRoutesBulk(t *testing.T) {
	env := newIncidentEnv(t)
	var ms []engine.Message
	for i := range 4 {
		ms = append(ms, msg(fmt.Sprintf("o-%d", i), "OrderPlaced", fmt.Sprintf("A-%d", i)))
	}
	ms = append(ms, msg("i-1", "InvoiceSent", "A-1"), msg("i-2", "InvoiceSent", "A-2"))
	env.raise(t, ms...)
	base := env.ts.URL + "/api/v1/incidents/"

	// Bulk resolve: filter in the body.
	status, _, body := do(t, "POST", base+"resolve", "op-token", "application/json", []byte(`{"messageName":"InvoiceSent","comment":"not tracked"}`))
	if status != http.StatusOK {
		t.Fatalf("bulk resolve: %d %s", status, body)
	}
	res := decode[incidents.BulkResult](t, body)
	if res.Matched != 2 || res.Processed != 2 || res.Resolved != 2 || res.Failed != 0 || res.Truncated || len(res.Items) != 2 {
		t.Fatalf("bulk resolve %s", body)
	}

	// Bulk retry: filter in the query, cap in the body.
	env.deploy(t)
	status, _, body = do(t, "POST", base+"retry?messageName=OrderPlaced", "op-token", "application/json", []byte(`{"limit":3}`))
	if status != http.StatusOK {
		t.Fatalf("bulk retry: %d %s", status, body)
	}
	res = decode[incidents.BulkResult](t, body)
	if res.Matched != 4 || res.Processed != 3 || res.Resolved != 3 || !res.Truncated {
		t.Fatalf("bulk retry %s", body)
	}
	for _, it := range res.Items {
		if it.Outcome != "started" || it.State != incidents.StateResolved {
			t.Fatalf("item %+v", it)
		}
	}
	status, _, body = do(t, "GET", env.ts.URL+"/api/v1/incidents?state=open", "view-token", "", nil)
	if got := incidentMessageIDs(decode[incidents.Page](t, body).Items); status != 200 || got != "o-3" {
		t.Fatalf("open after bulk: %d %s", status, got)
	}

	for _, tc := range []struct {
		name, path, token, body string
		status                  int
		want                    string
	}{
		{"misspelt filter", "resolve", "op-token", `{"mesageName":"OrderPlaced","comment":"x"}`, 400, "invalid request body"},
		{"over the cap", "retry", "op-token", `{"limit":11}`, 400, "invalid incident filter"},
		{"cursor", "retry?cursor=3", "op-token", ``, 400, "invalid incident filter: 1 problem(s)"},
		{"resolved state", "resolve?state=resolved", "op-token", `{"comment":"x"}`, 400, "invalid incident filter"},
		{"no comment", "resolve", "op-token", ``, 400, incidents.ErrCommentRequired.Error()},
		{"viewer", "retry", "view-token", ``, 403, "role operator required, token has viewer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, "POST", base+tc.path, tc.token, "application/json", []byte(tc.body))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if eb := decode[ErrorBody](t, body); eb.Error != tc.want {
				t.Fatalf("error %q, want %q (%+v)", eb.Error, tc.want, eb.Problems)
			}
		})
	}
	if n, _ := env.store.Count(t.Context(), incidents.Filter{State: incidents.StateOpen}); n != 1 {
		t.Fatalf("%d open after the refused requests, want 1", n)
	}
}
