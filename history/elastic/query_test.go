package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	es "github.com/olivere/elastic/v7"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

// canonJSON renders v with object keys sorted so that results compare as
// JSON documents.
func canonJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(x, "", "  ")
	return string(out)
}

func inst10() history.Instance {
	return historytest.Inst(10, "order", 1, "ORD-4711", t0, `{"orderId":"ORD-4711"}`,
		history.ActiveElement{ElementID: "GoodsShipped", ElementKey: 13, Since: t0.Add(time.Hour)})
}

func inst11() history.Instance {
	in := historytest.Inst(11, "order", 1, "ORD-4712", t0.Add(-time.Minute), `{"orderId":"ORD-4712"}`)
	in.State, in.EndedAt, in.EndElement = history.StateCompleted, t0.Add(time.Hour), "Done"
	return in
}

// TestQueries checks each query's exact request (testdata/exchanges/q-*.http)
// and the parsing of the canned Elasticsearch response into the result.
func TestQueries(t *testing.T) {
	// The cursor after instance 11 in the default order (startedAt desc, key desc).
	after11 := encodeCursor(instanceOrders[history.SortStartedDesc], t0.Add(-time.Minute).UnixMilli(), int64(11))
	stuckRule := history.StuckRule{ProcessID: "order", ElementID: "GoodsShipped", Before: t0.Add(72 * time.Hour)}
	ev1 := historytest.Ev("m1", "OrderPlaced", "ORD-4711", "started", 10, t0, `{"orderId":"ORD-4711","amount":42.5}`)
	ev2 := historytest.Ev("m2", "GoodsShipped", "ORD-4711", "correlated", 10, t0.Add(20*time.Hour), `{"orderId":"ORD-4711","carrier":"DHL"}`)
	tests := []struct {
		name string
		call func(ctx context.Context, b *Backend) (any, error)
		want any
	}{
		{"instance-found", func(ctx context.Context, b *Backend) (any, error) {
			in, found, err := b.Instance(ctx, 10)
			return map[string]any{"found": found, "instance": in}, err
		}, map[string]any{"found": true, "instance": inst10()}},
		{"instance-missing", func(ctx context.Context, b *Backend) (any, error) {
			_, found, err := b.Instance(ctx, 99)
			return found, err
		}, false},
		{"element-instances", func(ctx context.Context, b *Backend) (any, error) {
			return b.ElementInstances(ctx, 10)
		}, []history.ElementInstance{
			historytest.Elem(11, 10, "order", 1, "OrderPlaced", history.ElementCompleted, t0, t0),
			historytest.Elem(13, 10, "order", 1, "GoodsShipped", history.ElementActive, t0.Add(time.Hour), time.Time{}),
		}},
		{"instances-first-page", func(ctx context.Context, b *Backend) (any, error) {
			return b.Instances(ctx, history.InstanceQuery{Limit: 2})
		}, history.Page[history.Instance]{Items: []history.Instance{inst10(), inst11()}, Next: after11}},
		{"instances-filters", func(ctx context.Context, b *Backend) (any, error) {
			return b.Instances(ctx, history.InstanceQuery{
				ProcessID: "order", Version: 1, State: history.StateActive, Element: "GoodsShipped", CorrelationKey: "ORD-4711",
				StartedAfter: t0.Add(-24 * time.Hour), StartedBefore: t0.Add(24 * time.Hour), Q: "ORD-4711 acme",
				Limit: 2, Cursor: after11,
			})
		}, history.Page[history.Instance]{Items: []history.Instance{inst10()}}},
		{"instances-stuck", func(ctx context.Context, b *Backend) (any, error) {
			return b.Instances(ctx, history.InstanceQuery{Sort: history.SortKeyAsc, Stuck: []history.StuckRule{
				stuckRule, {ProcessID: "order", Version: 2, ElementID: "PaymentReceived", Before: t0.Add(48 * time.Hour)},
			}})
		}, history.Page[history.Instance]{Items: []history.Instance{inst10()}}},
		{"instances-search-failed", func(ctx context.Context, b *Backend) (any, error) {
			_, err := b.Instances(ctx, history.InstanceQuery{Q: "x"})
			var e *es.Error
			if !errors.As(err, &e) {
				return nil, err
			}
			return map[string]any{"status": e.Status, "type": e.Details.Type, "error": err.Error()}, nil
		}, map[string]any{"status": 400, "type": "search_phase_execution_exception",
			"error": "list instances: search tracker-instances: elastic: Error 400 (Bad Request): all shards failed [type=search_phase_execution_exception]"}},
		{"events", func(ctx context.Context, b *Backend) (any, error) {
			return b.Events(ctx, history.EventQuery{
				Outcome: "correlated", Reason: "NO_INSTANCE", MessageName: "GoodsShipped", CorrelationKey: "ORD-4711", InstanceKey: 10,
				From: t0, To: t0.Add(48 * time.Hour), Q: "DHL", Sort: history.SortTimeAsc, Limit: 1,
			})
		}, history.Page[history.Event]{Items: []history.Event{ev1}, Next: encodeCursor(eventOrders[history.SortTimeAsc], t0.UnixMilli(), "m1")}},
		{"events-before-first-index", func(ctx context.Context, b *Backend) (any, error) {
			return b.Events(ctx, history.EventQuery{})
		}, history.Page[history.Event]{Items: []history.Event{}}},
		{"events-second-page", func(ctx context.Context, b *Backend) (any, error) {
			return b.Events(ctx, history.EventQuery{Sort: history.SortTimeAsc, Limit: 1,
				Cursor: encodeCursor(eventOrders[history.SortTimeAsc], t0.UnixMilli(), "m1")})
		}, history.Page[history.Event]{Items: []history.Event{ev2}}},
		{"incidents", func(ctx context.Context, b *Backend) (any, error) {
			return b.Incidents(ctx, history.IncidentQuery{State: history.IncidentOpen, Reason: "ELEMENT_ERROR", InstanceKey: 10, ProcessID: "order", Limit: 5})
		}, history.Page[history.Incident]{Items: []history.Incident{{ID: "inc-1", State: history.IncidentOpen, Reason: "ELEMENT_ERROR",
			InstanceKey: 10, ProcessID: "order", Version: 1, ElementID: "GoodsShipped", CreatedAt: t0.Add(2 * time.Hour), Seq: 40}}}},
		{"incidents-by-id", func(ctx context.Context, b *Backend) (any, error) {
			return b.Incidents(ctx, history.IncidentQuery{IDs: []string{"inc-1", "inc-2"}, State: history.IncidentOpen, Limit: history.MaxLimit})
		}, history.Page[history.Incident]{Items: []history.Incident{{ID: "inc-2", State: history.IncidentOpen, Reason: "ACTION_FAILED",
			InstanceKey: 10, ProcessID: "order", Version: 1, ElementID: "DelayNotice", CreatedAt: t0.Add(3 * time.Hour), Seq: 45}}}},
		{"actions", func(ctx context.Context, b *Backend) (any, error) {
			return b.Actions(ctx, history.ActionQuery{InstanceKey: 10, State: "pending"})
		}, history.Page[history.Action]{Items: []history.Action{{ID: "act-1", OutboxSeq: 1, Type: "DelayNotice", InstanceKey: 10, RaisedAt: t0,
			Variables: json.RawMessage(`{"orderId":"ORD-4711"}`), State: "pending", UpdatedAt: t0, Seq: 41}}}},
		{"statistics", func(ctx context.Context, b *Backend) (any, error) {
			return b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order", Version: 1, From: t0, To: t0.Add(24 * time.Hour),
				Stuck: []history.StuckRule{stuckRule}})
		}, history.Statistics{ProcessID: "order", Version: 1, Elements: []history.ElementStatistics{
			{ElementID: "GoodsShipped", Active: 3, Completed: 2, Skipped: 1, Incidents: 1, Stuck: 1,
				DurationMs: history.DurationStats{Count: 2, P50: 3600255, P95: 7200511, Avg: 5400000}},
			{ElementID: "OrderPlaced", Completed: 4, Terminated: 1, DurationMs: history.DurationStats{Count: 4}},
			{ElementID: "Ship", Incidents: 2},
		}}},
		{"cleanup", func(ctx context.Context, b *Backend) (any, error) {
			return b.Cleanup(ctx, t0.Add(90*24*time.Hour))
		}, history.CleanupResult{Instances: 2, Events: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := openFake(t, "q-"+tc.name)
			got, err := tc.call(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := canonJSON(t, got), canonJSON(t, tc.want); g != w {
				t.Errorf("result:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// TestQueriesRejectedWithoutRequest covers queries answered or refused
// before anything is sent.
func TestQueriesRejectedWithoutRequest(t *testing.T) {
	b := openFake(t, "")
	ctx := context.Background()
	otherSort := encodeCursor(instanceOrders[history.SortKeyAsc], int64(3))
	tests := []struct {
		name string
		call func() (any, error)
		want error
	}{
		{"empty stuck rules match nothing", func() (any, error) {
			return b.Instances(ctx, history.InstanceQuery{Stuck: []history.StuckRule{}})
		}, nil},
		{"unknown instance sort", func() (any, error) { return b.Instances(ctx, history.InstanceQuery{Sort: "name"}) }, history.ErrInvalidQuery},
		{"unknown event sort", func() (any, error) { return b.Events(ctx, history.EventQuery{Sort: "size"}) }, history.ErrInvalidQuery},
		{"statistics without process", func() (any, error) { return b.Statistics(ctx, history.StatisticsQuery{}) }, history.ErrInvalidQuery},
		{"cursor not base64", func() (any, error) { return b.Instances(ctx, history.InstanceQuery{Cursor: "not a cursor"}) }, history.ErrInvalidCursor},
		{"cursor of another sort", func() (any, error) { return b.Instances(ctx, history.InstanceQuery{Cursor: otherSort}) }, history.ErrInvalidCursor},
		{"event cursor on instances", func() (any, error) {
			return b.Instances(ctx, history.InstanceQuery{Cursor: encodeCursor(eventOrders[history.SortTimeDesc], int64(1), "a")})
		}, history.ErrInvalidCursor},
		{"cursor with a string for a number", func() (any, error) {
			return b.Events(ctx, history.EventQuery{Cursor: encodeCursor(eventOrders[history.SortTimeDesc], "x", "a")})
		}, history.ErrInvalidCursor},
		{"empty stuck rules still check the cursor", func() (any, error) {
			return b.Instances(ctx, history.InstanceQuery{Stuck: []history.StuckRule{}, Cursor: "e30"})
		}, history.ErrInvalidCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if p := got.(history.Page[history.Instance]); len(p.Items) != 0 || p.Next != "" {
					t.Errorf("page = %+v, want empty", p)
				}
			}
		})
	}
}
