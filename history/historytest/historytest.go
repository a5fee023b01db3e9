// Package historytest is the behavioural suite every [history.Backend] runs
// (the Watermill pubsub/tests pattern): a backend's test calls [Run] with a
// constructor that opens a fresh, empty backend for each subtest.
package historytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// T0 is the base time of every fixture (UTC, whole milliseconds: backends may
// store times at millisecond precision).
var T0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Run runs the suite. open must return a new, empty backend; Run closes it.
func Run(t *testing.T, open func(t *testing.T) history.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b history.Backend)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"ApplyTwice", testApplyTwice},
		{"Upsert", testUpsert},
		{"InstanceFilters", testInstanceFilters},
		{"InstanceSort", testInstanceSort},
		{"InstancePaging", testInstancePaging},
		{"EventFilters", testEventFilters},
		{"EventPaging", testEventPaging},
		{"FullText", testFullText},
		{"Stuck", testStuck},
		{"Statistics", testStatistics},
		{"IncidentsAndActions", testIncidentsAndActions},
		{"Cleanup", testCleanup},
		{"InvalidCursor", testInvalidCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close backend: %v", err)
				}
			})
			tc.fn(t, b)
		})
	}
}

// --- fixture builders ---

// Inst builds an active instance document.
func Inst(key int64, pid string, ver int, ck string, started time.Time, vars string, active ...history.ActiveElement) history.Instance {
	in := history.Instance{
		Key: key, ProcessID: pid, Version: ver, CorrelationKey: ck, State: history.StateActive,
		StartedAt: started, ActiveElements: active, UpdatedAt: started, LastSeq: uint64(key),
	}
	if in.ActiveElements == nil {
		in.ActiveElements = []history.ActiveElement{}
	}
	if vars != "" {
		in.Variables = json.RawMessage(vars)
	}
	return in
}

// Elem builds an element instance; a zero end leaves it active.
func Elem(key, inst int64, pid string, ver int, el, state string, start, end time.Time) history.ElementInstance {
	e := history.ElementInstance{
		Key: key, InstanceKey: inst, ProcessID: pid, Version: ver, ElementID: el, Kind: "receiveTask",
		State: state, StartedAt: start, EndedAt: end, LastSeq: uint64(key),
	}
	if !end.IsZero() {
		e.DurationMs = end.Sub(start).Milliseconds()
	}
	if state == history.ElementSkipped {
		e.Deviation = true
	}
	return e
}

// Ev builds an event document.
func Ev(id, name, ck, outcome string, inst int64, at time.Time, payload string) history.Event {
	e := history.Event{
		ID: id, MessageID: id, MessageName: name, CorrelationKey: ck, Outcome: outcome,
		InstanceKey: inst, EventTime: at, RecordedAt: at.Add(time.Second), Source: "orders",
		Topic: "orders", Partition: 1, Offset: 7,
	}
	if inst != 0 {
		e.ProcessID, e.Version = "order", 1
	}
	if payload != "" {
		e.Payload = json.RawMessage(payload)
	}
	return e
}

func apply(t *testing.T, b history.Backend, batch *history.Batch) {
	t.Helper()
	ctx := context.Background()
	if err := b.Apply(ctx, batch); err != nil {
		t.Fatalf("apply batch %d: %v", batch.Checkpoint, err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// canon renders v as canonical JSON (object keys sorted, raw JSON normalised).
func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	out, _ := json.MarshalIndent(x, "", " ")
	return string(out)
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := canon(t, got), canon(t, want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func instKeys(p history.Page[history.Instance]) []int64 {
	out := []int64{}
	for _, in := range p.Items {
		out = append(out, in.Key)
	}
	return out
}

func eventIDs(p history.Page[history.Event]) []string {
	out := []string{}
	for _, e := range p.Items {
		out = append(out, e.ID)
	}
	return out
}

// --- tests ---

func testEmpty(t *testing.T, b history.Backend) {
	ctx := context.Background()
	cp, err := b.Checkpoint(ctx)
	if err != nil || cp != 0 {
		t.Fatalf("Checkpoint of an empty store = %d, %v; want 0, nil", cp, err)
	}
	if _, found, err := b.Instance(ctx, 1); err != nil || found {
		t.Fatalf("Instance(1) on an empty store: found=%v err=%v", found, err)
	}
	p, err := b.Instances(ctx, history.InstanceQuery{})
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Fatalf("Instances on an empty store = %+v, %v", p, err)
	}
	ev, err := b.Events(ctx, history.EventQuery{})
	if err != nil || len(ev.Items) != 0 {
		t.Fatalf("Events on an empty store = %+v, %v", ev, err)
	}
	st, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order"})
	if err != nil || len(st.Elements) != 0 {
		t.Fatalf("Statistics on an empty store = %+v, %v", st, err)
	}
}

func roundTripBatch() *history.Batch {
	in := Inst(10, "order", 1, "ORD-4711", T0, `{"orderId":"ORD-4711","amount":42.5,"customer":{"name":"Acme"}}`,
		history.ActiveElement{ElementID: "GoodsShipped", ElementKey: 13, Since: T0.Add(time.Hour)})
	in.Deviations, in.Incidents, in.Events = 1, 1, 2
	due := T0.Add(14 * 24 * time.Hour)
	return &history.Batch{
		Checkpoint: 42,
		Instances:  []history.Instance{in},
		Elements: []history.ElementInstance{
			Elem(11, 10, "order", 1, "OrderPlaced", history.ElementCompleted, T0, T0),
			Elem(12, 10, "order", 1, "PaymentReceived", history.ElementSkipped, T0.Add(time.Hour), T0.Add(time.Hour)),
			Elem(13, 10, "order", 1, "GoodsShipped", history.ElementActive, T0.Add(time.Hour), time.Time{}),
		},
		Events: []history.Event{
			Ev("m1", "OrderPlaced", "ORD-4711", "started", 10, T0, `{"orderId":"ORD-4711","amount":42.5}`),
			Ev("m2", "GoodsShipped", "ORD-4711", "correlated", 10, T0.Add(time.Hour), `{"orderId":"ORD-4711","carrier":"DHL"}`),
		},
		Incidents: []history.Incident{{
			ID: "inc-1", State: history.IncidentOpen, Reason: "ELEMENT_ERROR", Severity: "high", Detail: "boom",
			InstanceKey: 10, ProcessID: "order", Version: 1, ElementID: "GoodsShipped", CorrelationKey: "ORD-4711",
			CreatedAt: T0.Add(2 * time.Hour), Seq: 40,
		}},
		Actions: []history.Action{{
			ID: "act-1", OutboxSeq: 1, Type: "DelayNotice", Target: "commands", ProcessID: "order", Version: 1,
			InstanceKey: 10, CorrelationKey: "ORD-4711", ElementID: "Delay", RaisedAt: due, DueAt: due,
			Variables: json.RawMessage(`{"orderId":"ORD-4711"}`), Headers: map[string]string{"h": "v"},
			State: "pending", UpdatedAt: due, Seq: 41,
		}},
	}
}

func testRoundTrip(t *testing.T, b history.Backend) {
	ctx := context.Background()
	batch := roundTripBatch()
	apply(t, b, batch)
	cp, err := b.Checkpoint(ctx)
	if err != nil || cp != 42 {
		t.Fatalf("Checkpoint = %d, %v; want 42", cp, err)
	}
	in, found, err := b.Instance(ctx, 10)
	if err != nil || !found {
		t.Fatalf("Instance(10): found=%v err=%v", found, err)
	}
	sameJSON(t, "instance 10", in, batch.Instances[0])
	els, err := b.ElementInstances(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "element instances of 10", els, batch.Elements)
	ev, err := b.Events(ctx, history.EventQuery{InstanceKey: 10, Sort: history.SortTimeAsc})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "events of 10", ev.Items, batch.Events)
	inc, err := b.Incidents(ctx, history.IncidentQuery{InstanceKey: 10})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "incidents of 10", inc.Items, batch.Incidents)
	acts, err := b.Actions(ctx, history.ActionQuery{InstanceKey: 10})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "actions of 10", acts.Items, batch.Actions)
	if els, err := b.ElementInstances(ctx, 999); err != nil || len(els) != 0 {
		t.Errorf("ElementInstances(999) = %v, %v; want none", els, err)
	}
}

func testApplyTwice(t *testing.T, b history.Backend) {
	ctx := context.Background()
	apply(t, b, roundTripBatch())
	before, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order"})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, b, roundTripBatch())
	after, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order"})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "statistics after applying the same batch twice", after, before)
	p, err := b.Instances(ctx, history.InstanceQuery{})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("instances after applying twice = %v, %v; want one", instKeys(p), err)
	}
	ev, err := b.Events(ctx, history.EventQuery{})
	if err != nil || len(ev.Items) != 2 {
		t.Fatalf("events after applying twice = %v, %v; want two", eventIDs(ev), err)
	}
	var completed int64
	for _, e := range after.Elements {
		completed += e.Completed
	}
	if completed != 1 {
		t.Errorf("completed element instances = %d, want 1", completed)
	}
}

func testUpsert(t *testing.T, b history.Backend) {
	ctx := context.Background()
	apply(t, b, roundTripBatch())
	in := roundTripBatch().Instances[0]
	in.State, in.EndedAt, in.EndElement = history.StateCompleted, T0.Add(5*time.Hour), "Done"
	in.ActiveElements = []history.ActiveElement{}
	in.LastSeq = 50
	el := Elem(13, 10, "order", 1, "GoodsShipped", history.ElementCompleted, T0.Add(time.Hour), T0.Add(3*time.Hour))
	ev := Ev("m2", "GoodsShipped", "ORD-4711", "duplicate", 10, T0.Add(time.Hour), `{"orderId":"ORD-4711","carrier":"UPS"}`)
	apply(t, b, &history.Batch{Checkpoint: 50, Instances: []history.Instance{in}, Elements: []history.ElementInstance{el}, Events: []history.Event{ev}})
	got, _, err := b.Instance(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "replaced instance", got, in)
	if p, err := b.Instances(ctx, history.InstanceQuery{State: history.StateActive}); err != nil || len(p.Items) != 0 {
		t.Errorf("active instances after completion = %v, %v; want none", instKeys(p), err)
	}
	if p, err := b.Instances(ctx, history.InstanceQuery{Element: "GoodsShipped"}); err != nil || len(p.Items) != 0 {
		t.Errorf("instances at GoodsShipped after completion = %v, %v; want none", instKeys(p), err)
	}
	evs, err := b.Events(ctx, history.EventQuery{Outcome: "duplicate"})
	if err != nil || !slices.Equal(eventIDs(evs), []string{"m2"}) {
		t.Fatalf("duplicate events = %v, %v; want [m2]", eventIDs(evs), err)
	}
	sameJSON(t, "replaced event", evs.Items[0], ev)
	if evs, _ := b.Events(ctx, history.EventQuery{Q: "DHL"}); len(evs.Items) != 0 {
		t.Errorf("the old payload of a replaced event is still searchable: %v", eventIDs(evs))
	}
	if evs, _ := b.Events(ctx, history.EventQuery{Q: "UPS"}); !slices.Equal(eventIDs(evs), []string{"m2"}) {
		t.Errorf("the new payload of a replaced event is not searchable: %v", eventIDs(evs))
	}
	st, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order"})
	if err != nil {
		t.Fatal(err)
	}
	gs := findElem(st, "GoodsShipped")
	if gs.Active != 0 || gs.Completed != 1 || gs.DurationMs.Count != 1 {
		t.Errorf("GoodsShipped after completion = %+v; want active 0, completed 1 with one duration", gs)
	}
	if !within(gs.DurationMs.Avg, float64(2*time.Hour/time.Millisecond), 0.001) {
		t.Errorf("GoodsShipped avg = %v ms, want 7200000", gs.DurationMs.Avg)
	}
	if cp, _ := b.Checkpoint(ctx); cp != 50 {
		t.Errorf("Checkpoint = %d, want 50", cp)
	}
}

// population is a set of instances for the filter, paging and stuck tests:
// keys 1..n, instance i started at T0+i minutes, every third completed, the
// others waiting at GoodsShipped (even) or PaymentReceived (odd) since
// started+1h; version 2 for keys > n/2; process "other" for keys divisible by 10.
func population(n int) *history.Batch {
	b := &history.Batch{Checkpoint: uint64(n)}
	for i := 1; i <= n; i++ {
		k := int64(i)
		pid := "order"
		if i%10 == 0 {
			pid = "other"
		}
		ver := 1
		if i > n/2 {
			ver = 2
		}
		start := T0.Add(time.Duration(i) * time.Minute)
		el := "PaymentReceived"
		if i%2 == 0 {
			el = "GoodsShipped"
		}
		vars := fmt.Sprintf(`{"orderId":"ORD-%d","customer":"cust%d"}`, 1000+i, i%4)
		in := Inst(k, pid, ver, fmt.Sprintf("ORD-%d", 1000+i), start, vars)
		ek := k*100 + 1
		if i%3 == 0 {
			in.State, in.EndedAt = history.StateCompleted, start.Add(2*time.Hour)
			b.Elements = append(b.Elements, Elem(ek, k, pid, ver, el, history.ElementCompleted, start.Add(time.Hour), start.Add(2*time.Hour)))
		} else {
			in.ActiveElements = []history.ActiveElement{{ElementID: el, ElementKey: ek, Since: start.Add(time.Hour)}}
			b.Elements = append(b.Elements, Elem(ek, k, pid, ver, el, history.ElementActive, start.Add(time.Hour), time.Time{}))
		}
		b.Instances = append(b.Instances, in)
	}
	return b
}

// expect computes the expected keys of a query over population(n) by brute force.
func expect(n int, keep func(i int, pid string, ver int, state, el string, start time.Time) bool, desc bool) []int64 {
	out := []int64{}
	for i := 1; i <= n; i++ {
		pid := "order"
		if i%10 == 0 {
			pid = "other"
		}
		ver := 1
		if i > n/2 {
			ver = 2
		}
		state, el := history.StateActive, "PaymentReceived"
		if i%2 == 0 {
			el = "GoodsShipped"
		}
		if i%3 == 0 {
			state = history.StateCompleted
		}
		if keep(i, pid, ver, state, el, T0.Add(time.Duration(i)*time.Minute)) {
			out = append(out, int64(i))
		}
	}
	if desc {
		slices.Reverse(out)
	}
	return out
}

func testInstanceFilters(t *testing.T, b history.Backend) {
	const n = 60
	apply(t, b, population(n))
	type keep = func(i int, pid string, ver int, state, el string, start time.Time) bool
	tests := []struct {
		name string
		q    history.InstanceQuery
		keep keep
	}{
		{"all", history.InstanceQuery{}, func(int, string, int, string, string, time.Time) bool { return true }},
		{"processId", history.InstanceQuery{ProcessID: "other"}, func(_ int, pid string, _ int, _, _ string, _ time.Time) bool { return pid == "other" }},
		{"version", history.InstanceQuery{ProcessID: "order", Version: 2}, func(_ int, pid string, v int, _, _ string, _ time.Time) bool { return pid == "order" && v == 2 }},
		{"state active", history.InstanceQuery{State: history.StateActive}, func(_ int, _ string, _ int, s, _ string, _ time.Time) bool { return s == history.StateActive }},
		{"state completed", history.InstanceQuery{State: history.StateCompleted}, func(_ int, _ string, _ int, s, _ string, _ time.Time) bool { return s == history.StateCompleted }},
		{"element", history.InstanceQuery{Element: "GoodsShipped"}, func(_ int, _ string, _ int, s, el string, _ time.Time) bool {
			return s == history.StateActive && el == "GoodsShipped"
		}},
		{"element and process", history.InstanceQuery{Element: "PaymentReceived", ProcessID: "order"}, func(_ int, pid string, _ int, s, el string, _ time.Time) bool {
			return pid == "order" && s == history.StateActive && el == "PaymentReceived"
		}},
		{"correlationKey", history.InstanceQuery{CorrelationKey: "ORD-1007"}, func(i int, _ string, _ int, _, _ string, _ time.Time) bool { return i == 7 }},
		{"started range", history.InstanceQuery{StartedAfter: T0.Add(10 * time.Minute), StartedBefore: T0.Add(20 * time.Minute)},
			func(_ int, _ string, _ int, _, _ string, s time.Time) bool {
				return !s.Before(T0.Add(10*time.Minute)) && s.Before(T0.Add(20*time.Minute))
			}},
		{"no match", history.InstanceQuery{ProcessID: "nope"}, func(int, string, int, string, string, time.Time) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = history.MaxLimit
			p, err := b.Instances(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want := expect(n, tc.keep, true)
			if got := instKeys(p); !slices.Equal(got, want) {
				t.Errorf("keys = %v\nwant  %v", got, want)
			}
			if p.Next != "" {
				t.Errorf("Next = %q on the only page", p.Next)
			}
		})
	}
}

func testInstanceSort(t *testing.T, b history.Backend) {
	const n = 12
	pop := population(n)
	// Reverse start order against keys so the two sorts differ.
	for i := range pop.Instances {
		pop.Instances[i].StartedAt = T0.Add(time.Duration(n-i) * time.Minute)
	}
	apply(t, b, pop)
	for _, tc := range []struct {
		sort string
		want []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{history.SortStartedDesc, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{history.SortStartedAsc, []int64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{history.SortKeyAsc, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{history.SortKeyDesc, []int64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
	} {
		t.Run("sort="+tc.sort, func(t *testing.T) {
			var got []int64
			q := history.InstanceQuery{Sort: tc.sort, Limit: 5}
			for range 10 {
				p, err := b.Instances(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, instKeys(p)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := b.Instances(context.Background(), history.InstanceQuery{Sort: "name"}); !errors.Is(err, history.ErrInvalidQuery) {
		t.Errorf("unknown sort: err = %v, want ErrInvalidQuery", err)
	}
}

func testInstancePaging(t *testing.T, b history.Backend) {
	const n = 45
	apply(t, b, population(n))
	ctx := context.Background()
	var got []int64
	q := history.InstanceQuery{Limit: 10}
	extra := int64(1000)
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("paging does not end")
		}
		p, err := b.Instances(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > 10 {
			t.Fatalf("page %d has %d items, limit 10", page, len(p.Items))
		}
		got = append(got, instKeys(p)...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
		// Inserts between pages: one newer than everything (belongs before
		// the pages already read), one with the same start time as the last
		// item read (ties are broken by key).
		last := p.Items[len(p.Items)-1]
		extra++
		newer := Inst(extra, "order", 1, fmt.Sprintf("NEW-%d", extra), T0.Add(24*time.Hour), "")
		extra++
		tie := Inst(extra, "order", 1, fmt.Sprintf("TIE-%d", extra), last.StartedAt, "")
		apply(t, b, &history.Batch{Checkpoint: uint64(100 + page), Instances: []history.Instance{newer, tie}})
	}
	want := expect(n, func(int, string, int, string, string, time.Time) bool { return true }, true)
	if !slices.Equal(got, want) {
		t.Errorf("paged keys = %v\nwant        %v", got, want)
	}
}

func eventPopulation() *history.Batch {
	b := &history.Batch{Checkpoint: 9}
	add := func(e history.Event) { b.Events = append(b.Events, e) }
	add(Ev("e1", "OrderPlaced", "ORD-1", "started", 1, T0, `{"orderId":"ORD-1","item":"kettle"}`))
	add(Ev("e2", "PaymentReceived", "ORD-1", "correlated", 1, T0.Add(time.Minute), `{"orderId":"ORD-1","amount":10}`))
	e3 := Ev("e3", "GoodsShipped", "ORD-9", "uncorrelated", 0, T0.Add(2*time.Minute), `{"orderId":"ORD-9"}`)
	e3.Reason, e3.Decision, e3.Severity, e3.RuleID = "NO_INSTANCE", "incident", "medium", "r1"
	add(e3)
	e4 := Ev("e4", "Unknown", "ORD-2", "uncorrelated", 0, T0.Add(3*time.Minute), `{"note":"stray kettle"}`)
	e4.Reason, e4.Decision = "UNKNOWN_MESSAGE", "ignore"
	add(e4)
	e5 := Ev("e5", "GoodsShipped", "ORD-3", "buffered", 0, T0.Add(4*time.Minute), `{"orderId":"ORD-3"}`)
	e5.Reason = "NO_INSTANCE"
	add(e5)
	add(Ev("e1#dup9", "OrderPlaced", "ORD-1", "duplicate", 1, T0.Add(5*time.Minute), `{"orderId":"ORD-1","item":"kettle"}`))
	return b
}

func testEventFilters(t *testing.T, b history.Backend) {
	apply(t, b, eventPopulation())
	tests := []struct {
		name string
		q    history.EventQuery
		want []string
	}{
		{"all newest first", history.EventQuery{}, []string{"e1#dup9", "e5", "e4", "e3", "e2", "e1"}},
		{"oldest first", history.EventQuery{Sort: history.SortTimeAsc}, []string{"e1", "e2", "e3", "e4", "e5", "e1#dup9"}},
		{"outcome", history.EventQuery{Outcome: "uncorrelated"}, []string{"e4", "e3"}},
		{"reason", history.EventQuery{Reason: "NO_INSTANCE"}, []string{"e5", "e3"}},
		{"messageName", history.EventQuery{MessageName: "GoodsShipped"}, []string{"e5", "e3"}},
		{"correlationKey", history.EventQuery{CorrelationKey: "ORD-1"}, []string{"e1#dup9", "e2", "e1"}},
		{"instanceKey", history.EventQuery{InstanceKey: 1, Sort: history.SortTimeAsc}, []string{"e1", "e2", "e1#dup9"}},
		{"time range", history.EventQuery{From: T0.Add(time.Minute), To: T0.Add(3 * time.Minute)}, []string{"e3", "e2"}},
		{"combined", history.EventQuery{Outcome: "uncorrelated", Reason: "UNKNOWN_MESSAGE"}, []string{"e4"}},
		{"q", history.EventQuery{Q: "kettle"}, []string{"e1#dup9", "e4", "e1"}},
		{"q and outcome", history.EventQuery{Q: "kettle", Outcome: "started"}, []string{"e1"}},
		{"none", history.EventQuery{MessageName: "Nope"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Events(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := eventIDs(p); !slices.Equal(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := b.Events(context.Background(), history.EventQuery{Sort: "size"}); !errors.Is(err, history.ErrInvalidQuery) {
		t.Errorf("unknown sort: err = %v, want ErrInvalidQuery", err)
	}
}

func testEventPaging(t *testing.T, b history.Backend) {
	batch := &history.Batch{Checkpoint: 1}
	var want []string
	for i := range 23 {
		// Pairs share an event time so the tie-break is exercised.
		id := fmt.Sprintf("ev-%02d", i)
		batch.Events = append(batch.Events, Ev(id, "OrderPlaced", "ORD-1", "correlated", 1, T0.Add(time.Duration(i/2)*time.Second), ""))
		want = append(want, id)
	}
	apply(t, b, batch)
	for _, asc := range []bool{true, false} {
		q := history.EventQuery{Limit: 4, Sort: history.SortTimeAsc}
		if !asc {
			q.Sort = history.SortTimeDesc
		}
		var got []string
		for page := 0; page < 20; page++ {
			p, err := b.Events(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, eventIDs(p)...)
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		sort.Strings(got)
		seen := slices.Compact(slices.Clone(got))
		if len(seen) != len(got) || !slices.Equal(got, want) {
			t.Errorf("sort %s: paged ids (sorted) = %v, want each of %v once", q.Sort, got, want)
		}
	}
}

func testFullText(t *testing.T, b history.Backend) {
	apply(t, b, population(20))
	apply(t, b, roundTripBatch()) // replaces population's instance 10
	ctx := context.Background()
	for _, tc := range []struct {
		q    string
		want []int64
	}{
		{"Acme", []int64{10}},
		{"acme", []int64{10}},
		{"ORD-4711", []int64{10}},
		{"4711", []int64{10}},
		{"cust3", []int64{19, 15, 11, 7, 3}},
		{"cust3 ORD-1007", []int64{7}},
		{"nothing-like-this", []int64{}},
	} {
		t.Run(tc.q, func(t *testing.T) {
			p, err := b.Instances(ctx, history.InstanceQuery{Q: tc.q})
			if err != nil {
				t.Fatal(err)
			}
			if got := instKeys(p); !slices.Equal(got, tc.want) {
				t.Errorf("Instances(q=%q) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	p, err := b.Events(ctx, history.EventQuery{Q: "DHL"})
	if err != nil || !slices.Equal(eventIDs(p), []string{"m2"}) {
		t.Errorf("Events(q=DHL) = %v, %v; want [m2]", eventIDs(p), err)
	}
	p, err = b.Events(ctx, history.EventQuery{Q: "GoodsShipped"})
	if err != nil || !slices.Equal(eventIDs(p), []string{"m2"}) {
		t.Errorf("Events(q=GoodsShipped) = %v, %v; want [m2] (message names are searchable)", eventIDs(p), err)
	}
}

func testStuck(t *testing.T, b history.Backend) {
	const n = 40
	apply(t, b, population(n))
	ctx := context.Background()
	// Instance i waits since T0 + i min + 1 h.
	cut := T0.Add(time.Hour + 20*time.Minute)
	tests := []struct {
		name  string
		q     history.InstanceQuery
		want  []int64
		stats bool // also check the per-element stuck counts of Statistics
	}{
		{"one rule", history.InstanceQuery{Stuck: []history.StuckRule{{ProcessID: "order", ElementID: "GoodsShipped", Before: cut}}},
			expect(n, func(i int, pid string, _ int, s, el string, _ time.Time) bool {
				return pid == "order" && s == history.StateActive && el == "GoodsShipped" && i < 20
			}, true), true},
		{"two rules", history.InstanceQuery{Stuck: []history.StuckRule{
			{ProcessID: "order", ElementID: "GoodsShipped", Before: cut},
			{ProcessID: "order", ElementID: "PaymentReceived", Before: T0.Add(time.Hour + 5*time.Minute)},
		}}, expect(n, func(i int, pid string, _ int, s, el string, _ time.Time) bool {
			return pid == "order" && s == history.StateActive && ((el == "GoodsShipped" && i < 20) || (el == "PaymentReceived" && i < 5))
		}, true), true},
		{"version rule", history.InstanceQuery{Stuck: []history.StuckRule{{ProcessID: "order", Version: 2, ElementID: "GoodsShipped", Before: T0.Add(48 * time.Hour)}}},
			expect(n, func(i int, pid string, v int, s, el string, _ time.Time) bool {
				return pid == "order" && v == 2 && s == history.StateActive && el == "GoodsShipped"
			}, true), true},
		{"with element filter", history.InstanceQuery{Element: "PaymentReceived", Stuck: []history.StuckRule{{ProcessID: "order", ElementID: "GoodsShipped", Before: cut}}},
			[]int64{}, false},
		{"with start range", history.InstanceQuery{StartedAfter: T0.Add(10 * time.Minute), Stuck: []history.StuckRule{{ProcessID: "order", ElementID: "GoodsShipped", Before: cut}}},
			expect(n, func(i int, pid string, _ int, s, el string, _ time.Time) bool {
				return pid == "order" && s == history.StateActive && el == "GoodsShipped" && i >= 10 && i < 20
			}, true), false},
		{"oldest first", history.InstanceQuery{Sort: history.SortStartedAsc, Stuck: []history.StuckRule{{ProcessID: "order", ElementID: "GoodsShipped", Before: cut}}},
			expect(n, func(i int, pid string, _ int, s, el string, _ time.Time) bool {
				return pid == "order" && s == history.StateActive && el == "GoodsShipped" && i < 20
			}, false), false},
		{"empty rules", history.InstanceQuery{Stuck: []history.StuckRule{}}, []int64{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = history.MaxLimit
			p, err := b.Instances(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := instKeys(p); !slices.Equal(got, tc.want) {
				t.Errorf("stuck keys = %v\nwant        %v", got, tc.want)
			}
			// The same listing two at a time.
			var paged []int64
			pq := tc.q
			pq.Limit = 2
			for range 50 {
				p, err := b.Instances(ctx, pq)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, instKeys(p)...)
				if pq.Cursor = p.Next; pq.Cursor == "" {
					break
				}
			}
			if !slices.Equal(paged, tc.want) {
				t.Errorf("stuck keys paged by two = %v\nwant                     %v", paged, tc.want)
			}
			if !tc.stats {
				return
			}
			// population: even keys wait at GoodsShipped, odd ones at PaymentReceived.
			want := map[string]int64{}
			for _, k := range tc.want {
				want[[]string{"GoodsShipped", "PaymentReceived"}[k%2]]++
			}
			st, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order", Stuck: tc.q.Stuck})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range st.Elements {
				if e.Stuck != want[e.ElementID] {
					t.Errorf("statistics: %s stuck = %d, want %d", e.ElementID, e.Stuck, want[e.ElementID])
				}
			}
		})
	}
}

func findElem(st history.Statistics, id string) history.ElementStatistics {
	for _, e := range st.Elements {
		if e.ElementID == id {
			return e
		}
	}
	return history.ElementStatistics{ElementID: id}
}

func within(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+1e-9
}

func testStatistics(t *testing.T, b history.Backend) {
	ctx := context.Background()
	batch := &history.Batch{Checkpoint: 7}
	// "Pack": durations 1..200 s for version 1 (entered on day 0), 1000 s for
	// twenty of version 2 (entered on day 1); 3 active, 4 skipped, 2 terminated.
	var durs []float64
	key := int64(0)
	add := func(ver int, el, state string, start time.Time, d time.Duration) {
		key++
		var end time.Time
		if state != history.ElementActive {
			end = start.Add(d)
		}
		batch.Elements = append(batch.Elements, Elem(key, key, "order", ver, el, state, start, end))
	}
	for i := 1; i <= 200; i++ {
		add(1, "Pack", history.ElementCompleted, T0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second)
		durs = append(durs, float64(i*1000))
	}
	for range 20 {
		add(2, "Pack", history.ElementCompleted, T0.Add(24*time.Hour), 1000*time.Second)
	}
	for range 3 {
		add(1, "Pack", history.ElementActive, T0.Add(2*time.Hour), 0)
	}
	for range 4 {
		add(1, "Pack", history.ElementSkipped, T0.Add(3*time.Hour), 0)
	}
	for range 2 {
		add(2, "Pack", history.ElementTerminated, T0.Add(25*time.Hour), time.Minute)
	}
	add(1, "Ship", history.ElementActive, T0.Add(time.Hour), 0)
	add(1, "Ship", history.ElementActive, T0.Add(30*time.Hour), 0)
	// Another process must not count.
	batch.Elements = append(batch.Elements, Elem(9999, 9999, "other", 1, "Pack", history.ElementCompleted, T0, T0.Add(time.Hour)))
	batch.Incidents = []history.Incident{
		{ID: "i1", State: history.IncidentOpen, Reason: "ELEMENT_ERROR", InstanceKey: 1, ProcessID: "order", Version: 1, ElementID: "Ship", CreatedAt: T0},
		{ID: "i2", State: history.IncidentOpen, Reason: "ELEMENT_ERROR", InstanceKey: 2, ProcessID: "order", Version: 1, ElementID: "Ship", CreatedAt: T0},
		{ID: "i3", State: history.IncidentResolved, Reason: "ELEMENT_ERROR", InstanceKey: 3, ProcessID: "order", Version: 1, ElementID: "Ship", CreatedAt: T0},
	}
	apply(t, b, batch)

	all, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := []string{}; true {
		for _, e := range all.Elements {
			ids = append(ids, e.ElementID)
		}
		if !slices.Equal(ids, []string{"Pack", "Ship"}) {
			t.Fatalf("statistics elements = %v, want [Pack Ship]", ids)
		}
	}
	pack := findElem(all, "Pack")
	if pack.Active != 3 || pack.Completed != 220 || pack.Skipped != 4 || pack.Terminated != 2 || pack.DurationMs.Count != 220 {
		t.Errorf("Pack counts = %+v", pack)
	}
	all220 := slices.Clone(durs)
	for range 20 {
		all220 = append(all220, 1e6)
	}
	checkDur(t, "Pack all versions", pack.DurationMs, all220)
	ship := findElem(all, "Ship")
	if ship.Active != 2 || ship.Incidents != 2 || ship.Completed != 0 || ship.DurationMs.Count != 0 {
		t.Errorf("Ship = %+v; want active 2, incidents 2 (open only), nothing completed", ship)
	}

	v1, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	p1 := findElem(v1, "Pack")
	if p1.Completed != 200 || p1.Terminated != 0 || p1.Active != 3 {
		t.Errorf("Pack version 1 = %+v; want 200 completed, 0 terminated, 3 active", p1)
	}
	checkDur(t, "Pack version 1", p1.DurationMs, durs)

	day1, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order", From: T0.Add(24 * time.Hour), To: T0.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pd := findElem(day1, "Pack")
	if pd.Completed != 20 || pd.Terminated != 2 || pd.Active != 0 || pd.Skipped != 0 {
		t.Errorf("Pack on day 1 = %+v; want 20 completed, 2 terminated", pd)
	}
	checkDur(t, "Pack on day 1", pd.DurationMs, slices.Repeat([]float64{1e6}, 20))
	if s := findElem(day1, "Ship"); s.Active != 1 {
		t.Errorf("Ship on day 1 active = %d, want 1", s.Active)
	}
	if _, err := b.Statistics(ctx, history.StatisticsQuery{}); !errors.Is(err, history.ErrInvalidQuery) {
		t.Errorf("Statistics without ProcessID: err = %v, want ErrInvalidQuery", err)
	}
}

func checkDur(t *testing.T, what string, got history.DurationStats, samples []float64) {
	t.Helper()
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	avg := sum / float64(len(s))
	pct := func(p float64) float64 { return s[int(math.Ceil(p*float64(len(s))))-1] }
	if got.Count != int64(len(s)) {
		t.Errorf("%s: count = %d, want %d", what, got.Count, len(s))
	}
	if !within(got.Avg, avg, 0.001) {
		t.Errorf("%s: avg = %v, want %v", what, got.Avg, avg)
	}
	if !within(got.P50, pct(0.5), 0.05) {
		t.Errorf("%s: p50 = %v, want %v ± 5%%", what, got.P50, pct(0.5))
	}
	if !within(got.P95, pct(0.95), 0.05) {
		t.Errorf("%s: p95 = %v, want %v ± 5%%", what, got.P95, pct(0.95))
	}
}

func testIncidentsAndActions(t *testing.T, b history.Backend) {
	ctx := context.Background()
	batch := &history.Batch{Checkpoint: 3}
	for i := range 7 {
		state := history.IncidentOpen
		if i%3 == 0 {
			state = history.IncidentResolved
		}
		reason := "NO_INSTANCE"
		if i%2 == 0 {
			reason = "ELEMENT_ERROR"
		}
		batch.Incidents = append(batch.Incidents, history.Incident{
			ID: fmt.Sprintf("inc-%d", i), State: state, Reason: reason, InstanceKey: int64(i % 2), CreatedAt: T0.Add(time.Duration(i) * time.Minute),
		})
		batch.Actions = append(batch.Actions, history.Action{
			ID: fmt.Sprintf("act-%d", i), OutboxSeq: uint64(i + 1), Type: "CancelOrderCommand", InstanceKey: int64(i % 2), State: []string{"pending", "delivered"}[i%2],
			RaisedAt: T0.Add(time.Duration(i) * time.Minute), UpdatedAt: T0,
		})
	}
	apply(t, b, batch)
	ids := func(p history.Page[history.Incident]) []string {
		out := []string{}
		for _, x := range p.Items {
			out = append(out, x.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    history.IncidentQuery
		want []string
	}{
		{"all", history.IncidentQuery{}, []string{"inc-6", "inc-5", "inc-4", "inc-3", "inc-2", "inc-1", "inc-0"}},
		{"open", history.IncidentQuery{State: history.IncidentOpen}, []string{"inc-5", "inc-4", "inc-2", "inc-1"}},
		{"reason", history.IncidentQuery{Reason: "NO_INSTANCE"}, []string{"inc-5", "inc-3", "inc-1"}},
		{"instance", history.IncidentQuery{InstanceKey: 1, State: history.IncidentOpen}, []string{"inc-5", "inc-1"}},
		{"ids", history.IncidentQuery{IDs: []string{"inc-1", "inc-3", "inc-4", "inc-404"}}, []string{"inc-4", "inc-3", "inc-1"}},
		{"open ids", history.IncidentQuery{IDs: []string{"inc-1", "inc-3", "inc-4"}, State: history.IncidentOpen}, []string{"inc-4", "inc-1"}},
	} {
		t.Run("incidents "+tc.name, func(t *testing.T) {
			p, err := b.Incidents(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); !slices.Equal(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
	// An incident resolved later: the document is replaced, with its time.
	resolved := batch.Incidents[4]
	resolved.State, resolved.ResolvedAt = history.IncidentResolved, T0.Add(time.Hour)
	apply(t, b, &history.Batch{Checkpoint: 3, Incidents: []history.Incident{resolved}})
	p, err := b.Incidents(ctx, history.IncidentQuery{IDs: []string{"inc-4"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("incident inc-4: %d found", len(p.Items))
	}
	sameJSON(t, "resolved incident", p.Items[0], resolved)
	if _, err := b.Incidents(ctx, history.IncidentQuery{IDs: make([]string, history.MaxLimit+1)}); !errors.Is(err, history.ErrInvalidQuery) {
		t.Errorf("more than MaxLimit ids: err = %v, want ErrInvalidQuery", err)
	}

	var got []string
	q := history.IncidentQuery{Limit: 3}
	for range 5 {
		p, err := b.Incidents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p)...)
		if q.Cursor = p.Next; q.Cursor == "" {
			break
		}
	}
	if !slices.Equal(got, []string{"inc-6", "inc-5", "inc-4", "inc-3", "inc-2", "inc-1", "inc-0"}) {
		t.Errorf("paged incidents = %v", got)
	}
	acts, err := b.Actions(ctx, history.ActionQuery{InstanceKey: 1})
	if err != nil {
		t.Fatal(err)
	}
	var aids []string
	for _, a := range acts.Items {
		aids = append(aids, a.ID)
	}
	if !slices.Equal(aids, []string{"act-5", "act-3", "act-1"}) {
		t.Errorf("actions of instance 1 = %v", aids)
	}
	acts, err = b.Actions(ctx, history.ActionQuery{State: "pending", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	aids = nil
	for _, a := range acts.Items {
		aids = append(aids, a.ID)
	}
	if !slices.Equal(aids, []string{"act-6", "act-4"}) || acts.Next == "" {
		t.Errorf("first page of pending actions = %v next=%q; want [act-6 act-4] and a cursor", aids, acts.Next)
	}
}

func testCleanup(t *testing.T, b history.Backend) {
	ctx := context.Background()
	old := Inst(1, "order", 1, "OLD", T0, `{"word":"ancient"}`)
	old.State, old.EndedAt = history.StateCompleted, T0.Add(time.Hour)
	recent := Inst(2, "order", 1, "RECENT", T0, `{"word":"ancient"}`)
	recent.State, recent.EndedAt = history.StateCompleted, T0.Add(30*24*time.Hour)
	running := Inst(3, "order", 1, "RUNNING", T0, `{"word":"ancient"}`)
	apply(t, b, &history.Batch{
		Checkpoint: 5,
		Instances:  []history.Instance{old, recent, running},
		Elements: []history.ElementInstance{
			Elem(11, 1, "order", 1, "Pack", history.ElementCompleted, T0, T0.Add(time.Hour)),
			Elem(21, 2, "order", 1, "Pack", history.ElementCompleted, T0, T0.Add(time.Hour)),
			Elem(31, 3, "order", 1, "Pack", history.ElementActive, T0, time.Time{}),
		},
		Events: []history.Event{
			Ev("a", "OrderPlaced", "OLD", "started", 1, T0, `{"word":"ancient"}`),
			Ev("b", "OrderPlaced", "RECENT", "started", 2, T0, `{"word":"ancient"}`),
			Ev("c", "OrderPlaced", "RUNNING", "started", 3, T0, `{"word":"ancient"}`),
			Ev("d", "Stray", "X", "uncorrelated", 0, T0, `{"word":"ancient"}`),
			Ev("e", "Stray", "Y", "uncorrelated", 0, T0.Add(20*24*time.Hour), `{"word":"ancient"}`),
		},
		Incidents: []history.Incident{{ID: "i", State: history.IncidentOpen, Reason: "X", InstanceKey: 1, CreatedAt: T0}},
		Actions:   []history.Action{{ID: "a", Type: "T", InstanceKey: 1, State: "delivered", RaisedAt: T0, UpdatedAt: T0}},
	})
	res, err := b.Cleanup(ctx, T0.Add(10*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Instances != 1 || res.Events != 2 {
		t.Errorf("Cleanup = %+v, want 1 instance and 2 events (its own and the old stray one)", res)
	}
	p, _ := b.Instances(ctx, history.InstanceQuery{Sort: history.SortKeyAsc})
	if got := instKeys(p); !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("instances after cleanup = %v, want [2 3]", got)
	}
	if p, _ := b.Instances(ctx, history.InstanceQuery{Q: "ancient", Sort: history.SortKeyAsc}); !slices.Equal(instKeys(p), []int64{2, 3}) {
		t.Errorf("full text after cleanup = %v, want [2 3]", instKeys(p))
	}
	ev, _ := b.Events(ctx, history.EventQuery{Sort: history.SortTimeAsc})
	if got := eventIDs(ev); !slices.Equal(got, []string{"b", "c", "e"}) {
		t.Errorf("events after cleanup = %v, want [b c e]", got)
	}
	if ev, _ := b.Events(ctx, history.EventQuery{Q: "ancient", Sort: history.SortTimeAsc}); !slices.Equal(eventIDs(ev), []string{"b", "c", "e"}) {
		t.Errorf("event full text after cleanup = %v, want [b c e]", eventIDs(ev))
	}
	if els, _ := b.ElementInstances(ctx, 1); len(els) != 0 {
		t.Errorf("element instances of the removed instance remain: %v", els)
	}
	if inc, _ := b.Incidents(ctx, history.IncidentQuery{InstanceKey: 1}); len(inc.Items) != 0 {
		t.Errorf("incidents of the removed instance remain: %v", inc.Items)
	}
	if acts, _ := b.Actions(ctx, history.ActionQuery{InstanceKey: 1}); len(acts.Items) != 0 {
		t.Errorf("actions of the removed instance remain: %v", acts.Items)
	}
	if _, found, _ := b.Instance(ctx, 1); found {
		t.Error("Instance(1) still found after cleanup")
	}
	if cp, _ := b.Checkpoint(ctx); cp != 5 {
		t.Errorf("Checkpoint after cleanup = %d, want 5", cp)
	}
}

func testInvalidCursor(t *testing.T, b history.Backend) {
	ctx := context.Background()
	apply(t, b, population(5))
	for _, c := range []string{"not a cursor", "e30", strings.Repeat("A", 40)} {
		if _, err := b.Instances(ctx, history.InstanceQuery{Cursor: c}); !errors.Is(err, history.ErrInvalidCursor) {
			t.Errorf("Instances(cursor=%q): err = %v, want ErrInvalidCursor", c, err)
		}
		if _, err := b.Events(ctx, history.EventQuery{Cursor: c}); !errors.Is(err, history.ErrInvalidCursor) {
			t.Errorf("Events(cursor=%q): err = %v, want ErrInvalidCursor", c, err)
		}
	}
	// A cursor of one listing is not valid for another order.
	p, err := b.Instances(ctx, history.InstanceQuery{Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, next %q", err, p.Next)
	}
	if _, err := b.Instances(ctx, history.InstanceQuery{Limit: 2, Sort: history.SortKeyAsc, Cursor: p.Next}); !errors.Is(err, history.ErrInvalidCursor) {
		t.Errorf("cursor reused with another sort: err = %v, want ErrInvalidCursor", err)
	}
}
