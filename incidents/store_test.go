package incidents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

func TestOpenOptions(t *testing.T) {
	h := newHarness(t, false)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"nothing", Options{}, "incidents options: Dir is required\nincidents options: Feed is required"},
		{"negative", Options{Dir: t.TempDir(), Feed: h.eng, BatchSize: -1, PollInterval: -time.Second},
			"incidents options: BatchSize -1 must not be negative\nincidents options: PollInterval -1s must not be negative"},
		{"bulk max", Options{Dir: t.TempDir(), Feed: h.eng, BulkMax: 1001}, "incidents options: BulkMax 1001 must be between 0 (default 100) and 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}

func TestOpenNewerSchemaRefused(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.store.wdb.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: filepath.Join(h.dir, "incidents"), Feed: h.eng})
	if err == nil || !strings.Contains(err.Error(), "schema version 99, this build reads up to 1 (written by a newer tracker)") {
		t.Fatalf("err %v", err)
	}
}

// Run follows the feed on its own and stops with its context.
func TestRunFollowsFeed(t *testing.T) {
	h := newHarness(t, false)
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.store.Run(ctx) }()
	h.send(`{"id":"o-1","type":"OrderPlaced","orderId":"A-1"}`)
	for {
		n, err := h.store.Count(h.ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		select {
		case <-h.ctx.Done():
			t.Fatal("the incident never showed up")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := h.store.Status()
	if cp, _ := h.store.Checkpoint(h.ctx); st.Checkpoint != cp || cp == 0 || st.LastError != "" {
		t.Fatalf("status %+v, checkpoint %d", st, cp)
	}
}

func TestEventJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
		want string
	}{
		{"text", Event{Raw: []byte(`{"a":1}`), Key: []byte("A-1"), Headers: []engine.Header{{Key: "h", Value: []byte("v")}}, Topic: "orders", Partition: 2, Offset: 7},
			`{"raw":"{\"a\":1}","key":"A-1","headers":[{"key":"h","value":"v"}],"topic":"orders","partition":2,"offset":7}`},
		{"binary", Event{Raw: []byte{0xff, 0x00}, Key: []byte{0xfe}, Headers: []engine.Header{{Key: "b", Value: []byte{0x80}}}},
			`{"rawBase64":"/wA=","keyBase64":"/g==","headers":[{"key":"b","valueBase64":"gA=="}],"partition":0,"offset":0}`},
		{"empty", Event{}, `{"partition":0,"offset":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("got  %s\nwant %s", b, tc.want)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Raw, tc.ev.Raw) || !bytes.Equal(back.Key, tc.ev.Key) || len(back.Headers) != len(tc.ev.Headers) {
				t.Fatalf("round trip %+v, want %+v", back, tc.ev)
			}
		})
	}
	var ev Event
	if err := json.Unmarshal([]byte(`{"rawBase64":"%%"}`), &ev); err == nil || !strings.Contains(err.Error(), "event raw: illegal base64 data") {
		t.Fatalf("bad base64: %v", err)
	}
}

// FuzzEventJSON: any record value, key and header survive the JSON form.
func FuzzEventJSON(f *testing.F) {
	data, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f.Add(line, []byte("A-1001"), []byte("00-abc-01"))
	}
	f.Add([]byte{0xff, 0xfe}, []byte{}, []byte{0x80})
	f.Fuzz(func(t *testing.T, raw, key, hv []byte) {
		ev := Event{Raw: raw, Key: key, Headers: []engine.Header{{Key: "h", Value: hv}}}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Raw, raw) || !bytes.Equal(back.Key, key) || !bytes.Equal(back.Headers[0].Value, hv) {
			t.Fatalf("round trip of %q, %q, %q gave %q, %q, %q", raw, key, hv, back.Raw, back.Key, back.Headers[0].Value)
		}
	})
}

// fixedFeed serves a fixed list of changes.
type fixedFeed []engine.Change

func (f fixedFeed) FeedNotify() <-chan struct{} { return nil }

func (f fixedFeed) Feed(from uint64, max int) ([]engine.Change, error) {
	var out []engine.Change
	for _, c := range f {
		if c.Seq >= from && len(out) < max {
			out = append(out, c)
		}
	}
	return out, nil
}

// An engine that puts the record's key, headers, position and decision into
// its incident entries (and writes one for dead letters) is read as such,
// without a duplicate from the dead-letter message change.
func TestProjectExtendedIncidentPayload(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	id := messageIncidentID("orders/1/9", at, "DECODE_ERROR")
	feed := fixedFeed{
		{Seq: 1, Kind: engine.ChangeIncident, Time: at, WallTime: at, Payload: []byte(`{"incidentId":"` + id + `","reason":"DECODE_ERROR",
			"messageId":"orders/1/9","source":"orders","severity":"high","ruleId":"Rule_Decode","detail":"invalid JSON","eventTime":"2026-11-03T10:00:00Z",
			"raw":"{oops","action":"dead-letter","key":"QS0x","headers":[{"Key":"traceparent","Value":"MDAtYWJj"}],
			"topic":"orders","partition":1,"offset":9,"readAt":"2026-11-03T10:00:01Z"}`)},
		{Seq: 2, Kind: engine.ChangeMessage, Time: at, WallTime: at, Payload: []byte(`{"messageId":"orders/1/9","name":"","correlationKey":"",
			"outcome":"uncorrelated","reason":"DECODE_ERROR","decision":{"Action":"dead-letter","Severity":"high","RuleID":"Rule_Decode"},
			"eventTime":"2026-11-03T10:00:00Z","topic":"orders","partition":1,"offset":9}`)},
	}
	s, err := Open(Options{Dir: t.TempDir(), Feed: feed, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := s.List(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("%d incidents, want 1", len(p.Items))
	}
	inc := p.Items[0]
	ev := inc.Event
	if inc.ID != id || inc.Decision != "dead-letter" || string(ev.Raw) != "{oops" || string(ev.Key) != "A-1" ||
		len(ev.Headers) != 1 || string(ev.Headers[0].Value) != "00-abc" || ev.Topic != "orders" || ev.Partition != 1 || ev.Offset != 9 ||
		!ev.ReadAt.Equal(at.Add(time.Second)) {
		t.Fatalf("incident %s", mustJSON(t, inc))
	}
}

type brokenFeed struct{}

func (brokenFeed) FeedNotify() <-chan struct{} { return nil }

func (brokenFeed) Feed(uint64, int) ([]engine.Change, error) {
	return nil, errors.New("engine store is closed")
}

func TestStepErrorInStatus(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Feed: brokenFeed{}, NoSync: true, Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Step(t.Context())
	want := "read change feed from 1: engine store is closed"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	if st := s.Status(); st.LastError != want || !st.LastErrorAt.Equal(t0) || st.CaughtUp {
		t.Fatalf("status %+v", st)
	}
}
