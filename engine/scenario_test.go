package engine

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one action of a scenario: a batch of messages (with the outcome
// each must get) or a tick (clock and watermark offsets from t0).
type step struct {
	batch   []Message
	want    []string // outcomes, "result[ REASON]"
	tick    bool
	clock   time.Duration
	wm      time.Duration
	fired   int
	expired int // -1: not checked
}

func batch(want []string, ms ...Message) step { return step{batch: ms, want: want} }

func tick(clock, wm time.Duration, fired int) step {
	return step{tick: true, clock: clock, wm: wm, fired: fired, expired: -1}
}

// tickExpire is a tick that also checks how many buffered messages expired.
func tickExpire(clock, wm time.Duration, fired, expired int) step {
	return step{tick: true, clock: clock, wm: wm, fired: fired, expired: expired}
}

type scenario struct {
	name    string
	model   string
	steps   []step
	key     string // correlation key of the instance to check
	state   InstanceState
	path    string
	actions []string
	second  string // path of the second instance for the key, if any
}

const (
	happyPath = "OrderPlaced:completed FulfilOrder:completed FulfilStart:completed PaymentReceived:completed " +
		"GoodsFetched:completed GoodsShipped:completed OrderDelivered:completed FulfilEnd:completed OrderCompleted:completed"
)

func orderScenarios() []scenario {
	h := time.Hour
	return []scenario{
		{
			name: "happy path of the shared example",
			steps: []step{batch([]string{"started", "correlated", "correlated", "correlated", "correlated"},
				msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("GoodsFetched", "A", "e3", 6*h),
				msg("GoodsShipped", "A", "e4", 23*h), msg("OrderDelivered", "A", "e5", 52*h))},
			key: "A", state: InstanceCompleted, path: happyPath,
		},
		{
			name: "duplicate message id changes nothing",
			steps: []step{batch([]string{"started", "correlated", "duplicate"},
				msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("PaymentReceived", "A", "e2", 1*h))},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed GoodsFetched:active",
		},
		{
			name: "duplicate across batches and a restart",
			steps: []step{
				batch([]string{"started"}, msg("OrderPlaced", "A", "e1", 0)),
				batch([]string{"duplicate"}, msg("OrderPlaced", "A", "e1", 0)),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:active",
		},
		{
			name: "payment before order is buffered, then correlates on start",
			steps: []step{
				batch([]string{"buffered NO_INSTANCE"}, msg("PaymentReceived", "A", "e2", 1*h)),
				batch([]string{"started"}, msg("OrderPlaced", "A", "e1", 0)),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed GoodsFetched:active",
		},
		{
			name: "second order placed for an active order does not start again",
			steps: []step{batch([]string{"started", "buffered NO_SUBSCRIPTION"},
				msg("OrderPlaced", "A", "e1", 0), msg("OrderPlaced", "A", "e1b", 1*h))},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:active",
		},
		{
			name: "order placed again while active starts a new instance once the first ends (Zeebe)",
			steps: []step{batch([]string{"started", "buffered NO_SUBSCRIPTION", "correlated", "correlated", "correlated", "correlated"},
				msg("OrderPlaced", "A", "e1", 0), msg("OrderPlaced", "A", "e1b", 1*h), msg("PaymentReceived", "A", "e2", 1*h),
				msg("GoodsFetched", "A", "e3", 6*h), msg("GoodsShipped", "A", "e4", 23*h), msg("OrderDelivered", "A", "e5", 52*h))},
			key: "A", state: InstanceCompleted, path: happyPath, second: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:active",
		},
		{
			name: "event after the end is INSTANCE_ENDED",
			steps: []step{batch([]string{"started", "correlated", "correlated", "correlated", "correlated", "uncorrelated INSTANCE_ENDED"},
				msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("GoodsFetched", "A", "e3", 6*h),
				msg("GoodsShipped", "A", "e4", 23*h), msg("OrderDelivered", "A", "e5", 52*h), msg("GoodsShipped", "A", "e6", 60*h))},
			key: "A", state: InstanceCompleted, path: happyPath,
		},
		{
			name:  "unknown message name",
			steps: []step{batch([]string{"uncorrelated UNKNOWN_MESSAGE"}, msg("Heartbeat", "A", "e7", 0))},
		},
		{
			name: "no buffering when the source TTL is 0",
			steps: []step{batch([]string{"uncorrelated NO_INSTANCE"}, func() Message {
				m := msg("PaymentReceived", "B", "e9", 0)
				m.BufferTTL = 0
				return m
			}())},
		},
		{
			name: "buffered message expires as BUFFER_EXPIRED",
			steps: []step{
				batch([]string{"buffered NO_INSTANCE"}, msg("PaymentReceived", "A", "e2", 0)),
				tickExpire(h-time.Minute, 2*h, 0, 0), // TTL counts from ReadAt by the wall clock
				tickExpire(2*h, 2*h, 0, 1),
			},
		},
		{
			name: "missing GoodsFetched is skipped once the watermark passes GoodsShipped (lenient)",
			steps: []step{
				batch([]string{"started", "correlated", "buffered SKIP_AHEAD"},
					msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("GoodsShipped", "A", "e4", 23*h)),
				tick(22*h, 22*h, 0), // watermark before GoodsShipped: still held
				tick(24*h, 24*h, 0),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed " +
				"GoodsFetched:skipped GoodsShipped:completed OrderDelivered:active",
		},
		{
			name: "OrderDelivered read before its order started and GoodsShipped never comes: skipped once the watermark passes",
			steps: []step{
				batch([]string{"buffered NO_INSTANCE"}, msg("OrderDelivered", "A", "e5", 3*h)),
				batch([]string{"started", "correlated", "correlated"},
					msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("GoodsFetched", "A", "e3", 2*h)),
				tick(2*h+30*time.Minute, 2*h+30*time.Minute, 0), // watermark before OrderDelivered: still held
				tick(4*h, 4*h, 0),
			},
			key: "A", state: InstanceCompleted,
			path: "OrderPlaced:completed FulfilOrder:completed FulfilStart:completed PaymentReceived:completed " +
				"GoodsFetched:completed GoodsShipped:skipped OrderDelivered:completed FulfilEnd:completed OrderCompleted:completed",
		},
		{
			name: "GoodsShipped read before GoodsFetched correlates in event-time order without deviation",
			steps: []step{
				batch([]string{"started", "correlated", "buffered SKIP_AHEAD", "correlated"},
					msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h),
					msg("GoodsShipped", "A", "e4", 23*h), msg("GoodsFetched", "A", "e3", 6*h)),
				tick(30*h, 30*h, 0),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed " +
				"GoodsFetched:completed GoodsShipped:completed OrderDelivered:active",
		},
		{
			name: "15 days without delivery sends the delay notice once",
			steps: []step{
				batch([]string{"started", "correlated"}, msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h)),
				tick(15*day24, 15*day24, 1),
				tick(16*day24, 16*day24, 0),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed GoodsFetched:active " +
				"DelayTimer:completed SendDelayNotice:completed CustomerInformed:completed",
			actions: []string{"SendDelayNoticeCommand"},
		},
		{
			name: "22 days without delivery cancels the order",
			steps: []step{
				batch([]string{"started", "correlated"}, msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h)),
				tick(15*day24, 15*day24, 1),
				tick(22*day24, 22*day24, 1),
			},
			key: "A", state: InstanceCompleted,
			path: "OrderPlaced:completed FulfilOrder:terminated FulfilStart:completed PaymentReceived:completed GoodsFetched:terminated " +
				"DelayTimer:completed SendDelayNotice:completed CustomerInformed:completed " +
				"CancelTimer:completed CancelOrder:completed OrderCancelled:completed",
			actions: []string{"SendDelayNoticeCommand", "CancelOrderCommand"},
		},
		{
			name: "timers wait for the watermark after an outage: delivery on day 10 read on day 31",
			steps: []step{
				batch([]string{"started", "correlated", "correlated", "correlated"},
					msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", 1*h), msg("GoodsFetched", "A", "e3", 6*h),
					msg("GoodsShipped", "A", "e4", 5*day24)),
				tick(31*day24, 5*day24, 0), // clock jumped 3 weeks, consumer still at day 5
				batch([]string{"correlated"}, msg("OrderDelivered", "A", "e5", 10*day24)),
				tick(31*day24, 31*day24, 0),
			},
			key: "A", state: InstanceCompleted, path: happyPath,
		},
		{
			name: "timer does not fire before the wall clock passes due",
			steps: []step{
				batch([]string{"started"}, msg("OrderPlaced", "A", "e1", 0)),
				tick(13*day24, 30*day24, 0),
				tick(14*day24+h, 30*day24, 1),
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:active " +
				"DelayTimer:completed SendDelayNotice:completed CustomerInformed:completed",
			actions: []string{"SendDelayNoticeCommand"},
		},
	}
}

func runScenario(t *testing.T, sc scenario, reopen bool) {
	model := sc.model
	if model == "" {
		model = "order-fulfillment.bpmn"
	}
	h := newHarness(t, strings.Split(model, ",")...)
	for i, st := range sc.steps {
		if st.tick {
			h.clock.now = t0.Add(st.clock)
			res := h.tick(t0.Add(st.wm))
			if res.Fired != st.fired {
				t.Errorf("step %d: tick fired %d timers, want %d", i, res.Fired, st.fired)
			}
			if st.expired >= 0 && res.Expired != st.expired {
				t.Errorf("step %d: tick expired %d messages, want %d", i, res.Expired, st.expired)
			}
		} else {
			outs := h.apply(st.batch...)
			var got []string
			for _, o := range outs {
				got = append(got, outcome(o))
			}
			if !slices.Equal(got, st.want) {
				t.Errorf("step %d: outcomes\n got %q\nwant %q", i, got, st.want)
			}
		}
		if reopen {
			h.reopen()
		}
	}
	if sc.key == "" {
		return
	}
	v := h.instanceFor(sc.key)
	if v.State != sc.state {
		t.Errorf("state = %s, want %s", v.State, sc.state)
	}
	if got := path(v); got != sc.path {
		t.Errorf("path\n got %s\nwant %s", got, sc.path)
	}
	if sc.second != "" {
		if got := path(h.instanceN(sc.key, 1)); got != sc.second {
			t.Errorf("second instance path\n got %s\nwant %s", got, sc.second)
		}
	}
	if got := h.actions(); !slices.Equal(got, sc.actions) {
		t.Errorf("actions = %q, want %q", got, sc.actions)
	}
}

// instanceFor finds the first instance started for a correlation key via the feed.
func (h *harness) instanceFor(key string) InstanceView {
	h.t.Helper()
	return h.instanceN(key, 0)
}

// instanceN finds the n-th instance started for a correlation key via the feed.
func (h *harness) instanceN(key string, n int) InstanceView {
	h.t.Helper()
	ch, err := h.e.Feed(0, 100000)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range ch {
		if c.Kind == ChangeInstanceStarted && strings.Contains(string(c.Payload), `"`+key+`"`) {
			if n > 0 {
				n--
				continue
			}
			v, ok, err := h.e.Instance(c.InstanceKey)
			if err != nil || !ok {
				h.t.Fatalf("instance %d: ok=%v err=%v", c.InstanceKey, ok, err)
			}
			return v
		}
	}
	h.t.Fatalf("no instance for key %s", key)
	return InstanceView{}
}

func TestOrderScenarios(t *testing.T) {
	for _, sc := range orderScenarios() {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, false) })
	}
}

// TestOrderScenariosReopen runs every scenario closing and reopening the
// store after each step: state must survive (nothing lives only in memory).
func TestOrderScenariosReopen(t *testing.T) {
	for _, sc := range orderScenarios() {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, true) })
	}
}
