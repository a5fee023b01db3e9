package actions

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// runMem runs a relay over an in-memory outbox until want actions settled.
func runMem(t *testing.T, ob *memOutbox, opts Options, want int64) *Relay {
	t.Helper()
	opts.Outbox = ob
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	opts.PollInterval = 10 * time.Millisecond
	opts.Logger = testLogger(t)
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the relay to settle the actions", func() bool { return r.settled.Load() >= want })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKafkaPermanentAndRetriedFailures(t *testing.T) {
	t.Run("record too large fails at once, the rest of the batch is delivered", func(t *testing.T) {
		b := startBroker(t, "commands")
		ob := newMemOutbox()
		ids := ob.add("commands", "Big", 2)
		ob.mu.Lock()
		big := ob.entries[1]
		huge, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", maxRecordBytes)})
		big.Variables = huge
		ob.entries[1] = big
		ob.mu.Unlock()
		runMem(t, ob, Options{Kafka: config.Kafka{Brokers: []string{b.Addr()}}}, 2)
		a, _ := ob.state(ids[0])
		if a.State != engine.ActionFailed || a.Attempts != 1 || !strings.Contains(a.LastError, "exceeds the limit of 1048576") {
			t.Errorf("big action: %s after %d attempts: %q", a.State, a.Attempts, a.LastError)
		}
		if a, _ := ob.state(ids[1]); a.State != engine.ActionDelivered {
			t.Errorf("small action %s: %q", a.State, a.LastError)
		}
		if got := readTopic(t, b.Addr(), "commands"); len(got) != 1 || got[0].rec.ActionID != ids[1] {
			t.Errorf("topic holds %+v, want only %s", got, ids[1])
		}
	})
	t.Run("unreachable broker is retried until the budget", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens here any more
		ob := newMemOutbox()
		ids := ob.add("commands", "T", 1)
		r := runMem(t, ob, Options{Kafka: config.Kafka{Brokers: []string{addr}}, MaxAttempts: 3, AttemptTimeout: 5 * time.Second}, 1)
		a, _ := ob.state(ids[0])
		if a.State != engine.ActionFailed || a.Attempts != 3 || !strings.Contains(a.LastError, "write to topic commands") {
			t.Errorf("action %s after %d attempts: %q", a.State, a.Attempts, a.LastError)
		}
		if got := r.Totals(); got != (Totals{Failed: 1}) {
			t.Errorf("Totals() = %+v", got)
		}
	})
}

// A webhook that is down keeps retrying while Kafka commands of the same
// orders are delivered: targets do not wait for each other.
func TestDeadWebhookDoesNotHoldKafka(t *testing.T) {
	b := startBroker(t, "commands")
	h := newHook(t, 503)
	w := newWorld(t, t.TempDir(), "order-fulfillment.bpmn", "order-webhook.bpmn")
	out := w.apply(event{"OrderPlaced", "A-5", 15 * day, orderVars})
	if len(out) != 1 {
		t.Fatalf("outcomes %+v", out)
	}
	w.tick(now)
	if n := len(w.pending()); n != 2 {
		t.Fatalf("%d actions raised, want one per process", n)
	}
	r, err := New(Options{Outbox: w.eng, Kafka: config.Kafka{Brokers: []string{b.Addr()}}, PollInterval: 10 * time.Millisecond,
		Backoff: func(int) time.Duration { return 5 * time.Millisecond }, MaxAttempts: 1000, Logger: testLogger(t),
		Targets: map[string]config.Target{"ops-webhook": {Webhook: h.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the Kafka action to be delivered while the webhook fails", func() bool {
		return r.Totals().Delivered == 1 && len(h.requests()) >= 3
	})
	ok, st := r.Ready()
	var hookStatus TargetStatus
	for _, ts := range st.Targets {
		if ts.Name == "ops-webhook" {
			hookStatus = ts
		}
	}
	if !ok || hookStatus.Kind != "webhook" || hookStatus.Failures < 2 || !strings.Contains(hookStatus.LastError, "503") {
		t.Errorf("Ready() while the webhook is down = %v, %+v; want ready with the webhook's failures shown", ok, st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	left := w.pending()
	if len(left) != 1 || left[0].ProcessID != "order-webhook" || left[0].Attempts < 2 || !strings.Contains(left[0].LastError, "503") {
		t.Errorf("pending after the run: %+v, want the webhook action with failed attempts", left)
	}
	if got := readTopic(t, b.Addr(), "commands"); len(got) != 1 || got[0].rec.ProcessID != "order-fulfillment" {
		t.Errorf("commands topic holds %+v", got)
	}
	if ok, st := r.Ready(); ok || st.Running {
		t.Errorf("Ready() after Run = %v %+v", ok, st)
	}
}

// One sender reuses its buffers from batch to batch: every record of
// consecutive batches of different sizes arrives intact.
func TestKafkaSenderReusesBuffers(t *testing.T) {
	b := startBroker(t, "commands")
	r, err := New(Options{Outbox: newMemOutbox(), Kafka: config.Kafka{Brokers: []string{b.Addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.newKafkaSender("commands", "commands")
	defer s.close()
	mk := func(id, key, vars string) *item {
		return &item{a: engine.Action{ID: id, Type: "Cmd-" + id, CorrelationKey: key, ElementID: "E",
			RaisedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Variables: json.RawMessage(vars)}}
	}
	batches := [][]*item{
		{mk("a1", "key-long-long-1", `{"v":"`+strings.Repeat("x", 300)+`"}`), mk("a2", "k2", `{"v":2}`), mk("a3", "k3", `{}`)},
		{mk("b1", "k", `{"w":[1,2,3]}`)},
		{mk("c1", "key-c1", `{"v":"y"}`), mk("c2", "key-c2", `{"n":null}`)},
	}
	want := map[string]*item{}
	for _, batch := range batches {
		for i, err := range s.send(context.Background(), batch) {
			if err != nil {
				t.Fatalf("send %s: %v", batch[i].a.ID, err)
			}
			want[batch[i].a.ID] = batch[i]
		}
	}
	got := readTopic(t, b.Addr(), "commands")
	if len(got) != len(want) {
		t.Fatalf("topic holds %d records, want %d", len(got), len(want))
	}
	for _, c := range got {
		it := want[c.headers[HeaderActionID]]
		if it == nil {
			t.Errorf("unexpected record %+v", c)
			continue
		}
		value, err := encodeRecord(&it.a)
		if err != nil {
			t.Fatal(err)
		}
		if c.key != it.a.CorrelationKey || c.headers[HeaderActionType] != it.a.Type || c.raw != string(value) {
			t.Errorf("record %s: key %q type %q value %s; want %q %q %s", it.a.ID, c.key, c.headers[HeaderActionType], c.raw, it.a.CorrelationKey, it.a.Type, value)
		}
	}
}
