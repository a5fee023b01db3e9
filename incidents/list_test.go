package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// seed opens incidents through the engine, one minute apart:
// 3 UNKNOWN_MESSAGE OrderPlaced (no model deployed), 2 UNKNOWN_MESSAGE
// InvoiceSent and 1 DECODE_ERROR dead letter. It returns their ids in the
// order they were raised.
func seed(t *testing.T, h *harness) []string {
	t.Helper()
	sends := []string{
		`{"id":"o-1","type":"OrderPlaced","orderId":"A-1","time":"2026-11-03T09:00:00Z","data":{}}`,
		`{"id":"i-1","type":"InvoiceSent","orderId":"A-1","time":"2026-11-03T09:01:00Z"}`,
		`{"id":"o-2","type":"OrderPlaced","orderId":"A-2","time":"2026-11-03T09:02:00Z","data":{}}`,
		`{broken`,
		`{"id":"i-2","type":"InvoiceSent","orderId":"A-2","time":"2026-11-03T09:04:00Z"}`,
		`{"id":"o-3","type":"OrderPlaced","orderId":"A-3","time":"2026-11-03T09:05:00Z","data":{}}`,
	}
	for _, s := range sends {
		if out := h.send(s); out.Result != engine.Uncorrelated {
			t.Fatalf("%s: %+v", s, out)
		}
		h.clock.Add(time.Minute)
	}
	h.sync()
	all := h.list(Filter{})
	if len(all) != len(sends) {
		t.Fatalf("%d incidents, want %d", len(all), len(sends))
	}
	var ids []string
	for i := len(all) - 1; i >= 0; i-- {
		ids = append(ids, all[i].ID)
	}
	return ids
}

func messageIDs(l []Incident) []string {
	var out []string
	for _, inc := range l {
		out = append(out, inc.MessageID)
	}
	return out
}

func TestListFilters(t *testing.T) {
	h := newHarness(t, false)
	seed(t, h)
	if _, err := h.store.Resolve(h.ctx, h.only(Filter{CorrelationKey: "A-2", MessageName: "InvoiceSent"}).ID, ops, "noise"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []string // message ids, newest first
	}{
		{"all", Filter{}, []string{"o-3", "i-2", "orders/0/3", "o-2", "i-1", "o-1"}},
		{"open", Filter{State: StateOpen}, []string{"o-3", "orders/0/3", "o-2", "i-1", "o-1"}},
		{"resolved", Filter{State: StateResolved}, []string{"i-2"}},
		{"reason", Filter{Reason: "DECODE_ERROR"}, []string{"orders/0/3"}},
		{"message name", Filter{MessageName: "OrderPlaced"}, []string{"o-3", "o-2", "o-1"}},
		{"correlation key", Filter{CorrelationKey: "A-1"}, []string{"i-1", "o-1"}},
		{"severity", Filter{Severity: "high"}, []string{"orders/0/3"}},
		{"from", Filter{From: t0.Add(4 * time.Minute)}, []string{"o-3", "i-2"}},
		{"range", Filter{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []string{"o-2", "i-1"}},
		{"combined", Filter{State: StateOpen, MessageName: "InvoiceSent"}, []string{"i-1"}},
		{"nothing", Filter{Reason: "INSTANCE_ENDED"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := messageIDs(h.list(tc.f)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t, false)
	ids := seed(t, h)
	var seen []string
	f := Filter{Limit: 4}
	pages := 0
	for {
		p, err := h.store.List(h.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Items) > 4 {
			t.Fatalf("page of %d items over the limit 4", len(p.Items))
		}
		for _, inc := range p.Items {
			if inc.History != nil {
				t.Fatalf("listed incident %s carries its history", inc.ID)
			}
			seen = append(seen, inc.ID)
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	slices.Reverse(seen)
	if pages != 2 || !slices.Equal(seen, ids) {
		t.Fatalf("%d pages: %v, want 2 pages: %v", pages, seen, ids)
	}
}

func TestFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"ok", Filter{State: StateOpen, Limit: 10, Cursor: "12"}, ""},
		{"state", Filter{State: "closed"}, `state "closed": use open or resolved`},
		{"limit", Filter{Limit: 501}, "limit 501: must be between 1 and 500"},
		{"cursor", Filter{Cursor: "abc"}, `cursor "abc": use the next value of the previous page`},
		{"range", Filter{From: t0, To: t0}, "from 2026-11-03T10:00:00Z must be before to 2026-11-03T10:00:00Z"},
		{"several", Filter{State: "x", Limit: -1}, "state \"x\": use open or resolved\nlimit -1: must be between 1 and 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBulkResolve(t *testing.T) {
	h := newHarness(t, false)
	seed(t, h)
	h.store.opts.BulkMax = 2
	res, err := h.store.ResolveAll(h.ctx, Filter{MessageName: "OrderPlaced"}, ops, "old orders")
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 3 || res.Processed != 2 || res.Resolved != 2 || res.Failed != 0 || !res.Truncated {
		t.Fatalf("first call %+v", res)
	}
	// Oldest first: o-1 and o-2 went, o-3 is left.
	if got := messageIDs(h.list(Filter{State: StateOpen, MessageName: "OrderPlaced"})); !slices.Equal(got, []string{"o-3"}) {
		t.Fatalf("open after the first call: %v", got)
	}
	res, err = h.store.ResolveAll(h.ctx, Filter{MessageName: "OrderPlaced"}, ops, "old orders")
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 1 || res.Resolved != 1 || res.Truncated {
		t.Fatalf("second call %+v", res)
	}
	for _, tc := range []struct {
		name    string
		f       Filter
		comment string
		want    string
	}{
		{"no comment", Filter{}, "", ErrCommentRequired.Error()},
		{"resolved state", Filter{State: StateResolved}, "x", "resolve incidents: bad filter: state resolved: bulk operations work on open incidents"},
		{"over the cap", Filter{Limit: 3}, "x", "resolve incidents: bad filter: limit 3: a bulk operation handles 1 to 2 incidents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.store.ResolveAll(h.ctx, tc.f, ops, tc.comment)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if n, _ := h.store.Count(h.ctx, Filter{State: StateOpen}); n != 3 {
		t.Fatalf("%d open, want 3 (2 InvoiceSent, 1 dead letter)", n)
	}
}

func TestBulkRetry(t *testing.T) {
	h := newHarness(t, false)
	seed(t, h)
	h.deploy()
	res, err := h.store.RetryAll(h.ctx, Filter{}, ops, "model deployed")
	if err != nil {
		t.Fatal(err)
	}
	// The three OrderPlaced start instances; the InvoiceSent are still
	// unknown; the broken record still does not decode.
	if res.Matched != 6 || res.Processed != 6 || res.Resolved != 3 || res.StillOpen != 3 || res.Failed != 0 || res.Truncated {
		t.Fatalf("bulk retry %+v", res)
	}
	outcomes := map[string]int{}
	for _, it := range res.Items {
		outcomes[fmt.Sprintf("%s/%s/%s", it.State, it.Outcome, it.Reason)]++
	}
	want := map[string]int{"resolved/started/": 3, "open/uncorrelated/UNKNOWN_MESSAGE": 2, "open/uncorrelated/DECODE_ERROR": 1}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v", outcomes, want)
	}
	if got := messageIDs(h.list(Filter{State: StateOpen})); !slices.Equal(got, []string{"i-2", "orders/0/3", "i-1"}) {
		t.Fatalf("open after bulk retry: %v", got)
	}
	// Without a correlator there is no retry.
	h.store.opts.Correlator = nil
	if _, err := h.store.RetryAll(h.ctx, Filter{}, ops, ""); !errors.Is(err, ErrNoCorrelator) {
		t.Fatalf("without correlator: %v", err)
	}
}

// A correlator error is recorded in the history; the attempt number stays
// used so the next retry gets a fresh message id.
func TestRetryCorrelatorError(t *testing.T) {
	h := newHarness(t, false)
	h.send(`{"id":"o-1","type":"OrderPlaced","orderId":"A-1"}`)
	h.sync()
	inc := h.only(Filter{})
	h.store.opts.Correlator = failing{}
	_, err := h.store.Retry(h.ctx, inc.ID, ops, "")
	if err == nil || !strings.Contains(err.Error(), "engine is closed") {
		t.Fatalf("err %v", err)
	}
	got, _ := h.store.Get(h.ctx, inc.ID)
	e := got.History[len(got.History)-1]
	if got.State != StateOpen || got.Attempts != 1 || e.Action != ActionRetryFailed || e.Error != "engine is closed" || e.MessageID != "o-1#retry-1" {
		t.Fatalf("incident %s attempts %d, last entry %+v", got.State, got.Attempts, e)
	}
	h.deploy()
	h.store.opts.Correlator = &EngineCorrelator{Engine: h.eng, Clock: h.clock.Now} // rebuilds from stored fields
	res, err := h.store.Retry(h.ctx, inc.ID, ops, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID != "o-1#retry-2" || res.Outcome.Result != engine.Started || res.Incident.State != StateResolved {
		t.Fatalf("second retry %+v", res)
	}
}

type failing struct{}

func (failing) Retry(context.Context, Incident, string) (engine.Outcome, error) {
	return engine.Outcome{}, errors.New("engine is closed")
}
