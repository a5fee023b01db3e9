package decisiontable

import (
	"encoding/json"
	"testing"
)

// TestYAMLValues covers how YAML scalars and lists become FEEL: lists of
// plain values, numbers, booleans, null, dates, FEEL text and = expressions.
func TestYAMLValues(t *testing.T) {
	tb := parseYAMLTable(t, `id: t
hitPolicy: RULE ORDER
inputs:
  - {expression: reason, values: '"A","B","C","say \"hi\""'}
  - {expression: payload.count, type: number}
  - {expression: payload.vip, type: boolean}
  - {expression: payload.day, type: date}
  - {expression: correlationKey}
outputs:
  - {name: out}
rules:
  - {id: list, when: {reason: [A, B]}, then: {out: text}}
  - {id: number, when: {payload.count: 3}, then: {out: 3}}
  - {id: bool, when: {payload.vip: true}, then: {out: true}}
  - {id: date, when: {payload.day: 2026-01-31}, then: {out: 2026-02-01}}
  - {id: "null", when: {correlationKey: ~}, then: {out: ~}}
  - {id: feel, when: {payload.count: "[2..4]"}, then: {out: '=payload.count * 2'}}
  - {id: escaped, when: {reason: ['say "hi"']}, then: {out: 'back\slash "quoted"'}}
`)
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"list", Input{Reason: "B", CorrelationKey: "k"}, `{"annotations":null,"ids":["list"],"outputs":[{"out":"text"}]}`},
		{"number and feel", Input{CorrelationKey: "k", Payload: map[string]any{"count": 3}}, `{"annotations":null,"ids":["number","feel"],"outputs":[{"out":3},{"out":6}]}`},
		{"bool", Input{CorrelationKey: "k", Payload: map[string]any{"vip": true}}, `{"annotations":null,"ids":["bool"],"outputs":[{"out":true}]}`},
		{"date", Input{CorrelationKey: "k", Payload: map[string]any{"day": "2026-01-31"}}, `{"annotations":null,"ids":["date"],"outputs":[{"out":"2026-02-01"}]}`},
		{"null", Input{}, `{"annotations":null,"ids":["null"],"outputs":[{"out":null}]}`},
		{"escaped", Input{Reason: `say "hi"`, CorrelationKey: "k"}, `{"annotations":null,"ids":["escaped"],"outputs":[{"out":"back\\slash \"quoted\""}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scope{in: tc.in, hasIn: true}
			res, err := tb.evaluate(s)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(map[string]any{"ids": res.RuleIDs, "outputs": res.Outputs, "annotations": res.Annotations})
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
