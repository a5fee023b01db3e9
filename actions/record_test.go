package actions

import (
	"bytes"
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
		{"variables that are not an object are kept", engine.Action{
			ID: "a3", Type: "Raw", Target: "raw", CorrelationKey: "A-9", RaisedAt: due.UTC(),
			Variables: json.RawMessage(`"not json{"`), Headers: map[string]string{"variables": "x"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRecord(&tt.a)
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

// marshalRecord is the reference encoding: encoding/json over NewRecord.
func marshalRecord(a engine.Action) ([]byte, error) {
	r, err := NewRecord(a)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// The hand-written encoder writes exactly what encoding/json writes for the
// Record, so consumers see the same bytes as before it existed.
func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	due := time.Date(2026, 11, 15, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	base := engine.Action{
		ID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Type: "SendDelayNoticeCommand", ProcessID: "order-fulfillment",
		Version: 3, InstanceKey: -42, CorrelationKey: "A-1001", ElementID: "SendDelayNotice", RaisedAt: due,
	}
	tests := []struct {
		name string
		edit func(a *engine.Action)
	}{
		{"plain", func(a *engine.Action) { a.Variables = json.RawMessage(`{"customer":"c-17","total":129.9}`) }},
		{"due time", func(a *engine.Action) { a.DueAt = &due }},
		{"whitespace in variables", func(a *engine.Action) { a.Variables = json.RawMessage(" {\n \"a\" : [ 1 , 2 ] ,\t\"b\":\"x y\" }\n") }},
		{"html and line separators in variables", func(a *engine.Action) {
			a.Variables = json.RawMessage(`{"note":"<b>a & b</b>","sep":"x` + "\u2028\u2029" + `y"}`)
		}},
		{"escapes in strings", func(a *engine.Action) {
			a.CorrelationKey = "quote\" backslash\\ tab\t nl\n <tag> & \u2028 é \x7f"
			a.Type = "\x00\x1f"
			a.ElementID = "bad utf8 \xff\xfe"
		}},
		{"selected variables with spaces", func(a *engine.Action) {
			a.Variables = json.RawMessage(`{"a": { "x" : 1 }, "b": "<", "c": 3}`)
			a.Headers = map[string]string{"variables": "b, a"}
		}},
		{"null variables", func(a *engine.Action) { a.Variables = json.RawMessage(" null ") }},
		{"array variables", func(a *engine.Action) { a.Variables = json.RawMessage(`[1, "<"]`) }},
		{"zero time", func(a *engine.Action) { a.RaisedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.edit(&a)
			want, err := marshalRecord(a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeRecord(&a)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("encodeRecord:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}

func TestEncodeRecordErrors(t *testing.T) {
	tests := []struct {
		name string
		a    engine.Action
		want string
	}{
		{"invalid variables", engine.Action{ID: "a1", Type: "T", Variables: json.RawMessage(`{"a":`)},
			"action a1 (T): variables are not valid JSON"},
		{"invalid selected variables", engine.Action{ID: "a2", Type: "T", Variables: json.RawMessage(`{"a":1,}`), Headers: map[string]string{"variables": "a"}},
			"action a2 (T): variables are not valid JSON"},
		{"year out of range", engine.Action{ID: "a3", Type: "T", RaisedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
			"encode action a3: raisedAt: year 10000 outside of range [0,9999]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			b.WriteString("kept")
			err := appendRecord(&b, &tt.a)
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
			if b.String() != "kept" {
				t.Errorf("buffer after a failed record = %q, want it unchanged", b.String())
			}
		})
	}
}

func FuzzEncodeRecord(f *testing.F) {
	f.Add("A-1", "Cmd", []byte(`{"a":1,"b":"<x>"}`), "", int64(7), int64(1763197200))
	f.Add("k\"\\\n", "T\u2028", []byte(" { \"a\" : [1, 2] } "), "a", int64(-1), int64(0))
	f.Add("\xff", "", []byte(`null`), "b,a", int64(0), int64(-62135596800))
	f.Add("x", "y", []byte(`{"a":`), "", int64(1), int64(1))
	f.Fuzz(func(t *testing.T, key, typ string, vars []byte, list string, instance, unix int64) {
		a := engine.Action{ID: "id", Type: typ, CorrelationKey: key, InstanceKey: instance, RaisedAt: time.Unix(unix, 0),
			Variables: vars, Headers: map[string]string{"variables": list}}
		want, wantErr := marshalRecord(a)
		got, err := encodeRecord(&a)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("encodeRecord err = %v, encoding/json err = %v", err, wantErr)
		}
		if err == nil && string(got) != string(want) {
			t.Fatalf("encodeRecord:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}
