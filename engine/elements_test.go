package engine

import (
	"strings"
	"testing"
	"time"
)

func withVars(m Message, vars string) Message {
	m.Variables = []byte(vars)
	return m
}

func shipStart(key, id string, at time.Duration) Message {
	m := msg("ShipmentCreated", key, id, at)
	m.Start = "shipment"
	return m
}

func elementScenarios() []scenario {
	h := time.Hour
	const claimHead = "Start:completed Split:completed Assess:completed WaitDocs:completed Join:completed Amount:completed Checks:completed "
	const shipHead = "Start:completed Pack:completed Transport:"
	return []scenario{
		{
			name:  "parallel fork and join, exclusive and inclusive gateways, event-based gateway: message wins",
			model: "gateways.bpmn",
			steps: []step{batch([]string{"started", "correlated", "correlated"},
				msg("ClaimFiled", "C", "c1", 0),
				withVars(msg("DocumentsReceived", "C", "c2", h), `{"amount":5000,"vip":false,"country":"de"}`),
				msg("ClaimPaid", "C", "c3", 2*h))},
			key: "C", state: InstanceCompleted,
			path:    claimHead + "Milestone:completed Merge:completed Race:completed Paid:completed Notify:completed Done:completed",
			actions: []string{"AssessClaimCommand", "Notify"},
		},
		{
			name:  "inclusive gateway takes every true branch and joins them",
			model: "gateways.bpmn",
			steps: []step{batch([]string{"started", "correlated"},
				msg("ClaimFiled", "C", "c1", 0),
				withVars(msg("DocumentsReceived", "C", "c2", h), `{"amount":5,"vip":false,"country":"xl"}`))},
			key: "C", state: InstanceActive,
			path:    claimHead + "FraudCheck:completed Merge:completed Race:active",
			actions: []string{"AssessClaimCommand", "FraudCheckRequested"},
		},
		{
			name:  "parallel join waits for every branch",
			model: "gateways.bpmn",
			steps: []step{batch([]string{"started"}, msg("ClaimFiled", "C", "c1", 0))},
			key:   "C", state: InstanceActive,
			path:    "Start:completed Split:completed Assess:completed WaitDocs:active",
			actions: []string{"AssessClaimCommand"},
		},
		{
			name:  "event-based gateway: receive task wins, terminate end event ends the instance",
			model: "gateways.bpmn",
			steps: []step{batch([]string{"started", "correlated", "correlated", "uncorrelated INSTANCE_ENDED"},
				msg("ClaimFiled", "C", "c1", 0),
				withVars(msg("DocumentsReceived", "C", "c2", h), `{"amount":5,"vip":false,"country":"de"}`),
				msg("ClaimWithdrawn", "C", "c3", 2*h), msg("ClaimPaid", "C", "c4", 3*h))},
			key: "C", state: InstanceCompleted,
			path:    claimHead + "Milestone:completed Merge:completed Race:completed Withdrawn:completed Kill:completed",
			actions: []string{"AssessClaimCommand"},
		},
		{
			name:  "event-based gateway: timer wins, message end event raises an action",
			model: "gateways.bpmn",
			steps: []step{
				batch([]string{"started", "correlated"},
					msg("ClaimFiled", "C", "c1", 0),
					withVars(msg("DocumentsReceived", "C", "c2", h), `{"amount":5,"vip":false,"country":"de"}`)),
				tick(31*day24, 31*day24, 1),
				batch([]string{"uncorrelated INSTANCE_ENDED"}, msg("ClaimPaid", "C", "c4", 32*day24)),
			},
			key: "C", state: InstanceCompleted,
			path:    claimHead + "Milestone:completed Merge:completed Race:completed Timeout:completed Escalate:completed",
			actions: []string{"AssessClaimCommand", "ClaimEscalated"},
		},
		{
			name:  "none start by start mapping, embedded sub-process completes",
			model: "subprocesses.bpmn",
			steps: []step{batch([]string{"started", "correlated"}, shipStart("S", "s1", 0), msg("ParcelPickedUp", "S", "s2", h))},
			key:   "S", state: InstanceCompleted,
			path: shipHead + "completed TStart:completed PickedUp:completed Sign:completed TEnd:completed Delivered:completed End:completed",
		},
		{
			name:  "non-interrupting message boundary keeps the sub-process",
			model: "subprocesses.bpmn",
			steps: []step{batch([]string{"started", "correlated", "correlated"},
				shipStart("S", "s1", 0), msg("ParcelDelayed", "S", "s2", h), msg("ParcelPickedUp", "S", "s3", 2*h))},
			key: "S", state: InstanceCompleted,
			path: shipHead + "completed TStart:completed PickedUp:completed Delayed:completed DelayedEnd:completed " +
				"Sign:completed TEnd:completed Delivered:completed End:completed",
		},
		{
			name:  "interrupting message boundary terminates the sub-process",
			model: "subprocesses.bpmn",
			steps: []step{batch([]string{"started", "correlated", "uncorrelated INSTANCE_ENDED"},
				shipStart("S", "s1", 0), msg("ParcelLost", "S", "s2", h), msg("ParcelPickedUp", "S", "s3", 2*h))},
			key: "S", state: InstanceCompleted,
			path: shipHead + "terminated TStart:completed PickedUp:terminated Lost:completed LostEnd:completed",
		},
		{
			name:  "interrupting event sub-process at process level",
			model: "subprocesses.bpmn",
			steps: []step{batch([]string{"started", "correlated"}, shipStart("S", "s1", 0), msg("ShipmentCancelled", "S", "s2", h))},
			key:   "S", state: InstanceCompleted,
			path: shipHead + "terminated TStart:completed PickedUp:terminated Cancelled:completed CancelStart:completed CancelEnd:completed",
		},
		{
			name:  "non-interrupting event sub-process inside a sub-process",
			model: "subprocesses.bpmn",
			steps: []step{batch([]string{"started", "correlated"}, shipStart("S", "s1", 0), msg("RerouteRequested", "S", "s2", h))},
			key:   "S", state: InstanceActive,
			path: shipHead + "active TStart:completed PickedUp:active Reroute:completed RerouteStart:completed RerouteEnd:completed",
		},
		{
			name:  "timer cycle event sub-process re-arms (R/P1D)",
			model: "subprocesses.bpmn",
			steps: []step{
				batch([]string{"started"}, shipStart("S", "s1", 0)),
				tick(2*day24+h, 2*day24+h, 2),
			},
			key: "S", state: InstanceActive,
			path: shipHead + "active TStart:completed PickedUp:active Audit:completed AuditStart:completed AuditEnd:completed " +
				"Audit:completed AuditStart:completed AuditEnd:completed",
		},
		{
			name:  "subscription on another key than the instance's (from a variable)",
			model: "foreign-key.bpmn",
			steps: []step{
				batch([]string{"started", "buffered NO_SUBSCRIPTION"},
					withVars(msg("Ordered", "A", "a1", 0), `{"shipmentId":"S1"}`), msg("ParcelDelivered", "A", "a2", h)),
				batch([]string{"correlated"}, msg("ParcelDelivered", "S1", "s1", 2*h)),
				batch([]string{"buffered NO_INSTANCE"}, msg("ParcelDelivered", "S1", "s2", 3*h)), // stale reference dropped
			},
			key: "A", state: InstanceCompleted,
			path: "Ordered:completed Delivered:completed End:completed",
		},
		{
			name:  "message on another key buffered before the subscription opens",
			model: "foreign-key.bpmn",
			steps: []step{
				batch([]string{"buffered NO_INSTANCE"}, msg("ParcelDelivered", "S1", "s1", 2*h)),
				batch([]string{"started"}, withVars(msg("Ordered", "A", "a1", 0), `{"shipmentId":"S1"}`)),
			},
			key: "A", state: InstanceCompleted,
			path: "Ordered:completed Delivered:completed End:completed",
		},
		{
			name:  "deferred choice: the first branch event wins",
			model: "deferred.bpmn",
			steps: []step{batch([]string{"started", "correlated", "uncorrelated INSTANCE_ENDED"},
				msg("ReturnRequested", "R", "r1", 0), msg("ReturnRejected", "R", "r2", h), msg("ReturnReceived", "R", "r3", 2*h))},
			key: "R", state: InstanceCompleted,
			path: "Requested:completed Decide:completed Rejected:completed RejectedEnd:completed",
		},
		{
			name:  "deferred choice: other branch through a pass-through task",
			model: "deferred.bpmn",
			steps: []step{batch([]string{"started", "correlated"},
				msg("ReturnRequested", "R", "r1", 0), msg("ReturnReceived", "R", "r3", 2*h))},
			key: "R", state: InstanceCompleted,
			path: "Requested:completed Decide:completed Label:completed Received:completed Done:completed",
		},
		{
			name:  "exclusive gateway with evaluable condition takes its branch",
			model: "deferred.bpmn",
			steps: []step{batch([]string{"started", "buffered NO_SUBSCRIPTION"},
				withVars(msg("ReturnRequested", "R", "r1", 0), `{"decision":"approve"}`), msg("ReturnRejected", "R", "r2", h))},
			key: "R", state: InstanceActive,
			path: "Requested:completed Decide:completed Label:completed Received:active",
		},
		{
			name:  "timer start events: a cycle R3 from a date and a date; chained timers",
			model: "timers.bpmn",
			steps: []step{
				tick(0, 0, 6), // three nightly starts (2026-01-01..03) and their one-month timers
				tick(62*day24, 62*day24, 1),
			},
			key: "timers/Nightly/2026-01-02T00:00:00Z", state: InstanceActive,
			path: "Nightly:completed Month:completed Deadline:active",
		},
		{
			name:  "one message correlates in one process and starts another",
			model: "order-fulfillment.bpmn,payment-audit.bpmn",
			steps: []step{batch([]string{"started", "correlated", "correlated"},
				msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", h), msg("PaymentSettled", "A", "e3", 2*h))},
			key: "A", state: InstanceActive,
			path:   "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed GoodsFetched:active",
			second: "Paid:completed Settled:completed End:completed",
		},
		{
			name:  "strict conformance: a later step buffers and expires instead of skipping",
			model: "order-strict.bpmn",
			steps: []step{
				batch([]string{"started", "correlated", "buffered NO_SUBSCRIPTION"},
					msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", h), msg("GoodsShipped", "A", "e4", 23*h)),
				tickExpire(2*h, 24*h, 0, 1), // BUFFER_EXPIRED, never skipped
			},
			key: "A", state: InstanceActive,
			path: "OrderPlaced:completed FulfilOrder:active FulfilStart:completed PaymentReceived:completed GoodsFetched:active",
		},
	}
}

func TestElementScenarios(t *testing.T) {
	for _, sc := range elementScenarios() {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, false) })
	}
}

func TestElementScenariosReopen(t *testing.T) {
	for _, sc := range elementScenarios() {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, true) })
	}
}

func TestFeelNames(t *testing.T) {
	tests := map[string]string{
		`=decision = "approve"`:                "decision",
		`=amount >= 1000 and not(vip)`:         "amount vip",
		`=contains(upper case(country), "X")`:  "country",
		`=order.total > 10 or order.items = 3`: "order order",
		`="a and b" = name`:                    "name",
		`=string length(customer.name) > 3`:    "customer",
		`=x between 1 and 5`:                   "x",
	}
	for src, want := range tests {
		if got := strings.Join(feelNames(src), " "); got != want {
			t.Errorf("feelNames(%s) = %q, want %q", src, got, want)
		}
	}
}
