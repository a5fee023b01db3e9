package actions

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

const day = 24 * time.Hour

const orderVars = `{"customer":"c-17","total":129.9}`

// wantAction is an expected record: type, element and due time after the order.
type wantAction struct {
	typ, element string
	due          time.Duration // after the order was placed
}

// The shared example end to end: the real engine raises the actions, the
// relay writes them to the embedded broker over TCP, kafka-go and kcat read
// them back.
func TestOrderFulfillmentCommands(t *testing.T) {
	delay := wantAction{"SendDelayNoticeCommand", "SendDelayNotice", 14 * day}
	cancel := wantAction{"CancelOrderCommand", "CancelOrder", 21 * day}
	tests := []struct {
		name    string
		placed  time.Duration // before now
		later   []event       // applied after a restart with the consumer behind
		want    []wantAction
		end     string // end event reached, "" while active
		restart bool
	}{
		{name: "placed 15 days ago, nothing else", placed: 15 * day, want: []wantAction{delay}},
		{name: "placed 22 days ago", placed: 22 * day, want: []wantAction{delay, cancel}, end: "OrderCancelled"},
		{name: "delivered on day 10", placed: 22 * day, later: []event{
			{"PaymentReceived", "A-1", 22*day - time.Hour, ""}, {"GoodsFetched", "A-1", 21 * day, ""},
			{"GoodsShipped", "A-1", 20 * day, ""}, {"OrderDelivered", "A-1", 12 * day, `{"signedBy":"K. Meier"}`},
		}, end: "OrderCompleted"},
		{name: "three-week outage with the delivery in the backlog", placed: 22 * day, restart: true, later: []event{
			{"PaymentReceived", "A-1", 22*day - time.Hour, ""}, {"GoodsFetched", "A-1", 21 * day, ""},
			{"GoodsShipped", "A-1", 20 * day, ""}, {"OrderDelivered", "A-1", 12 * day, ""},
		}, end: "OrderCompleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, "commands")
			w := newWorld(t, t.TempDir(), "order-fulfillment.bpmn")
			placedAt := now.Add(-tt.placed)
			out := w.apply(event{"OrderPlaced", "A-1", tt.placed, orderVars})
			if out[0].Result != engine.Started {
				t.Fatalf("OrderPlaced: %+v", out[0])
			}
			inst := out[0].InstanceKey
			if tt.restart {
				// The tracker was down; after the restart the consumer has
				// read up to just after the order, the rest is in the backlog.
				w.close()
				w.open()
				w.tick(placedAt.Add(time.Hour))
				if n := len(w.pending()); n != 0 {
					t.Fatalf("%d actions raised while the consumer was behind", n)
				}
			}
			if len(tt.later) > 0 {
				w.apply(tt.later...)
			}
			w.tick(now)
			r := w.runRelay(Options{Kafka: config.Kafka{Brokers: []string{b.Addr()}}})
			if ok, st := r.Ready(); ok || st.Running {
				t.Errorf("Ready() after Run returned = %v, %+v", ok, st)
			}

			iv, found, err := w.eng.Instance(inst)
			if err != nil || !found {
				t.Fatalf("instance %d: found %v, %v", inst, found, err)
			}
			// Whether a timer-interrupted order counts as "completed" or
			// "cancelled" is the engine's call; where it ended is not.
			ended := iv.State != engine.InstanceActive
			if wantEnded := tt.end != ""; ended != wantEnded || (ended && iv.EndElement != tt.end) {
				t.Errorf("instance %s (ended at %q), want ended %v at %q", iv.State, iv.EndElement, wantEnded, tt.end)
			}
			raised := map[string]engine.Action{}
			for _, c := range w.feed(engine.ChangeAction) {
				var a engine.Action
				if err := json.Unmarshal(c.Payload, &a); err != nil {
					t.Fatal(err)
				}
				raised[a.ID] = a
			}
			check := func(t *testing.T, got []consumed) {
				if len(got) != len(tt.want) {
					t.Fatalf("%d records on commands, want %d: %+v", len(got), len(tt.want), got)
				}
				for i, c := range got {
					wa := tt.want[i]
					due := placedAt.Add(wa.due)
					r := c.rec
					if r.Type != wa.typ || r.ElementID != wa.element || r.ProcessID != "order-fulfillment" || r.Version != 1 ||
						r.InstanceKey != inst || r.CorrelationKey != "A-1" || !r.RaisedAt.Equal(due) || r.DueAt == nil || !r.DueAt.Equal(due) {
						t.Errorf("record %d: %s\nwant type %s, element %s, instance %d, raised and due at %s", i, c.raw, wa.typ, wa.element, inst, due)
					}
					if !jsonEqual(r.Variables, orderVars) {
						t.Errorf("record %d variables %s, want %s", i, r.Variables, orderVars)
					}
					if c.key != "A-1" || c.headers[HeaderActionID] != r.ActionID || c.headers[HeaderActionType] != wa.typ {
						t.Errorf("record %d: key %q, headers %v", i, c.key, c.headers)
					}
					if a, ok := raised[r.ActionID]; !ok || a.Type != wa.typ {
						t.Errorf("record %d: action id %s is not one the engine raised (%v)", i, r.ActionID, raised)
					}
				}
			}
			t.Run("kafka-go", func(t *testing.T) { check(t, readTopic(t, b.Addr(), "commands")) })
			t.Run("kcat", func(t *testing.T) { check(t, readTopicKcat(t, b.Addr(), "commands")) })

			var delivered int
			for _, c := range w.feed(engine.ChangeActionUpdated) {
				var a engine.Action
				if err := json.Unmarshal(c.Payload, &a); err != nil {
					t.Fatal(err)
				}
				if a.State != engine.ActionDelivered || a.Attempts != 1 {
					t.Errorf("action update %s after %d attempts (%s), want delivered at the first", a.State, a.Attempts, a.LastError)
				}
				delivered++
			}
			if delivered != len(tt.want) {
				t.Errorf("%d delivered updates, want %d", delivered, len(tt.want))
			}
		})
	}
}

// A cycle timer R3/PT1H on a waiting task raises exactly three actions, and
// the kafka-topic header names the topic.
func TestCycleTimerActions(t *testing.T) {
	b := startBroker(t, "reminders")
	w := newWorld(t, t.TempDir(), "reminders.bpmn")
	w.apply(event{"TicketOpened", "T-7", 5 * time.Hour, `{"ticketId":"T-7"}`})
	w.tick(now)
	w.runRelay(Options{Kafka: config.Kafka{Brokers: []string{b.Addr()}}})
	got := readTopic(t, b.Addr(), "reminders")
	var dues []time.Duration
	for _, c := range got {
		if c.rec.Type != "ReminderCommand" || c.rec.DueAt == nil {
			t.Fatalf("record %s", c.raw)
		}
		dues = append(dues, c.rec.DueAt.Sub(now.Add(-5*time.Hour)))
	}
	if want := []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour}; !slices.Equal(dues, want) {
		t.Errorf("reminders due %v after opening, want %v", dues, want)
	}
	ids := map[string]bool{}
	for _, c := range got {
		ids[c.rec.ActionID] = true
	}
	if len(ids) != 3 {
		t.Errorf("%d distinct action ids, want 3", len(ids))
	}
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
