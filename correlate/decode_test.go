package correlate

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

var (
	recTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	readAt  = time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)
)

// exampleSource is the source of shared/examples/tracker.yaml.
func exampleSource(t testing.TB, mod func(*config.Source)) *Source {
	t.Helper()
	cs := config.Source{
		Name:           "orders",
		Topics:         []string{"orders", "payments"},
		Format:         "auto",
		MessageName:    "$.type",
		CorrelationKey: "$.orderId",
		MessageID:      "$.id",
		EventTime:      "$.time",
		Variables:      "$.data",
		Start:          map[string]string{"OrderPlaced": "order-fulfillment"},
		MaxEventBytes:  4096,
	}
	if mod != nil {
		mod(&cs)
	}
	s, err := CompileSource(cs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hdrs(kv ...string) []engine.Header {
	var h []engine.Header
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, engine.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return h
}

func TestDecode(t *testing.T) {
	type want struct {
		name, key, id, start, vars string
		eventTime                  time.Time
		invalid                    engine.Reason
		detail                     string
	}
	ceSource := func(c *config.Source) {
		c.Format = "cloudevents"
		c.MessageName, c.CorrelationKey, c.MessageID, c.EventTime, c.Variables = "", "", "", "", ""
	}
	tests := []struct {
		name    string
		mod     func(*config.Source)
		key     string
		value   string
		headers []engine.Header
		want    want
	}{
		{
			name:  "plain JSON",
			value: `{"id":"e-1","type":"OrderPlaced","orderId":"A-1001","time":"2026-11-01T09:00:00Z","data":{"customer":"c-17","total":129.90}}`,
			want: want{name: "OrderPlaced", key: "A-1001", id: "e-1", start: "order-fulfillment",
				vars: `{"customer":"c-17","total":129.90}`, eventTime: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)},
		},
		{
			name:  "numeric key and id, time in Unix milliseconds",
			value: `{"id":17,"type":"PaymentReceived","orderId":4711,"time":1793523600000}`,
			want:  want{name: "PaymentReceived", key: "4711", id: "17", eventTime: time.UnixMilli(1793523600000).UTC()},
		},
		{
			name:  "defaults: id from position, time from record",
			value: `{"type":"PaymentReceived","orderId":"A-1"}`,
			want:  want{name: "PaymentReceived", key: "A-1", id: "orders/3/42", eventTime: recTime},
		},
		{
			name:  "key and header paths",
			mod:   func(c *config.Source) { c.CorrelationKey, c.MessageName = "$key", "$headers.event-type" },
			key:   "A-7",
			value: `{"x":1}`, headers: hdrs("Event-Type", "GoodsShipped"),
			want: want{name: "GoodsShipped", key: "A-7", id: "orders/3/42", eventTime: recTime},
		},
		{
			name:  "bracket and index paths",
			mod:   func(c *config.Source) { c.CorrelationKey, c.MessageName = "$.lines[1]['order-id']", "$['event.type']" },
			value: `{"event.type":"GoodsFetched","lines":[{"order-id":"no"},{"order-id":"A-9"}]}`,
			want:  want{name: "GoodsFetched", key: "A-9", id: "orders/3/42", eventTime: recTime},
		},
		{
			name:  "whole payload as variables",
			mod:   func(c *config.Source) { c.Variables = "" },
			value: `{"type":"X","orderId":"A-1"}`,
			want:  want{name: "X", key: "A-1", id: "orders/3/42", eventTime: recTime, vars: `{"type":"X","orderId":"A-1"}`},
		},
		{
			name: "CloudEvents structured by content type",
			mod:  ceSource,
			value: `{"specversion":"1.0","id":"ce-1","source":"/orders","type":"OrderPlaced","subject":"A-2",
				"time":"2026-11-01T10:00:00Z","datacontenttype":"application/json","data":{"total":5}}`,
			headers: hdrs("content-type", "application/cloudevents+json; charset=utf-8"),
			want: want{name: "OrderPlaced", key: "A-2", id: "ce-1", start: "order-fulfillment", vars: `{"total":5}`,
				eventTime: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		},
		{
			name:  "CloudEvents structured detected from specversion, correlationkey beats subject",
			mod:   func(c *config.Source) { c.CorrelationKey = "$.orderId" },
			value: `{"specversion":"1.0","id":"ce-2","source":"/p","type":"PaymentReceived","subject":"s","correlationkey":"A-3","data":{"amount":1}}`,
			want:  want{name: "PaymentReceived", key: "A-3", id: "ce-2", vars: `{"amount":1}`, eventTime: recTime},
		},
		{
			name:  "CloudEvents structured, traceid beats subject",
			mod:   ceSource,
			value: `{"specversion":"1.0","id":"ce-3","source":"/p","type":"T","subject":"s","traceid":"tr-1"}`,
			want:  want{name: "T", key: "tr-1", id: "ce-3", eventTime: recTime},
		},
		{
			name:    "CloudEvents binary",
			mod:     ceSource,
			value:   `{"amount":12.5}`,
			headers: hdrs("ce_specversion", "1.0", "ce_id", "b-1", "ce_source", "/pay", "ce_type", "PaymentReceived", "ce_correlationkey", "A-4", "ce_time", "2026-11-02T00:00:00Z", "content-type", "application/json"),
			want:    want{name: "PaymentReceived", key: "A-4", id: "b-1", vars: `{"amount":12.5}`, eventTime: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)},
		},
		{
			name:    "CloudEvents binary with data paths",
			mod:     func(c *config.Source) { c.CorrelationKey, c.Variables = "$.data.order.id", "$.data.order" },
			value:   `{"order":{"id":"A-5","n":1}}`,
			headers: hdrs("ce_specversion", "1.0", "ce_id", "b-2", "ce_source", "/pay", "ce_type", "GoodsShipped"),
			want:    want{name: "GoodsShipped", key: "A-5", id: "b-2", vars: `{"id":"A-5","n":1}`, eventTime: recTime},
		},
		{
			name:    "CloudEvents binary with non-JSON data",
			mod:     ceSource,
			value:   "\xff\x00binary",
			headers: hdrs("ce_specversion", "1.0", "ce_id", "b-3", "ce_source", "/x", "ce_type", "Blob", "ce_subject", "A-6", "ce_datacontenttype", "application/octet-stream"),
			want:    want{name: "Blob", key: "A-6", id: "b-3", eventTime: recTime},
		},
		{
			name:  "missing name",
			value: `{"orderId":"A-1","id":"e-9"}`,
			want:  want{id: "e-9", key: "A-1", eventTime: recTime, invalid: engine.ReasonUnknownMessage, detail: "no message name at $.type"},
		},
		{
			name:  "missing correlation key",
			value: `{"id":"e-7","type":"Heartbeat","service":"payment","time":"2026-11-03T10:00:05Z"}`,
			want: want{name: "Heartbeat", id: "e-7", eventTime: time.Date(2026, 11, 3, 10, 0, 5, 0, time.UTC),
				invalid: engine.ReasonMissingCorrelationKey, detail: "no correlation key at $.orderId"},
		},
		{
			name:  "empty correlation key",
			value: `{"type":"T","orderId":""}`,
			want:  want{name: "T", id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonMissingCorrelationKey, detail: "empty correlation key at $.orderId"},
		},
		{
			name:  "CloudEvent without any key attribute",
			mod:   ceSource,
			value: `{"specversion":"1.0","id":"c","source":"/p","type":"T"}`,
			want: want{name: "T", id: "c", eventTime: recTime, invalid: engine.ReasonMissingCorrelationKey,
				detail: "no correlation key at correlation_key (not configured)"},
		},
		{
			name:  "invalid JSON",
			value: `{"type":"OrderPlaced","orderId":}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "invalid JSON at byte 32: invalid character '}' looking for beginning of value"},
		},
		{
			name:  "invalid UTF-8",
			value: "{\"type\":\"Order\xffPlaced\",\"orderId\":\"A\"}",
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "invalid UTF-8 at byte 14"},
		},
		{
			name:  "empty value",
			value: ``,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "empty record value"},
		},
		{
			name:  "array value",
			value: `[1,2]`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "record value is an array, want a JSON object"},
		},
		{
			name:  "over max_event_bytes",
			value: `{"type":"T","orderId":"A","pad":"` + strings.Repeat("x", 4096) + `"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "record value is 4131 bytes, over max_event_bytes 4096"},
		},
		{
			name:  "name of wrong type",
			value: `{"type":{"n":1},"orderId":"A"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "message_name at $.type is an object, want a string"},
		},
		{
			name:  "key of wrong type",
			value: `{"type":"T","orderId":true}`,
			want:  want{name: "T", id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "correlation_key at $.orderId: is a boolean, want a string or number"},
		},
		{
			name:  "bad time",
			value: `{"type":"T","orderId":"A","time":"yesterday"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: `event_time at $.time: "yesterday" is not an RFC 3339 time`},
		},
		{
			name:  "variables not an object",
			value: `{"type":"T","orderId":"A","data":[1]}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "variables at $.data is an array, want an object"},
		},
		{
			name:  "format cloudevents rejects plain JSON",
			mod:   ceSource,
			value: `{"type":"T"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "not a CloudEvent: no ce_specversion header and no specversion attribute"},
		},
		{
			name:  "format json ignores CloudEvents headers",
			mod:   func(c *config.Source) { c.Format = "json" },
			value: `{"type":"T","orderId":"A"}`, headers: hdrs("ce_specversion", "1.0"),
			want: want{name: "T", key: "A", id: "orders/3/42", eventTime: recTime},
		},
		{
			name:  "CloudEvent missing source",
			value: `{"specversion":"1.0","id":"x","type":"T","subject":"A"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "CloudEvent without required attribute source"},
		},
		{
			name:    "binary CloudEvent attribute not UTF-8",
			value:   `{}`,
			headers: hdrs("ce_specversion", "1.0", "ce_id", "x", "ce_source", "/s", "ce_type", "T\xff"),
			want:    want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: "CloudEvent attribute type (header ce_type) is not valid UTF-8"},
		},
		{
			name:  "CloudEvent with unsupported specversion",
			value: `{"specversion":"0.3","id":"x","source":"/s","type":"T","subject":"A"}`,
			want:  want{id: "orders/3/42", eventTime: recTime, invalid: engine.ReasonDecodeError, detail: `CloudEvent specversion "0.3" not supported, want 1.0`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := exampleSource(t, tt.mod)
			rec := &Record{Topic: "orders", Partition: 3, Offset: 42, Value: []byte(tt.value), Headers: tt.headers, Time: recTime}
			if tt.key != "" {
				rec.Key = []byte(tt.key)
			}
			m := s.Decode(rec, readAt)
			got := want{name: m.Name, key: m.CorrelationKey, id: m.ID, start: m.Start, vars: string(m.Variables),
				eventTime: m.EventTime, invalid: m.Invalid, detail: m.Detail}
			if got != tt.want {
				t.Fatalf("Decode:\n got %+v\nwant %+v", got, tt.want)
			}
			if m.Source != "orders" || m.BufferTTL != DefaultBufferTTL || m.ReadAt != readAt ||
				m.Position != (engine.Position{Topic: "orders", Partition: 3, Offset: 42}) {
				t.Fatalf("bookkeeping fields wrong: %+v", m)
			}
			if len(tt.value) <= s.MaxBytes && !bytes.Equal(m.Raw, []byte(tt.value)) {
				t.Fatalf("Raw = %q, want the record value", m.Raw)
			}
		})
	}
}

func TestCompileSourceErrors(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
		want string
	}{
		{"bad format", config.Source{Name: "s", Format: "xml"}, `source "s": format: unknown format "xml": use auto, json or cloudevents`},
		{"bad paths", config.Source{Topics: []string{"t"}, MessageName: "type", Variables: "$.a[*]"},
			"source \"t\": message_name: jsonpath \"type\": must start with $ (e.g. $.orderId, $key, $headers.name)\n" +
				`variables: jsonpath "$.a[*]": "*" at position 3 is not an array index (wildcards and filters are not supported)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileSource(tt.src)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}

// TestDecodeExampleEvents maps the shared example events with the example
// source: every one decodes, except Heartbeat, which has no order id.
func TestDecodeExampleEvents(t *testing.T) {
	s := exampleSource(t, nil)
	lines := readLines(t, filepath.Join("testdata", "events.jsonl"))
	for i, line := range lines {
		m := s.Decode(&Record{Topic: "orders", Offset: int64(i), Value: line, Time: recTime}, readAt)
		wantInvalid := engine.Reason("")
		if m.Name == "Heartbeat" {
			wantInvalid = engine.ReasonMissingCorrelationKey
		}
		if m.Invalid != wantInvalid || m.Name == "" || !strings.HasPrefix(m.ID, "e-") {
			t.Errorf("line %d: %+v", i+1, m)
		}
	}
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecode checks that no record value or header makes decoding panic,
// that an accepted record has a name, a key and an id, and that reading the
// members in one scan decodes exactly like one lookup per field.
func FuzzDecode(f *testing.F) {
	for _, line := range readLines(f, filepath.Join("testdata", "events.jsonl")) {
		f.Add(line, "")
	}
	for _, line := range readLines(f, filepath.Join("testdata", "bad.jsonl")) {
		f.Add(line, "")
	}
	f.Add([]byte(`{"a":1}`), "1.0")
	f.Add([]byte(`{"type":"A","type":"B","orderId":"k","orderId":1,"id":"x"}`), "") // first occurrence wins
	f.Add([]byte(`{"ty\u0070e":"OrderPlaced","orderId":"A-1","data":{"type":"inner"}}`), "")
	f.Add([]byte(`{"specversion":"1.0","id":"c","source":"s","type":"T","subject":"k","data":{"x":1},"time":"2026-11-01T09:00:00Z"}`), "")
	s := exampleSource(f, nil)
	lookups := *s
	lookups.top = nil // every field by its own lookup
	f.Fuzz(func(t *testing.T, value []byte, spec string) {
		rec := &Record{Topic: "t", Value: value, Time: recTime}
		if spec != "" {
			rec.Headers = hdrs("ce_specversion", spec, "ce_id", "i", "ce_source", "s", "ce_type", "T", "ce_subject", "k")
		}
		m := s.Decode(rec, readAt)
		if m.Invalid == "" && (m.Name == "" || m.CorrelationKey == "" || m.ID == "") {
			t.Fatalf("valid message without name, key or id: %+v", m)
		}
		if want := lookups.Decode(rec, readAt); !reflect.DeepEqual(m, want) {
			t.Fatalf("one scan decodes\n%+v\nlookups decode\n%+v", m, want)
		}
	})
}
