package decisiontable

import (
	"testing"
)

// BenchmarkDecide decides the shared example table for a mix of events that
// reach each of its rules (the last one falls through five rules).
func BenchmarkDecide(b *testing.B) {
	tb := mustLoad(b, "testdata/uncorrelated.dmn")
	events := make([]Input, len(exampleCases))
	for i, tc := range exampleCases {
		events[i] = tc.in
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := tb.Decide(events[n%len(events)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkEvaluate is Evaluate on the same table and events with a context
// map, including building the Result.
func BenchmarkEvaluate(b *testing.B) {
	tb := mustLoad(b, "testdata/uncorrelated.dmn")
	ctxs := make([]map[string]any, len(exampleCases))
	for i, tc := range exampleCases {
		ctxs[i] = map[string]any{"reason": tc.in.Reason, "messageName": tc.in.MessageName, "ageSeconds": tc.in.AgeSeconds}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := tb.Evaluate(ctxs[n%len(ctxs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "evaluations/s")
}
