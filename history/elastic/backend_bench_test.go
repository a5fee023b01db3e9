package elastic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

// BenchmarkApply measures the client side of ingest: building documents,
// the BulkProcessor's NDJSON encoding and the response parsing, against a
// server that acknowledges every action (no Elasticsearch work included).
func BenchmarkApply(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/_bulk" {
			io.WriteString(w, `{"_index":"tracker-meta-v1","_id":"checkpoint","_version":2,"result":"updated","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1}`)
			return
		}
		n := bytes.Count(body, []byte("\n")) / 2
		var out bytes.Buffer
		out.WriteString(`{"took":1,"errors":false,"items":[`)
		for i := range n {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"index":{"_index":"x","_id":"1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}}`)
		}
		out.WriteString(`]}`)
		w.Write(out.Bytes())
	}))
	defer srv.Close()
	be, err := open(context.Background(), Options{URLs: []string{srv.URL}}, false)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	const perBatch = 1000
	batch := &history.Batch{}
	for i := range perBatch / 2 {
		k := int64(i + 1)
		batch.Events = append(batch.Events, historytest.Ev(fmt.Sprintf("m%d", i), "OrderPlaced", fmt.Sprintf("ORD-%d", i), "started", k,
			t0.Add(time.Duration(i)*time.Second), fmt.Sprintf(`{"orderId":"ORD-%d","amount":42.5,"items":[{"sku":"kettle","qty":1}]}`, i)))
		batch.Instances = append(batch.Instances, historytest.Inst(k, "order", 1, fmt.Sprintf("ORD-%d", i), t0, `{"orderId":"ORD-1"}`,
			history.ActiveElement{ElementID: "PaymentReceived", ElementKey: k * 10, Since: t0}))
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		batch.Checkpoint++
		if err := be.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/time.Since(start).Seconds(), "docs/s")
}

// BenchmarkEventDoc measures building one event document with its text.
func BenchmarkEventDoc(b *testing.B) {
	e := historytest.Ev("m1", "OrderPlaced", "ORD-4711", "started", 10, t0, `{"orderId":"ORD-4711","amount":42.5,"customer":{"name":"Acme","tags":["a","b"]}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = newEventDoc(e)
	}
}
