package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleActions() []Action {
	due := time.Date(2026, 3, 15, 10, 0, 0, 123, time.UTC)
	return []Action{
		{Seq: 1, ID: "a1", Type: "SendDelayNoticeCommand", Target: "commands", ProcessID: "order-fulfillment", Version: 2,
			InstanceKey: 4711, CorrelationKey: "A-1", ElementID: "SendDelayNotice", RaisedAt: due.Add(-time.Hour), DueAt: &due,
			Variables: json.RawMessage(`{"amount":129.9,"items":[1,2]}`), Headers: map[string]string{"b": "2", "a": "1"},
			Attempts: 3, Requeued: 1, State: ActionPending, LastError: "broker: not enough replicas"},
		{Seq: 2, ID: "a2", Type: "t", State: ActionDelivered},
		{Seq: 3, ID: "quote\"back\\slash\n<tag>&\x01\u2028é\xff", Type: "x", RaisedAt: time.Unix(0, 0).UTC(),
			Variables: json.RawMessage(`{}`), State: ActionFailed, LastError: "tab\there"},
	}
}

// TestActionRecord: the binary outbox record round-trips every field, and
// an entry an earlier version stored as JSON still decodes.
func TestActionRecord(t *testing.T) {
	for _, a := range sampleActions() {
		t.Run(a.ID, func(t *testing.T) {
			got, err := decodeAction(encodeAction(nil, &a))
			if err != nil {
				t.Fatal(err)
			}
			want := a
			if len(want.Variables) == 0 {
				want.Variables = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip\n got %+v\nwant %+v", got, want)
			}
			legacy, _ := json.Marshal(a)
			got, err = decodeAction(legacy)
			if err != nil {
				t.Fatalf("legacy JSON entry: %v", err)
			}
			var viaJSON Action
			if err := json.Unmarshal(legacy, &viaJSON); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, viaJSON) {
				t.Errorf("legacy JSON entry\n got %+v\nwant %+v", got, viaJSON)
			}
		})
	}
	for _, bad := range [][]byte{nil, {9}, encodeAction(nil, &sampleActions()[0])[:20], []byte(`{"seq":`)} {
		if _, err := decodeAction(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeAction(% x): %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestActionJSON: the feed payload written without reflection is the bytes
// encoding/json writes.
func TestActionJSON(t *testing.T) {
	for _, a := range sampleActions() {
		t.Run(a.ID, func(t *testing.T) {
			want, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendActionJSON(nil, &a); !bytes.Equal(got, want) {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzActionJSON(f *testing.F) {
	for _, a := range sampleActions() {
		f.Add(a.ID, a.LastError, a.Headers["a"], int64(a.Seq))
	}
	f.Fuzz(func(t *testing.T, id, lastErr, header string, n int64) {
		a := Action{Seq: uint64(n), ID: id, Type: header, LastError: lastErr, InstanceKey: n, Attempts: int(n % 7),
			Headers: map[string]string{header: id}, RaisedAt: time.Unix(0, n).UTC(), Variables: json.RawMessage(`{"k":1}`)}
		want, err := json.Marshal(a)
		if err != nil {
			t.Skip()
		}
		if got := appendActionJSON(nil, &a); !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		back, err := decodeAction(encodeAction(nil, &a))
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Errorf("round trip: %v\n got %+v\nwant %+v", err, back, a)
		}
	})
}
