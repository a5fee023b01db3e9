package decisiontable

import (
	"fmt"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		table string
		in    Input
		want  Decision
	}{
		{"no rule matched", `id: t
inputs: [{expression: reason}]
outputs: [{name: action}]
rules: [{id: r1, when: {reason: [X]}, then: {action: ignore}}]
`, Input{Reason: "Y"}, Decision{Action: "incident", Note: NoMatchNote}},
		{"RULE ORDER takes the first", `id: t
hitPolicy: RULE ORDER
inputs: [{expression: reason}]
outputs: [{name: action}, {name: severity}]
rules:
  - {id: r1, when: {reason: [Y]}, then: {action: buffer, severity: low}}
  - {id: r2, then: {action: incident, severity: high}}
`, Input{Reason: "Y"}, Decision{Action: "buffer", Severity: "low", RuleID: "r1"}},
		{"OUTPUT ORDER takes the highest", `id: t
hitPolicy: OUTPUT ORDER
inputs: [{expression: reason}]
outputs: [{name: action, values: [dead-letter, incident, buffer, ignore]}]
rules:
  - {id: r1, when: {reason: [Y]}, then: {action: buffer}}
  - {id: r2, then: {action: incident}}
`, Input{Reason: "Y"}, Decision{Action: "incident", RuleID: "r2"}},
		{"payload paths", `id: t
hitPolicy: FIRST
inputs:
  - {id: amount, expression: payload.amount, type: number}
  - {id: tier, expression: payload.customer.tier, type: string}
outputs: [{name: action}, {name: note}]
rules:
  - {id: r1, when: {amount: "> 1000", tier: [gold]}, then: {action: incident, note: big gold}}
  - {id: r2, then: {action: ignore}}
`, Input{Payload: map[string]any{"amount": 1500.0, "customer": map[string]any{"tier": "gold"}}},
			Decision{Action: "incident", Note: "big gold", RuleID: "r1"}},
		{"dates and durations from JSON strings", `id: t
hitPolicy: FIRST
inputs:
  - {id: placed, expression: payload.placedAt, type: date}
  - {id: delay, expression: payload.delay, type: duration}
outputs: [{name: action}]
rules:
  - {id: r1, when: {placed: '>= date("2026-01-01")', delay: '> duration("P1D")'}, then: {action: incident}}
  - {id: r2, then: {action: ignore}}
`, Input{Payload: map[string]any{"placedAt": "2026-02-01T10:00:00Z", "delay": "P2D"}},
			Decision{Action: "incident", RuleID: "r1"}},
		{"missing correlation key is null", `id: t
hitPolicy: FIRST
inputs: [{expression: correlationKey}]
outputs: [{name: action}]
rules:
  - {id: r1, when: {correlationKey: "null"}, then: {action: dead-letter}}
  - {id: r2, then: {action: ignore}}
`, Input{Reason: "MISSING_CORRELATION_KEY"}, Decision{Action: "dead-letter", RuleID: "r1"}},
		{"FEEL input and output expressions", `id: t
hitPolicy: FIRST
inputs: [{id: big, expression: payload.amount * 2 > 100, type: boolean}]
outputs: [{name: action}, {name: note}, {name: severity}]
rules:
  - {id: r1, when: {big: "true"}, then: {action: incident, note: '="amount " + string(payload.amount)', severity: 3}}
  - {id: r2, then: {action: ignore}}
`, Input{Payload: map[string]any{"amount": 60.0}}, Decision{Action: "incident", Note: "amount 60", Severity: "3", RuleID: "r1"}},
		{"action from the payload", `id: t
inputs: []
outputs: [{name: action}]
rules: [{id: r1, then: {action: '=payload.action'}}]
`, Input{Payload: map[string]any{"action": "buffer"}}, Decision{Action: "buffer", RuleID: "r1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseYAMLTable(t, tc.table).Decide(tc.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got != tc.want {
				t.Errorf("Decide\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecideErrors(t *testing.T) {
	tests := []struct {
		name  string
		table string
		in    Input
		want  string
	}{
		{"no action output", `id: t
outputs: [{name: severity}]
rules: [{id: r1, then: {severity: high}}]
`, Input{}, `decision table t: the table has no output named "action", so it cannot decide what to do with an event`},
		{"aggregation", "id: t\nhitPolicy: COLLECT\naggregation: COUNT\noutputs: [{name: count}]\nrules: [{id: r1, then: {count: 1}}]\n",
			Input{}, `decision table t: hit policy COLLECT COUNT gives an aggregate, not an action`},
		{"action from payload is not an action", `id: t
outputs: [{name: action}]
rules: [{id: r1, then: {action: '=payload.action'}}]
`, Input{Payload: map[string]any{"action": "retry"}}, `decision table t: r1: action "retry" is not one of ignore, incident, buffer, dead-letter`},
		{"action from payload missing", `id: t
outputs: [{name: action}]
rules: [{id: r1, then: {action: '=payload.action'}}]
`, Input{}, `decision table t: r1: action null is not one of ignore, incident, buffer, dead-letter`},
		{"input of the wrong type", `id: t
inputs: [{id: Input_Amount, label: Amount, expression: payload.amount, type: number}]
outputs: [{name: action}]
rules: [{id: r1, then: {action: ignore}}]
`, Input{Payload: map[string]any{"amount": "12"}}, `decision table t: Input_Amount: input "Amount" (payload.amount): expected a number but got the string "12"`},
		{"date that is not a date", `id: t
inputs: [{id: placed, expression: payload.placedAt, type: date}]
outputs: [{name: action}]
rules: [{id: r1, then: {action: ignore}}]
`, Input{Payload: map[string]any{"placedAt": "yesterday"}}, `decision table t: placed: input payload.placedAt: "yesterday" is not a date (expected e.g. 2026-01-31)`},
		{"UNIQUE violation", `id: t
inputs: [{expression: reason}]
outputs: [{name: action}]
rules:
  - {id: r1, when: {reason: [X]}, then: {action: ignore}}
  - {id: r2, then: {action: incident}}
`, Input{Reason: "X"}, `decision table t: r1: rules r1, r2 match, but hit policy UNIQUE allows only one rule to match; make the rules exclusive or choose another hit policy`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseYAMLTable(t, tc.table).Decide(tc.in)
			if err == nil {
				t.Fatalf("Decide = %+v, want error %q", d, tc.want)
			}
			var ee *EvalError
			if !asEvalError(err, &ee) {
				t.Errorf("error is %T, want *EvalError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDecideJSON(t *testing.T) {
	tb := mustLoad(t, "testdata/uncorrelated.dmn")
	t.Run("match", func(t *testing.T) {
		got, err := DecideJSON(tb, []byte(`{"reason":"NO_INSTANCE","messageName":"PaymentReceived","ageSeconds":5,"payload":{"orderId":"4711"}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := `{
  "ruleIds": [
    "Rule_EarlyFresh"
  ],
  "outputs": [
    {
      "action": "buffer",
      "note": "Probably arrived before the event that opens its step",
      "severity": "none"
    }
  ],
  "decision": {
    "action": "buffer",
    "severity": "none",
    "note": "Probably arrived before the event that opens its step",
    "ruleId": "Rule_EarlyFresh"
  }
}
`
		if string(got) != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
	errs := []struct{ name, input, want string }{
		{"unknown field", `{"reasn":"X"}`, `read decision input: json: unknown field "reasn" (expected a JSON object with reason, messageName, correlationKey, source, ageSeconds, instanceState, payload)`},
		{"not an object", `[1]`, `read decision input: json: cannot unmarshal array into Go value of type decisiontable.Input (expected a JSON object with reason, messageName, correlationKey, source, ageSeconds, instanceState, payload)`},
		{"two values", `{} {}`, `read decision input: more than one JSON value; pass a single object`},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecideJSON(tb, []byte(tc.input))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
	t.Run("evaluation error", func(t *testing.T) {
		u := parseYAMLTable(t, "id: u\ninputs: [{expression: reason}]\noutputs: [{name: action}]\nrules:\n  - {id: a, then: {action: ignore}}\n  - {id: b, then: {action: ignore}}\n")
		_, err := DecideJSON(u, []byte(`{}`))
		var ee *EvalError
		if !asEvalError(err, &ee) {
			t.Errorf("error = %v, want *EvalError", err)
		}
	})
}

// TestDecideDoesNotAllocate asserts the allocation count (not timing): the
// example table decides an event without any heap allocation.
func TestDecideDoesNotAllocate(t *testing.T) {
	tb := mustLoad(t, "testdata/uncorrelated.dmn")
	in := Input{Reason: "BUFFER_EXPIRED", MessageName: "OrderShipped", AgeSeconds: 4000, Payload: map[string]any{"x": 1.0}}
	var err error
	allocs := testing.AllocsPerRun(200, func() { _, err = tb.Decide(in) })
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Decide allocates %v times per event, want 0", allocs)
	}
}

// TestEvaluateAllocationsDoNotGrowWithRules checks that matching does not
// allocate per rule: a table with 1000 rules costs as many allocations as one
// with 10 (only the result is allocated).
func TestEvaluateAllocationsDoNotGrowWithRules(t *testing.T) {
	build := func(n int) *Table {
		var b strings.Builder
		b.WriteString("id: t\nhitPolicy: RULE ORDER\ninputs: [{expression: amount, type: number}, {expression: reason, type: string}, {expression: day, type: date}]\noutputs: [{name: action}]\nrules:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {id: r%d, when: {amount: \"[%d..%d]\", reason: 'not(\"A\",\"B\")', day: '>= date(\"2026-01-01\")'}, then: {action: ignore}}\n", i, i, i+1)
		}
		return parseYAMLTable(t, b.String())
	}
	ctx := map[string]any{"amount": 5.5, "reason": "C", "day": "2026-03-01"}
	count := func(tb *Table) float64 {
		return testing.AllocsPerRun(50, func() {
			if res, err := tb.Evaluate(ctx); err != nil || len(res.RuleIDs) != 1 {
				t.Fatalf("Evaluate = %v, %v", res, err)
			}
		})
	}
	small, large := count(build(10)), count(build(1000))
	if large != small {
		t.Errorf("Evaluate allocates %v times with 10 rules and %v with 1000; matching must not allocate per rule", small, large)
	}
}
