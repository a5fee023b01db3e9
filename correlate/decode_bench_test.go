package correlate

import (
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// BenchmarkDecode measures mapping one record to a message, per format.
func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name  string
		value string
		hdrs  []engine.Header
	}{
		{"plain", `{"id":"e-1","type":"OrderPlaced","orderId":"A-1001","time":"2026-11-01T09:00:00Z","data":{"customer":"c-17","total":129.90,"items":3}}`, nil},
		{"structured", `{"specversion":"1.0","id":"c-1","source":"/shop","type":"OrderPlaced","correlationkey":"A-2","time":"2026-11-01T09:00:00Z","data":{"customer":"c-17","total":129.90,"items":3}}`, nil},
		{"binary", `{"customer":"c-17","total":129.90,"items":3}`, hdrs("ce_specversion", "1.0", "ce_id", "b-1", "ce_source", "/pay",
			"ce_type", "PaymentReceived", "ce_correlationkey", "A-4", "ce_time", "2026-11-02T00:00:00Z")},
		{"invalid", `{"id":"e-1","type":"OrderPlaced","orderId":}`, nil},
	}
	s := exampleSource(b, nil)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rec := &Record{Topic: "orders", Partition: 1, Offset: 7, Value: []byte(c.value), Headers: c.hdrs, Time: recTime}
			now := time.Now()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.value)))
			for b.Loop() {
				m := s.Decode(rec, now)
				if m.Name == "" && m.Invalid == "" {
					b.Fatal("no name")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
