package actions

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestNewRecordGolden(t *testing.T) {
	due := time.Date(2026, 11, 15, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		a    engine.Action
	}{
		{"timer action", engine.Action{
			ID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Type: "SendDelayNoticeCommand", Target: "commands",
			ProcessID: "order-fulfillment", Version: 2, InstanceKey: 2251799813685249, CorrelationKey: "A-1001",
			ElementID: "SendDelayNotice", RaisedAt: due, DueAt: &due,
			Variables: json.RawMessage(`{"customer":"c-17","total":129.9,"items":3}`),
			Headers:   map[string]string{"topic": "commands", "messageType": "SendDelayNoticeCommand"},
		}},
		{"selected variables", engine.Action{
			ID: "a1", Type: "CancelOrderCommand", ProcessID: "order-fulfillment", Version: 1, InstanceKey: 7,
			CorrelationKey: "A-1002", ElementID: "CancelOrder", RaisedAt: due.UTC(),
			Variables: json.RawMessage(`{"customer":"c-18","total":10,"secret":"x","nested":{"a":[1,2]}}`),
			Headers:   map[string]string{"variables": " total,nested , missing,,total"},
		}},
		{"no variables", engine.Action{ID: "a2", Type: "Ping", ElementID: "Ping", RaisedAt: due.UTC()}},
		{"dead letter keeps the raw record", engine.Action{
			ID: "a3", Type: "dead-letter", Target: "dead-letter", CorrelationKey: "A-9", RaisedAt: due.UTC(),
			Variables: json.RawMessage(`"not json{"`), Headers: map[string]string{"reason": "DECODE_ERROR", "variables": "x"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRecord(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			var indented map[string]any
			if err := json.Unmarshal(got, &indented); err != nil {
				t.Fatalf("record is not a JSON object: %v\n%s", err, got)
			}
			pretty, _ := json.MarshalIndent(json.RawMessage(got), "", "  ")
			pretty = append(pretty, '\n')
			file := filepath.Join("testdata", "record-"+sanitize(tt.name)+".golden.json")
			if *update {
				if err := os.WriteFile(file, pretty, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(pretty) != string(want) {
				t.Errorf("record differs from %s:\n%s\nwant:\n%s", file, pretty, want)
			}
		})
	}
}

func TestNewRecordRejectsInvalidVariables(t *testing.T) {
	_, err := NewRecord(engine.Action{ID: "a9", Type: "T", Variables: json.RawMessage(`{"a":`)})
	if err == nil || err.Error() != "action a9 (T): variables are not valid JSON" {
		t.Errorf("err = %v", err)
	}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ' ' {
			b[i] = '-'
		}
	}
	return string(b)
}

func FuzzSelectVariables(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[1,2]},"d":"x"}`), "a, d")
	f.Add([]byte(`{"customer":"c-17","total":129.9}`), "customer,total,missing")
	f.Add([]byte(`[1,2]`), "a")
	f.Add([]byte(`null`), "")
	f.Add([]byte(`{"a":`), "a")
	f.Fuzz(func(t *testing.T, vars []byte, list string) {
		out, err := selectVariables(vars, list)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("selectVariables(%q, %q) = %q: not JSON", vars, list, out)
		}
	})
}
