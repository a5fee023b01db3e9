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
)

// newActionsServer drives the real engine with the shared example: three
// orders placed 22 days ago each raise a delay notice and a cancel command.
// The outbox then records deliveries as the relay would: order A-1's
// actions delivered, A-2's delay notice failed once (still pending), A-3's
// cancel given up. The feed is projected into SQLite and served over HTTP.
func newActionsServer(t *testing.T) (*httptest.Server, map[string]int64) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
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
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(dir, "engine"), Processes: repo, NoSync: true, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	keys := map[string]int64{}
	for i, ck := range []string{"A-1", "A-2", "A-3"} {
		at := now.Add(-22*24*time.Hour + time.Duration(i)*time.Minute)
		out, err := eng.Apply(ctx, []engine.Message{{Name: "OrderPlaced", CorrelationKey: ck, ID: "m-" + ck, EventTime: at, ReadAt: now,
			Variables: json.RawMessage(`{"customer":"c-1"}`)}})
		if err != nil || out[0].Result != engine.Started {
			t.Fatalf("place %s: %v %+v", ck, err, out)
		}
		keys[ck] = out[0].InstanceKey
	}
	if _, err := eng.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	pending, err := eng.PendingActions(0, 100)
	if err != nil || len(pending) != 6 {
		t.Fatalf("%d pending actions (%v), want 6", len(pending), err)
	}
	var ups []engine.ActionUpdate
	for _, a := range pending {
		switch {
		case a.CorrelationKey == "A-1":
			ups = append(ups, engine.ActionUpdate{Seq: a.Seq, State: engine.ActionDelivered, At: now})
		case a.CorrelationKey == "A-2" && a.Type == "SendDelayNoticeCommand":
			ups = append(ups, engine.ActionUpdate{Seq: a.Seq, State: engine.ActionPending, Error: "webhook answered 500", At: now})
		case a.CorrelationKey == "A-3" && a.Type == "CancelOrderCommand":
			ups = append(ups, engine.ActionUpdate{Seq: a.Seq, State: engine.ActionFailed, Error: "connection refused", At: now})
		}
	}
	if err := eng.MarkActions(ctx, ups); err != nil {
		t.Fatal(err)
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
	s, err := New(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ActionRoutes(s.API(), store)
	ts := httptest.NewServer(s.Echo())
	t.Cleanup(ts.Close)
	return ts, keys
}

// describe renders an action as "key type state attempts[ error]".
func describe(a history.Action) string {
	s := fmt.Sprintf("%s %s %s %d", a.CorrelationKey, strings.TrimSuffix(a.Type, "Command"), a.State, a.Attempts)
	if a.LastError != "" {
		s += " " + a.LastError
	}
	return s
}

func getActions(t *testing.T, ts *httptest.Server, query string) (int, ActionPage, ErrorBody) {
	t.Helper()
	resp, err := http.Get(ts.URL + "/api/v1/actions?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page ActionPage
	var eb ErrorBody
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&page)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&eb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, page, eb
}

func TestActionRoutes(t *testing.T) {
	ts, keys := newActionsServer(t)
	tests := []struct {
		name  string
		query url.Values
		want  []string // sorted descriptions
	}{
		{"all", nil, []string{
			"A-1 CancelOrder delivered 1", "A-1 SendDelayNotice delivered 1",
			"A-2 CancelOrder pending 0", "A-2 SendDelayNotice pending 1 webhook answered 500",
			"A-3 CancelOrder failed 1 connection refused", "A-3 SendDelayNotice pending 0",
		}},
		{"by instance", url.Values{"instanceKey": {fmt.Sprint(keys["A-2"])}}, []string{
			"A-2 CancelOrder pending 0", "A-2 SendDelayNotice pending 1 webhook answered 500",
		}},
		{"by state", url.Values{"state": {"failed"}}, []string{"A-3 CancelOrder failed 1 connection refused"}},
		{"by type", url.Values{"type": {"CancelOrderCommand"}}, []string{
			"A-1 CancelOrder delivered 1", "A-2 CancelOrder pending 0", "A-3 CancelOrder failed 1 connection refused",
		}},
		{"by type and state", url.Values{"type": {"SendDelayNoticeCommand"}, "state": {"pending"}}, []string{
			"A-2 SendDelayNotice pending 1 webhook answered 500", "A-3 SendDelayNotice pending 0",
		}},
		{"by target", url.Values{"target": {"commands"}, "instanceKey": {fmt.Sprint(keys["A-1"])}}, []string{
			"A-1 CancelOrder delivered 1", "A-1 SendDelayNotice delivered 1",
		}},
		{"unknown target", url.Values{"target": {"nowhere"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, page, eb := getActions(t, ts, tt.query.Encode())
			if status != http.StatusOK {
				t.Fatalf("status %d: %+v", status, eb)
			}
			var got []string
			for _, a := range page.Items {
				got = append(got, describe(a))
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if page.Next != "" {
				t.Errorf("next = %q on a complete listing", page.Next)
			}
		})
	}
}

// Paging with a type filter visits every match exactly once.
func TestActionRoutesPaging(t *testing.T) {
	ts, _ := newActionsServer(t)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		q := url.Values{"type": {"CancelOrderCommand"}, "limit": {"1"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		status, page, eb := getActions(t, ts, q.Encode())
		if status != http.StatusOK {
			t.Fatalf("status %d: %+v", status, eb)
		}
		if len(page.Items) > 1 {
			t.Fatalf("%d items on a page of 1", len(page.Items))
		}
		for _, a := range page.Items {
			got = append(got, a.CorrelationKey)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"A-1", "A-2", "A-3"}) {
		t.Errorf("paged through %v", got)
	}
}

func TestActionRoutesBadQuery(t *testing.T) {
	ts, _ := newActionsServer(t)
	tests := []struct {
		name, query string
		want        []Problem
	}{
		{"instance key", "instanceKey=abc", []Problem{{Name: "instanceKey", Message: `instanceKey="abc" is not a non-negative integer`}}},
		{"state", "state=lost", []Problem{{Name: "state", Message: `state="lost" is not one of ["pending" "delivered" "failed"]`}}},
		{"limit and state", "limit=0&state=x", []Problem{
			{Name: "state", Message: `state="x" is not one of ["pending" "delivered" "failed"]`},
			{Name: "limit", Message: `limit="0" must be an integer from 1 to 1000`},
		}},
		{"cursor", "cursor=%21%21", []Problem{{Name: "cursor"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, eb := getActions(t, ts, tt.query)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", status)
			}
			if len(eb.Problems) != len(tt.want) {
				t.Fatalf("problems %+v, want %+v", eb.Problems, tt.want)
			}
			for i, p := range eb.Problems {
				if p.Name != tt.want[i].Name || (tt.want[i].Message != "" && p.Message != tt.want[i].Message) {
					t.Errorf("problem %d = %+v, want %+v", i, p, tt.want[i])
				}
			}
		})
	}
}
