package incidents

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

func readEvents(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		id := line[strings.Index(line, `"id":"`)+6:]
		byID[id[:strings.IndexByte(id, '"')]] = line
	}
	return byID
}

var ops = Actor{Name: "ops"}

// Events for an unknown order are buffered, expire into BUFFER_EXPIRED, and
// the decision table turns that into a high-severity incident; once the
// order exists, a retry correlates and resolves it.
func TestBufferExpiredIncidentRetryCorrelates(t *testing.T) {
	h := newHarness(t, true)
	ev := readEvents(t)
	out := h.send(ev["e-6"]) // PaymentReceived for A-9999, which nobody placed
	if out.Result != engine.Buffered || out.Reason != engine.ReasonNoInstance {
		t.Fatalf("outcome %+v, want buffered NO_INSTANCE", out)
	}
	h.sync()
	if n, _ := h.store.Count(h.ctx, Filter{}); n != 0 {
		t.Fatalf("%d incidents while the event is buffered, want 0", n)
	}
	h.tick(59 * time.Minute)
	h.sync()
	if n, _ := h.store.Count(h.ctx, Filter{}); n != 0 {
		t.Fatalf("%d incidents before the TTL passed, want 0", n)
	}
	if res := h.tick(2 * time.Minute); res.Expired != 1 {
		t.Fatalf("tick expired %d, want 1", res.Expired)
	}
	h.sync()
	inc := h.only(Filter{State: StateOpen})
	want := Incident{ID: inc.ID, State: StateOpen, Reason: "BUFFER_EXPIRED", Decision: "incident", RuleID: "Rule_Expired",
		Severity: "high", Note: "Money received for an order we do not know", MessageID: "e-6", MessageName: "PaymentReceived",
		CorrelationKey: "A-9999", Source: "orders"}
	got := inc
	got.EventTime, got.OpenedAt, got.UpdatedAt, got.Seq, got.Event, got.History = time.Time{}, time.Time{}, time.Time{}, 0, Event{}, nil
	if !equalJSON(t, got, want) {
		t.Fatalf("incident\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
	if string(inc.Event.Raw) != ev["e-6"] || inc.Event.Topic != "orders" || inc.Event.Offset != 0 {
		t.Errorf("original event %s at %s/%d, want %s at orders/0", inc.Event.Raw, inc.Event.Topic, inc.Event.Offset, ev["e-6"])
	}
	if !equalJSON(t, inc.Event.Variables, map[string]any{"amount": 10.00, "method": "paypal"}) {
		t.Errorf("variables %s", inc.Event.Variables)
	}
	if !inc.EventTime.Equal(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("event time %s", inc.EventTime)
	}
	if !inc.OpenedAt.Equal(t0.Add(61 * time.Minute)) {
		t.Errorf("opened at %s, want %s", inc.OpenedAt, t0.Add(61*time.Minute))
	}

	// The order shows up; a retry now correlates.
	if out := h.send(strings.ReplaceAll(strings.ReplaceAll(ev["e-1"], "A-1001", "A-9999"), `"e-1"`, `"e-100"`)); out.Result != engine.Started {
		t.Fatalf("OrderPlaced: %+v", out)
	}
	res, err := h.store.Retry(h.ctx, inc.ID, ops, "order A-9999 exists now")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != engine.Correlated || res.MessageID != "e-6#retry-1" {
		t.Fatalf("retry outcome %+v as %s, want correlated as e-6#retry-1", res.Outcome, res.MessageID)
	}
	if res.Incident.State != StateResolved || res.Incident.Attempts != 1 {
		t.Fatalf("after retry: state %s, attempts %d", res.Incident.State, res.Incident.Attempts)
	}
	if a := actions(res.Incident); !slices.Equal(a, []string{ActionOpened, ActionRetry, ActionRetryResult, ActionResolved}) {
		t.Fatalf("history %v", a)
	}
	last := res.Incident.History[3]
	if last.Actor != ActorTracker || last.InstanceKey != res.Outcome.InstanceKey || !strings.Contains(last.Comment, "retry 1 by ops correlated") {
		t.Errorf("resolution entry %+v", last)
	}
	if e := res.Incident.History[1]; e.Actor != "ops" || e.Comment != "order A-9999 exists now" || e.MessageID != "e-6#retry-1" {
		t.Errorf("retry entry %+v", e)
	}
	view, ok, err := h.eng.Instance(res.Outcome.InstanceKey)
	if err != nil || !ok {
		t.Fatalf("instance %d: %v %v", res.Outcome.InstanceKey, ok, err)
	}
	if !strings.Contains(string(view.Variables), `"method":"paypal"`) {
		t.Errorf("instance variables %s lack the payment", view.Variables)
	}
	// A resolved incident refuses another retry: the event cannot apply twice.
	if _, err := h.store.Retry(h.ctx, inc.ID, ops, ""); !errors.Is(err, ErrResolved) {
		t.Fatalf("second retry: %v, want ErrResolved", err)
	}
}

// Heartbeats are ignored (no incident); an unknown message is an incident.
func TestHeartbeatIgnoredUnknownIsIncident(t *testing.T) {
	h := newHarness(t, true)
	ev := readEvents(t)
	out := h.send(ev["e-7"])
	if out.Result != engine.Uncorrelated || out.Decision == nil || out.Decision.Action != engine.DecisionIgnore || out.Decision.RuleID != "Rule_Noise" {
		t.Fatalf("heartbeat outcome %+v decision %+v", out, out.Decision)
	}
	h.sync()
	if n, _ := h.store.Count(h.ctx, Filter{}); n != 0 {
		t.Fatalf("%d incidents after a heartbeat, want 0", n)
	}
	h.send(`{"id":"x-1","type":"InvoiceSent","orderId":"A-1","time":"2026-11-03T10:00:00Z"}`)
	h.sync()
	inc := h.only(Filter{})
	if inc.Reason != "UNKNOWN_MESSAGE" || inc.RuleID != "Rule_Default" || inc.Severity != "medium" || inc.MessageName != "InvoiceSent" {
		t.Fatalf("incident %+v", inc)
	}
	// Dead letters get their id the way the engine makes incident ids.
	if id := messageIncidentID(inc.MessageID, inc.EventTime, inc.Reason); id != inc.ID {
		t.Fatalf("messageIncidentID gives %s, the engine %s", id, inc.ID)
	}
}

// A record that is not JSON goes to the dead-letter decision, which the
// store keeps as an incident with the original bytes and headers. Retrying
// it decodes it again: still broken, so it stays open with the attempt
// recorded and no second incident.
func TestMalformedIsDeadLetterIncident(t *testing.T) {
	h := newHarness(t, true)
	raw := `{"id":"e-9","type":"OrderPlaced",`
	out := h.send(raw, engine.Header{Key: "traceparent", Value: []byte("00-abc-01")})
	if out.Result != engine.Uncorrelated || out.Reason != engine.ReasonDecodeError || out.Decision.Action != engine.DecisionDeadLetter {
		t.Fatalf("outcome %+v", out)
	}
	h.sync()
	inc := h.only(Filter{Reason: "DECODE_ERROR"})
	if inc.Decision != "dead-letter" || inc.RuleID != "Rule_Decode" || inc.Severity != "high" || inc.Detail != "record value is not JSON" {
		t.Fatalf("incident %+v", inc)
	}
	if string(inc.Event.Raw) != raw {
		t.Errorf("raw %q, want %q", inc.Event.Raw, raw)
	}
	if len(inc.Event.Headers) != 1 || inc.Event.Headers[0].Key != "traceparent" || string(inc.Event.Headers[0].Value) != "00-abc-01" {
		t.Errorf("headers %+v", inc.Event.Headers)
	}
	if inc.Event.Topic != "orders" || inc.MessageID != "orders/0/0" {
		t.Errorf("position %s/%d, message id %s", inc.Event.Topic, inc.Event.Offset, inc.MessageID)
	}
	res, err := h.store.Retry(h.ctx, inc.ID, ops, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != engine.Uncorrelated || res.Incident.State != StateOpen || res.Incident.Attempts != 1 {
		t.Fatalf("retry %+v, incident %s attempts %d", res.Outcome, res.Incident.State, res.Incident.Attempts)
	}
	e := res.Incident.History[len(res.Incident.History)-1]
	if e.Action != ActionRetryResult || e.Outcome != "uncorrelated" || e.Reason != "DECODE_ERROR" || e.Decision != "dead-letter" {
		t.Fatalf("last history entry %+v", e)
	}
	if n, _ := h.store.Count(h.ctx, Filter{}); n != 1 {
		t.Fatalf("%d incidents after the retry, want 1", n)
	}
}

// An event for a model that is not deployed yet is UNKNOWN_MESSAGE. A retry
// before the deployment records the attempt; after deploying, the retry
// starts the instance and resolves the incident.
func TestDeployModelThenRetry(t *testing.T) {
	h := newHarness(t, false)
	ev := readEvents(t)
	h.send(ev["e-1"])
	h.sync()
	inc := h.only(Filter{})
	if inc.Reason != "UNKNOWN_MESSAGE" || inc.CorrelationKey != "A-1001" {
		t.Fatalf("incident %+v", inc)
	}
	res, err := h.store.Retry(h.ctx, inc.ID, ops, "too early")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != engine.Uncorrelated || res.Incident.State != StateOpen {
		t.Fatalf("retry before deploy: %+v, %s", res.Outcome, res.Incident.State)
	}
	if n, _ := h.store.Count(h.ctx, Filter{}); n != 1 {
		t.Fatalf("%d incidents, want the retry folded into 1", n)
	}
	h.deploy()
	res, err = h.store.Retry(h.ctx, inc.ID, Actor{Name: "alice"}, "model deployed")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != engine.Started || res.MessageID != "e-1#retry-2" || res.Incident.State != StateResolved {
		t.Fatalf("retry after deploy: %+v as %s, %s", res.Outcome, res.MessageID, res.Incident.State)
	}
	want := []string{ActionOpened, ActionRetry, ActionRetryResult, ActionRetry, ActionRetryResult, ActionResolved}
	if a := actions(res.Incident); !slices.Equal(a, want) {
		t.Fatalf("history %v, want %v", a, want)
	}
	if e := res.Incident.History[2]; e.Outcome != "uncorrelated" || e.Reason != "UNKNOWN_MESSAGE" {
		t.Errorf("first attempt %+v", e)
	}
	if n, _ := h.store.Count(h.ctx, Filter{State: StateOpen}); n != 0 {
		t.Fatalf("%d open incidents", n)
	}
}

// A retry the engine buffers is pending: further retries are refused until
// it correlates (which resolves the incident from the feed) or expires.
func TestRetryPendingUntilBufferedRetryCorrelates(t *testing.T) {
	h := newHarness(t, true)
	ev := readEvents(t)
	h.send(ev["e-6"])
	h.tick(61 * time.Minute)
	h.sync()
	inc := h.only(Filter{})
	res, err := h.store.Retry(h.ctx, inc.ID, ops, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != engine.Buffered || res.Incident.PendingRetry != "e-6#retry-1" {
		t.Fatalf("retry %+v, pending %q", res.Outcome, res.Incident.PendingRetry)
	}
	if _, err := h.store.Retry(h.ctx, inc.ID, ops, ""); !errors.Is(err, ErrRetryPending) {
		t.Fatalf("retry while pending: %v", err)
	}
	h.send(strings.ReplaceAll(strings.ReplaceAll(ev["e-1"], "A-1001", "A-9999"), `"e-1"`, `"e-100"`))
	h.sync()
	got, err := h.store.Get(h.ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateResolved || got.PendingRetry != "" {
		t.Fatalf("after the order arrived: %s, pending %q, history %v", got.State, got.PendingRetry, actions(got))
	}
}

// A failed action is an incident without an event: it cannot be retried.
func TestActionFailedNotRetryable(t *testing.T) {
	h := newHarness(t, true)
	// An order placed with nothing after it: 14 days later the delay notice is an action.
	inc := h.failedAction("broker down")
	if inc.Severity != "high" || !strings.Contains(inc.Detail, "broker down") {
		t.Fatalf("incident %+v", inc)
	}
	if _, err := h.store.Retry(h.ctx, inc.ID, ops, ""); !errors.Is(err, ErrNotRetryable) {
		t.Fatalf("retry: %v, want ErrNotRetryable", err)
	}
	if _, err := h.store.Resolve(h.ctx, inc.ID, ops, "re-sent by hand"); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	h := newHarness(t, true)
	h.send(`{"id":"x-1","type":"InvoiceSent","orderId":"A-1"}`)
	h.sync()
	inc := h.only(Filter{})
	for _, tc := range []struct {
		name    string
		id      string
		comment string
		want    error
	}{
		{"no comment", inc.ID, "  ", ErrCommentRequired},
		{"unknown id", "nope", "x", ErrNotFound},
		{"resolves", inc.ID, "known noise", nil},
		{"twice", inc.ID, "again", ErrResolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Add(time.Minute)
			got, err := h.store.Resolve(h.ctx, tc.id, Actor{Name: "bob"}, tc.comment)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			e := got.History[len(got.History)-1]
			if got.State != StateResolved || !got.ResolvedAt.Equal(h.clock.Now()) || e.Actor != "bob" || e.Comment != tc.comment || e.Action != ActionResolved {
				t.Fatalf("resolved %+v, last entry %+v", got, e)
			}
		})
	}
	if _, err := h.store.Retry(h.ctx, inc.ID, ops, ""); !errors.Is(err, ErrResolved) {
		t.Fatalf("retry after resolve: %v", err)
	}
}

// The checkpoint is stored with the projection: reopening projects nothing
// twice, and projecting the same feed again (checkpoint lost) changes nothing.
func TestReopenAndReprojectIdempotent(t *testing.T) {
	h := newHarness(t, false)
	ev := readEvents(t)
	h.send(ev["e-1"])
	h.send(`garbage`)
	h.sync()
	inc := h.only(Filter{Reason: "UNKNOWN_MESSAGE"})
	if _, err := h.store.Retry(h.ctx, inc.ID, ops, ""); err != nil {
		t.Fatal(err)
	}
	before := h.list(Filter{})
	full, _ := h.store.Get(h.ctx, inc.ID)
	cp, err := h.store.Checkpoint(h.ctx)
	if err != nil || cp == 0 {
		t.Fatalf("checkpoint %d %v", cp, err)
	}
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	h.store = h.open(Options{})
	h.sync()
	if cp2, _ := h.store.Checkpoint(h.ctx); cp2 != cp {
		t.Fatalf("checkpoint %d after reopen, want %d", cp2, cp)
	}
	if _, err := h.store.wdb.ExecContext(h.ctx, `UPDATE meta SET value = 0 WHERE name = 'checkpoint'`); err != nil {
		t.Fatal(err)
	}
	h.store.cp = 0
	h.sync()
	if after := h.list(Filter{}); !equalJSON(t, after, before) {
		t.Fatalf("after re-projection\n%s\nwant\n%s", mustJSON(t, after), mustJSON(t, before))
	}
	if again, _ := h.store.Get(h.ctx, inc.ID); !equalJSON(t, again.History, full.History) {
		t.Fatalf("history after re-projection\n%s\nwant\n%s", mustJSON(t, again.History), mustJSON(t, full.History))
	}
}

// Concurrent retries of one incident are serialised: exactly one applies
// the event, the others find the incident resolved.
func TestConcurrentRetriesApplyOnce(t *testing.T) {
	h := newHarness(t, false)
	h.send(`{"id":"o-1","type":"OrderPlaced","orderId":"A-1","data":{}}`)
	h.sync()
	inc := h.only(Filter{})
	h.deploy()
	const n = 4
	errs := make(chan error, n)
	results := make(chan RetryResult, n)
	for range n {
		go func() {
			r, err := h.store.Retry(h.ctx, inc.ID, ops, "")
			errs <- err
			results <- r
		}()
	}
	started, resolved := 0, 0
	for range n {
		err := <-errs
		r := <-results
		switch {
		case err == nil && r.Outcome.Result == engine.Started:
			started++
		case errors.Is(err, ErrResolved):
			resolved++
		default:
			t.Errorf("retry: %+v, %v", r.Outcome, err)
		}
	}
	if started != 1 || resolved != n-1 {
		t.Fatalf("%d started, %d refused as resolved; want 1 and %d", started, resolved, n-1)
	}
	got, _ := h.store.Get(h.ctx, inc.ID)
	if got.Attempts != 1 {
		t.Fatalf("%d attempts, want 1", got.Attempts)
	}
}

// An operator retries a given-up action: it goes back in the outbox with its
// id, and the incident is resolved; failing again opens a new incident.
func TestActionFailedRequeued(t *testing.T) {
	h := newHarness(t, true)
	h.store.Close()
	h.store = h.open(Options{Actions: h.eng})
	h.send(fmt.Sprintf(`{"id":"p-1","type":"OrderPlaced","orderId":"A-7","time":%q}`, t0.Format(time.RFC3339)))
	h.tick(15 * 24 * time.Hour)
	acts, err := h.eng.PendingActions(0, 10)
	if err != nil || len(acts) != 1 {
		t.Fatalf("pending actions %v %v", acts, err)
	}
	if err := h.eng.MarkActions(h.ctx, []engine.ActionUpdate{{Seq: acts[0].Seq, State: engine.ActionFailed, Error: "webhook down"}}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	inc := h.only(Filter{Reason: "ACTION_FAILED"})
	if inc.ActionID != acts[0].ID {
		t.Fatalf("incident action id %q, want %q", inc.ActionID, acts[0].ID)
	}
	r, err := h.store.Retry(h.ctx, inc.ID, ops, "webhook is back")
	if err != nil {
		t.Fatal(err)
	}
	if r.Incident.State != StateResolved || r.Outcome.Result != "requeued" {
		t.Fatalf("retry result %+v", r)
	}
	again, _ := h.eng.PendingActions(acts[0].Seq, 10)
	if len(again) != 1 || again[0].ID != acts[0].ID {
		t.Fatalf("action not back in the outbox: %+v", again)
	}
	if err := h.eng.MarkActions(h.ctx, []engine.ActionUpdate{{Seq: again[0].Seq, State: engine.ActionFailed, Error: "down again"}}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if open := h.list(Filter{Reason: "ACTION_FAILED", State: StateOpen}); len(open) != 1 || open[0].ID == inc.ID {
		t.Fatalf("second failure: open incidents %+v", open)
	}
}
