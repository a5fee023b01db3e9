package decisiontable

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestCamunda7Table reads a DMN 1.1 table as Camunda 7's modeler saves it:
// COLLECT with aggregation="SUM", descriptions as annotations, CDATA, empty
// entries meaning "any", Java type names.
func TestCamunda7Table(t *testing.T) {
	tb := mustLoad(t, "testdata/fees-dmn11.dmn")
	if got := tb.HitPolicy(); got != "COLLECT SUM" {
		t.Errorf("HitPolicy = %q", got)
	}
	tests := []struct {
		name string
		ctx  map[string]any
		ids  []string
		out  string
	}{
		{"base only", map[string]any{"source": "orders", "payload": map[string]any{"amount": 5000}}, []string{"base"}, `[{"fee":1}]`},
		{"base and large", map[string]any{"source": "payments", "payload": map[string]any{"amount": 5000}}, []string{"base", "large"}, `[{"fee":5.5}]`},
		{"no payload", map[string]any{"source": "payments"}, []string{"base"}, `[{"fee":1}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tb.Evaluate(tc.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.RuleIDs, tc.ids) {
				t.Errorf("RuleIDs = %v, want %v", res.RuleIDs, tc.ids)
			}
			if out, _ := json.Marshal(res.Outputs); string(out) != tc.out {
				t.Errorf("Outputs = %s, want %s", out, tc.out)
			}
			want := []string{"Every event costs one", "Large amounts cost more"}[:len(tc.ids)]
			if !reflect.DeepEqual(res.Annotations, want) {
				t.Errorf("Annotations = %q, want %q", res.Annotations, want)
			}
		})
	}
}

// TestDMN15Priority reads DMN 1.5 with annotation columns and ranks rules
// by the action output values.
func TestDMN15Priority(t *testing.T) {
	tb := mustLoad(t, "testdata/priority-dmn15.dmn")
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{"only default", Input{Reason: "UNKNOWN_MESSAGE"}, Decision{Action: "ignore", Severity: "none", RuleID: "r_ignore"}},
		{"buffer beats ignore", Input{Reason: "NO_INSTANCE"}, Decision{Action: "buffer", Severity: "none", RuleID: "r_early"}},
		{"incident beats buffer", Input{Reason: "NO_INSTANCE", Payload: map[string]any{"amount": 1000}}, Decision{Action: "incident", Severity: "high", RuleID: "r_money"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tb.Decide(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
	res, err := tb.Evaluate(map[string]any{"reason": "NO_INSTANCE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Wait for the start event"}; !reflect.DeepEqual(res.Annotations, want) {
		t.Errorf("Annotations = %q, want %q", res.Annotations, want)
	}
}
