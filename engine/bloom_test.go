package engine

import (
	"strconv"
	"testing"
)

// TestBloomChainFalsePositives: however far the chain grows past its first
// filter, it never forgets an entry and its false-positive rate stays low
// (a false positive costs a store read on the hot path).
func TestBloomChainFalsePositives(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		entries int
	}{
		{"within the first filter", 1 << 16, 50_000},
		{"grown far past its first filter", 1 << 12, 250_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newBloomChain(tt.size)
			for i := range tt.entries {
				c.add("order-" + strconv.Itoa(i))
			}
			for i := range tt.entries {
				if !c.has("order-" + strconv.Itoa(i)) {
					t.Fatalf("entry %d added but not found", i)
				}
			}
			fp := 0
			const probes = 1_000_000
			for i := range probes {
				if c.has("absent-" + strconv.Itoa(i)) {
					fp++
				}
			}
			rate := float64(fp) / probes
			t.Logf("%d filters, false-positive rate %.3f%%, %.2f bytes per entry", len(c.filters), 100*rate, float64(c.bytes())/float64(tt.entries))
			if rate > 0.003 {
				t.Errorf("false-positive rate %.2f%% with %d filters, want under 0.3%%", 100*rate, len(c.filters))
			}
			if perEntry := float64(c.bytes()) / float64(tt.entries); perEntry > 6 {
				t.Errorf("%.1f bytes per entry", perEntry)
			}
		})
	}
}

// BenchmarkBloomChainMiss: a lookup of an id never added (the common case on
// the hot path) in a chain grown to hold 5M ids, as one day of the apply
// benchmark does.
func BenchmarkBloomChainMiss(b *testing.B) {
	c := newBloomChain(1 << 18)
	for i := range 5_000_000 {
		c.addHash(bloomHash("order-" + strconv.Itoa(i)))
	}
	hs := make([]uint64, 1<<20)
	for i := range hs {
		hs[i] = bloomHash("absent-" + strconv.Itoa(i))
	}
	b.Logf("%d filters", len(c.filters))
	n := 0
	for i := 0; b.Loop(); i++ {
		if c.hasHash(hs[i&(1<<20-1)]) {
			n++
		}
	}
	b.ReportMetric(float64(n)/float64(b.N), "fp/op")
}
