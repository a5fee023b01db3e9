package models

import (
	"os"
	"testing"
)

// BenchmarkParseExample measures parse + validate of the shared example
// model (target: well under 1 ms).
func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/order-fulfillment.bpmn")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		defs, problems := Parse("order-fulfillment.bpmn", data, Options{})
		if HasErrors(problems) || len(defs.Processes) != 1 {
			b.Fatalf("unexpected problems: %v", problems)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/model")
}
