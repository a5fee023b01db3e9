package models

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkParseExample measures parse + validate of the shared example
// model (target: under 1 ms). Besides wall time it reports the process CPU
// time per model, which stays meaningful on a busy machine.
func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/order-fulfillment.bpmn")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime()
	for b.Loop() {
		defs, problems := Parse("order-fulfillment.bpmn", data, Options{})
		if HasErrors(problems) || len(defs.Processes) != 1 {
			b.Fatalf("unexpected problems: %v", problems)
		}
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/model")
	}
}

// cpuTime is the user+system CPU time of the process so far (0 where unknown).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
