package incidents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/decisiontable"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the engine and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tableDecider consults a decision table, as cmd/tracker does.
type tableDecider struct{ t *decisiontable.Table }

func (d tableDecider) Decide(_ context.Context, u engine.UncorrelatedMessage) (engine.Decision, error) {
	in := decisiontable.Input{Reason: string(u.Reason), InstanceState: u.InstanceState, AgeSeconds: u.Age.Seconds()}
	if m := u.Message; m != nil {
		in.MessageName, in.CorrelationKey, in.Source = m.Name, m.CorrelationKey, m.Source
		if len(m.Variables) > 0 {
			_ = json.Unmarshal(m.Variables, &in.Payload)
		}
	}
	dec, err := d.t.Decide(in)
	if err != nil {
		return engine.Decision{}, err
	}
	return engine.Decision{Action: dec.Action, Severity: dec.Severity, Note: dec.Note, RuleID: dec.RuleID}, nil
}

// harness is the real engine (Pebble in a temp dir), a real model
// repository, the shared decision table and a Store following the feed.
type harness struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock
	repo   *models.Repository
	eng    *engine.Engine
	store  *Store
	dir    string
	offset int64
}

func newHarness(t *testing.T, deploy bool) *harness {
	t.Helper()
	h := &harness{t: t, ctx: t.Context(), clock: &clock{now: t0}, dir: t.TempDir()}
	var err error
	h.repo, err = models.OpenRepository(filepath.Join(h.dir, "models"), models.RepositoryOptions{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if deploy {
		h.deploy()
	}
	table, err := decisiontable.Load("testdata/uncorrelated.dmn")
	if err != nil {
		t.Fatal(err)
	}
	h.eng, err = engine.Open(engine.Options{Dir: filepath.Join(h.dir, "engine"), Processes: h.repo,
		Decider: tableDecider{table}, Clock: h.clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.eng.Close(); err != nil {
			t.Error(err)
		}
	})
	h.store = h.open(Options{})
	return h
}

// open opens a store in the harness's incidents directory.
func (h *harness) open(opts Options) *Store {
	h.t.Helper()
	opts.Dir = filepath.Join(h.dir, "incidents")
	opts.Feed = h.eng
	if opts.Correlator == nil {
		opts.Correlator = &EngineCorrelator{Engine: h.eng, Decode: h.decodeIncident, Clock: h.clock.Now}
	}
	opts.Clock = h.clock.Now
	opts.NoSync = true
	s, err := Open(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if err := s.Close(); err != nil {
			h.t.Error(err)
		}
	})
	return s
}

func (h *harness) deploy() {
	h.t.Helper()
	xml, err := os.ReadFile("testdata/order-fulfillment.bpmn")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, _, _, err := h.repo.Deploy(h.ctx, "order-fulfillment.bpmn", xml); err != nil {
		h.t.Fatal(err)
	}
}

// record is a Kafka record as the test's source sees it.
type record struct {
	topic     string
	partition int
	offset    int64
	value     []byte
	key       []byte
	headers   []engine.Header
}

// decode maps a record the way a plain-JSON source with
// message_name $.type, correlation_key $.orderId, message_id $.id,
// event_time $.time, variables $.data does.
func (h *harness) decode(r record, readAt time.Time) engine.Message {
	m := engine.Message{
		Source: r.topic, ReadAt: readAt, EventTime: readAt, BufferTTL: time.Hour, Raw: r.value, Key: r.key, Headers: r.headers,
		Position: engine.Position{Topic: r.topic, Partition: r.partition, Offset: r.offset},
		ID:       r.topic + "/0/" + itoa(r.offset),
	}
	if !gjson.ValidBytes(r.value) {
		m.Invalid, m.Detail = engine.ReasonDecodeError, "record value is not JSON"
		return m
	}
	v := gjson.ParseBytes(r.value)
	if id := v.Get("id"); id.Exists() {
		m.ID = id.String()
	}
	m.Name = v.Get("type").String()
	m.CorrelationKey = v.Get("orderId").String()
	if ts, err := time.Parse(time.RFC3339, v.Get("time").String()); err == nil {
		m.EventTime = ts
	}
	if d := v.Get("data"); d.Exists() {
		m.Variables = []byte(d.Raw)
	}
	if m.CorrelationKey == "" && h.repo.UsesMessage(m.Name) {
		m.Invalid, m.Detail = engine.ReasonMissingCorrelationKey, "no orderId"
	}
	return m
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// decodeIncident is the DecodeFunc of the harness's EngineCorrelator.
func (h *harness) decodeIncident(inc Incident, readAt time.Time) (engine.Message, error) {
	if len(inc.Event.Raw) == 0 {
		return engine.Message{}, errors.New("no raw event")
	}
	return h.decode(record{topic: inc.Event.Topic, partition: inc.Event.Partition, offset: inc.Event.Offset,
		value: inc.Event.Raw, key: inc.Event.Key, headers: inc.Event.Headers}, readAt), nil
}

// send reads one record from topic "orders" and applies it.
func (h *harness) send(value string, headers ...engine.Header) engine.Outcome {
	h.t.Helper()
	r := record{topic: "orders", offset: h.offset, value: []byte(value), key: []byte("k"), headers: headers}
	h.offset++
	outs, err := h.eng.Apply(h.ctx, []engine.Message{h.decode(r, h.clock.Now())})
	if err != nil {
		h.t.Fatal(err)
	}
	return outs[0]
}

// tick advances the clock and ticks the engine with a watermark far ahead.
func (h *harness) tick(d time.Duration) engine.TickResult {
	h.t.Helper()
	h.clock.Add(d)
	res, err := h.eng.Tick(h.ctx, h.clock.Now().Add(1000*time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.store.Sync(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

// list returns every incident matching f (all pages).
func (h *harness) list(f Filter) []Incident {
	h.t.Helper()
	var all []Incident
	for {
		p, err := h.store.List(h.ctx, f)
		if err != nil {
			h.t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		f.Cursor = p.Next
	}
}

// only returns the one incident matching f.
func (h *harness) only(f Filter) Incident {
	h.t.Helper()
	l := h.list(f)
	if len(l) != 1 {
		h.t.Fatalf("want 1 incident for %+v, have %d: %+v", f, len(l), l)
	}
	inc, err := h.store.Get(h.ctx, l[0].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return inc
}

// actions lists the history actions of an incident.
func actions(inc Incident) []string {
	var out []string
	for _, e := range inc.History {
		out = append(out, e.Action)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// equalJSON compares two values by their JSON form.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(mustJSON(t, a)), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mustJSON(t, b)), &y); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, x) == mustJSON(t, y)
}

// failedAction places an order with nothing after it, lets its delay notice
// come due 15 days later, marks that action given up with errMsg, and returns
// the ACTION_FAILED incident it raised.
func (h *harness) failedAction(errMsg string) Incident {
	h.t.Helper()
	h.send(fmt.Sprintf(`{"id":"p-1","type":"OrderPlaced","orderId":"A-7","time":%q}`, t0.Format(time.RFC3339)))
	h.tick(15 * 24 * time.Hour)
	acts, err := h.eng.PendingActions(0, 10)
	if err != nil || len(acts) != 1 {
		h.t.Fatalf("pending actions %v %v", acts, err)
	}
	if err := h.eng.MarkActions(h.ctx, []engine.ActionUpdate{{Seq: acts[0].Seq, State: engine.ActionFailed, Error: errMsg}}); err != nil {
		h.t.Fatal(err)
	}
	h.sync()
	return h.only(Filter{Reason: "ACTION_FAILED"})
}

// watchedIncident opens one incident from value with w watching the store.
func (h *harness) watchedIncident(value string) (*recorder, Incident) {
	h.t.Helper()
	w := &recorder{}
	h.store.Watch(w)
	h.send(value)
	h.sync()
	return w, h.only(Filter{})
}
