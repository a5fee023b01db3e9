package decisiontable

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func parseYAMLTable(t *testing.T, src string) *Table {
	t.Helper()
	tb, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return tb
}

const bandRules = `
inputs: [{expression: amount, type: number}]
outputs: [{name: band, type: string}]
rules:
  - {id: small, when: {amount: "< 10"}, then: {band: small}}
  - {id: medium, when: {amount: "[10..100]"}, then: {band: medium}}
  - {id: big, when: {amount: ">= 100"}, then: {band: big}}
`

const feeRules = `
inputs: [{expression: amount, type: number}]
outputs: [{name: fee, type: number}]
rules:
  - {id: base, when: {amount: "not(null)"}, then: {fee: 1}}
  - {id: over100, when: {amount: "> 100"}, then: {fee: 5}}
  - {id: over1000, when: {amount: "> 1000"}, then: {fee: 20}}
  - {id: negative, when: {amount: "< 0"}, then: {fee: null}}
`

const severityRules = `
inputs: [{expression: amount, type: number}]
outputs: [{name: severity, type: string, values: [high, medium, low]}]
rules:
  - {id: l, then: {severity: low}}
  - {id: h, when: {amount: "> 1000"}, then: {severity: high}}
  - {id: m, when: {amount: "> 100"}, then: {severity: medium}}
  - {id: m2, when: {amount: "> 500"}, then: {severity: medium}}
`

// TestHitPolicies runs each hit policy per the DMN spec: which rules make the
// result, in which order, with which outputs, and which evaluations fail.
func TestHitPolicies(t *testing.T) {
	type eval struct {
		name    string
		ctx     map[string]any
		ids     []string
		outputs string // JSON of Result.Outputs
		err     string
	}
	tests := []struct {
		name  string
		table string
		evals []eval
	}{
		{"UNIQUE", "id: t\nhitPolicy: UNIQUE" + bandRules, []eval{
			{"one match", map[string]any{"amount": 5}, []string{"small"}, `[{"band":"small"}]`, ""},
			{"no match", map[string]any{}, []string{}, `[]`, ""},
			{"two matches", map[string]any{"amount": 100}, nil, "",
				"decision table t: medium: rules medium, big match, but hit policy UNIQUE allows only one rule to match; make the rules exclusive or choose another hit policy"},
		}},
		{"default is UNIQUE", "id: t" + bandRules, []eval{
			{"two matches", map[string]any{"amount": 100.0}, nil, "",
				"decision table t: medium: rules medium, big match, but hit policy UNIQUE allows only one rule to match; make the rules exclusive or choose another hit policy"},
		}},
		{"FIRST", "id: t\nhitPolicy: FIRST" + bandRules, []eval{
			{"first of two", map[string]any{"amount": 100}, []string{"medium"}, `[{"band":"medium"}]`, ""},
			{"one match", map[string]any{"amount": 1000}, []string{"big"}, `[{"band":"big"}]`, ""},
		}},
		{"PRIORITY", "id: t\nhitPolicy: PRIORITY" + severityRules, []eval{
			{"highest wins", map[string]any{"amount": 2000}, []string{"h"}, `[{"severity":"high"}]`, ""},
			{"equal priority: first in rule order", map[string]any{"amount": 600}, []string{"m"}, `[{"severity":"medium"}]`, ""},
			{"only the catch-all", map[string]any{"amount": 1}, []string{"l"}, `[{"severity":"low"}]`, ""},
		}},
		{"ANY", `id: t
hitPolicy: ANY
inputs: [{expression: reason, type: string}]
outputs: [{name: action, type: string}, {name: note, type: string}]
rules:
  - {id: a1, when: {reason: [X, Y]}, then: {action: ignore, note: same}}
  - {id: a2, when: {reason: [Y, Z]}, then: {action: ignore, note: same}}
  - {id: a3, when: {reason: [Z]}, then: {action: incident, note: same}}
`, []eval{
			{"matches agree", map[string]any{"reason": "Y"}, []string{"a1"}, `[{"action":"ignore","note":"same"}]`, ""},
			{"single match", map[string]any{"reason": "X"}, []string{"a1"}, `[{"action":"ignore","note":"same"}]`, ""},
			{"matches disagree", map[string]any{"reason": "Z"}, nil, "",
				`decision table t: a2: rules a2 and a3 both match but give different action ("ignore" and "incident"); hit policy ANY needs matching rules to agree`},
		}},
		{"COLLECT", "id: t\nhitPolicy: COLLECT" + feeRules, []eval{
			{"all matches in rule order", map[string]any{"amount": 2000}, []string{"base", "over100", "over1000"}, `[{"fee":1},{"fee":5},{"fee":20}]`, ""},
			{"null output kept", map[string]any{"amount": -1}, []string{"base", "negative"}, `[{"fee":1},{"fee":null}]`, ""},
			{"no match", map[string]any{}, []string{}, `[]`, ""},
		}},
		{"COLLECT SUM", "id: t\nhitPolicy: COLLECT\naggregation: SUM" + feeRules, []eval{
			{"sum", map[string]any{"amount": 2000}, []string{"base", "over100", "over1000"}, `[{"fee":26}]`, ""},
			{"nulls left out", map[string]any{"amount": -1}, []string{"base", "negative"}, `[{"fee":1}]`, ""},
			{"no match", map[string]any{}, []string{}, `[]`, ""},
		}},
		{"COLLECT MIN", "id: t\nhitPolicy: COLLECT\naggregation: MIN" + feeRules, []eval{
			{"min", map[string]any{"amount": 2000}, []string{"base", "over100", "over1000"}, `[{"fee":1}]`, ""},
		}},
		{"COLLECT MAX", "id: t\nhitPolicy: C>" + feeRules, []eval{
			{"max", map[string]any{"amount": 2000}, []string{"base", "over100", "over1000"}, `[{"fee":20}]`, ""},
			{"no match", map[string]any{}, []string{}, `[]`, ""},
		}},
		{"COLLECT COUNT", "id: t\nhitPolicy: COLLECT\naggregation: COUNT" + feeRules, []eval{
			{"count", map[string]any{"amount": 2000}, []string{"base", "over100", "over1000"}, `[{"fee":3}]`, ""},
			{"null outputs not counted", map[string]any{"amount": -1}, []string{"base", "negative"}, `[{"fee":1}]`, ""},
			{"no match counts 0", map[string]any{}, []string{}, `[{"fee":0}]`, ""},
		}},
		{"RULE ORDER", "id: t\nhitPolicy: RULE ORDER" + severityRules, []eval{
			{"rule order", map[string]any{"amount": 2000}, []string{"l", "h", "m", "m2"}, `[{"severity":"low"},{"severity":"high"},{"severity":"medium"},{"severity":"medium"}]`, ""},
		}},
		{"OUTPUT ORDER", "id: t\nhitPolicy: OUTPUT ORDER" + severityRules, []eval{
			{"by output values, stable", map[string]any{"amount": 2000}, []string{"h", "m", "m2", "l"}, `[{"severity":"high"},{"severity":"medium"},{"severity":"medium"},{"severity":"low"}]`, ""},
			{"two", map[string]any{"amount": 200}, []string{"m", "l"}, `[{"severity":"medium"},{"severity":"low"}]`, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := parseYAMLTable(t, tc.table)
			for _, ev := range tc.evals {
				t.Run(ev.name, func(t *testing.T) {
					res, err := tb.Evaluate(ev.ctx)
					if ev.err != "" {
						if err == nil || err.Error() != ev.err {
							t.Fatalf("error\n got %v\nwant %s", err, ev.err)
						}
						var ee *EvalError
						if !asEvalError(err, &ee) {
							t.Errorf("error is %T, want *EvalError", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("Evaluate: %v", err)
					}
					if !reflect.DeepEqual(res.RuleIDs, ev.ids) {
						t.Errorf("RuleIDs = %q, want %q", res.RuleIDs, ev.ids)
					}
					out, _ := json.Marshal(res.Outputs)
					if string(out) != ev.outputs {
						t.Errorf("Outputs = %s, want %s", out, ev.outputs)
					}
				})
			}
		})
	}
}

func TestHitPolicyNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "UNIQUE"}, {"unique", "UNIQUE"}, {"FIRST", "FIRST"}, {"P", "PRIORITY"}, {"any", "ANY"},
		{"RULE ORDER", "RULE ORDER"}, {"RULE_ORDER", "RULE ORDER"}, {"output order", "OUTPUT ORDER"},
		{"COLLECT", "COLLECT"}, {"C+", "COLLECT SUM"}, {"C<", "COLLECT MIN"}, {"C#", "COLLECT COUNT"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			rules := feeRules
			if strings.HasPrefix(tc.want, "PRIORITY") || strings.HasPrefix(tc.want, "OUTPUT") {
				rules = severityRules
			}
			src := "id: t\nhitPolicy: '" + tc.in + "'" + rules
			if got := parseYAMLTable(t, src).HitPolicy(); got != tc.want {
				t.Errorf("HitPolicy = %q, want %q", got, tc.want)
			}
		})
	}
}
