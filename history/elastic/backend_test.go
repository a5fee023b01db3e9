package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	es "github.com/olivere/elastic/v7"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

var t0 = historytest.T0

// fakeOptions points a backend at the fake with a fixed clock, one bulk
// worker and quick retries.
func fakeOptions(f *fakeES) Options {
	return Options{
		URLs:       []string{f.URL()},
		Now:        func() time.Time { return t0.Add(time.Hour) },
		MaxRetries: 2,
		MaxBackoff: time.Millisecond,
	}
}

// openFake starts the fake for testdata/exchanges/<name>.http and a backend
// on it without the template setup (tested on its own).
func openFake(t *testing.T, name string) *Backend {
	t.Helper()
	f := newFakeES(t, name).start()
	b, err := open(context.Background(), fakeOptions(f), false)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func TestOpenInstallsTemplatesAndIndices(t *testing.T) {
	f := newFakeES(t, "open").start()
	o := fakeOptions(f)
	o.IndexPrefix = "tracker"
	o.Shards, o.Replicas = 1, new(int)
	b, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestOpenTemplateRejected(t *testing.T) {
	f := newFakeES(t, "open-template-rejected").start()
	_, err := Open(context.Background(), fakeOptions(f))
	var e *es.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Details == nil || e.Details.Type != "illegal_argument_exception" {
		t.Fatalf("Open error = %v; want the cluster's 400 illegal_argument_exception", err)
	}
	if want := "install index template tracker-events: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open error = %q; want it to start with %q", err, want)
	}
}

// applyBatch is one of everything, with a zero-duration completed element and
// a payload with nested values for the full-text field.
func applyBatch() *history.Batch {
	in := historytest.Inst(10, "order", 1, "ORD-4711", t0, `{"orderId":"ORD-4711","amount":42.5,"customer":{"name":"Acme"}}`,
		history.ActiveElement{ElementID: "GoodsShipped", ElementKey: 13, Since: t0.Add(time.Hour)})
	return &history.Batch{
		Checkpoint: 42,
		Events: []history.Event{
			historytest.Ev("m1", "OrderPlaced", "ORD-4711", "started", 10, t0, `{"orderId":"ORD-4711","amount":42.5}`),
			historytest.Ev("m2", "GoodsShipped", "ORD-4711", "correlated", 10, t0.Add(20*time.Hour), `{"orderId":"ORD-4711","carrier":"DHL"}`),
		},
		Instances: []history.Instance{in},
		Elements: []history.ElementInstance{
			historytest.Elem(11, 10, "order", 1, "OrderPlaced", history.ElementCompleted, t0, t0),
			historytest.Elem(13, 10, "order", 1, "GoodsShipped", history.ElementActive, t0.Add(time.Hour), time.Time{}),
		},
		Incidents: []history.Incident{{ID: "inc-1", State: history.IncidentOpen, Reason: "ELEMENT_ERROR", InstanceKey: 10,
			ProcessID: "order", Version: 1, ElementID: "GoodsShipped", CreatedAt: t0.Add(2 * time.Hour), Seq: 40}},
		Actions: []history.Action{{ID: "act-1", OutboxSeq: 1, Type: "DelayNotice", InstanceKey: 10, RaisedAt: t0,
			Variables: json.RawMessage(`{"orderId":"ORD-4711"}`), State: "pending", UpdatedAt: t0, Seq: 41}},
	}
}

func TestApply(t *testing.T) {
	b := openFake(t, "apply")
	ctx := context.Background()
	if err := b.Apply(ctx, applyBatch()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cp, err := b.Checkpoint(ctx)
	if err != nil || cp != 42 {
		t.Fatalf("Checkpoint = %d, %v; want 42", cp, err)
	}
}

// TestApplyResolvedIncident: what the projector writes when an operator
// resolves an incident — the incident document, now resolved with its time,
// and its instance counting one open incident less, under the unchanged
// checkpoint.
func TestApplyResolvedIncident(t *testing.T) {
	b := openFake(t, "apply-resolved-incident")
	ctx := context.Background()
	all := applyBatch()
	inc := all.Incidents[0]
	inc.State, inc.ResolvedAt = history.IncidentResolved, t0.Add(3*time.Hour)
	in := all.Instances[0]
	in.Incidents = 0
	if err := b.Apply(ctx, &history.Batch{Checkpoint: 42, Incidents: []history.Incident{inc}, Instances: []history.Instance{in}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cp, err := b.Checkpoint(ctx)
	if err != nil || cp != 42 {
		t.Fatalf("Checkpoint = %d, %v; want 42", cp, err)
	}
}

func TestApplyEmptyBatchRecordsCheckpoint(t *testing.T) {
	b := openFake(t, "apply-empty")
	if err := b.Apply(context.Background(), &history.Batch{Checkpoint: 7}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestApplyRetriesRejectedItems(t *testing.T) {
	b := openFake(t, "apply-retry")
	batch := &history.Batch{Checkpoint: 3, Instances: []history.Instance{
		historytest.Inst(1, "order", 1, "A", t0, ""), historytest.Inst(2, "order", 1, "B", t0, ""),
	}}
	if err := b.Apply(context.Background(), batch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestApplyItemErrorKeepsCheckpoint(t *testing.T) {
	b := openFake(t, "apply-item-error")
	batch := &history.Batch{Checkpoint: 4, Instances: []history.Instance{
		historytest.Inst(1, "order", 1, "A", t0, ""), historytest.Inst(2, "order", 1, "B", t0, ""),
	}}
	err := b.Apply(context.Background(), batch)
	var ie *ItemError
	if !errors.As(err, &ie) {
		t.Fatalf("Apply error = %v; want an *ItemError", err)
	}
	want := ItemError{Index: "tracker-instances-v1", ID: "2", Status: 400, Type: "mapper_parsing_exception",
		Reason: "failed to parse field [startedAt] of type [date] in document with id '2'"}
	if *ie != want {
		t.Errorf("ItemError = %+v\nwant %+v", *ie, want)
	}
	if want := "apply history batch up to 4: 1 of 2 documents not written: index tracker-instances-v1 document 2: status 400: mapper_parsing_exception: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error text = %q\nwant prefix %q", err, want)
	}
}

func TestApplyClusterUnavailable(t *testing.T) {
	// The fake answers 503 to the first try and the MaxRetries (2) retries;
	// Apply then fails and sends no checkpoint. Close sends the documents the
	// processor still holds once more, without retrying (fourth exchange).
	b := openFake(t, "apply-unavailable")
	batch := &history.Batch{Checkpoint: 5, Instances: []history.Instance{historytest.Inst(1, "order", 1, "A", t0, "")}}
	err := b.Apply(context.Background(), batch)
	var e *es.Error
	if !errors.As(err, &e) || e.Status != 503 {
		t.Fatalf("Apply error = %v; want the cluster's 503", err)
	}
}

func TestApplyCancelled(t *testing.T) {
	b := openFake(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Apply(ctx, &history.Batch{Checkpoint: 6, Instances: []history.Instance{historytest.Inst(1, "order", 1, "A", t0, "")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestRefresh(t *testing.T) {
	b := openFake(t, "refresh")
	if err := b.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	f := newFakeES(t, "tls")
	ca := f.startTLS()
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	o := fakeOptions(f)
	o.CAFile = file
	o.APIKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	b, err := open(context.Background(), o, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if cp, err := b.Checkpoint(context.Background()); err != nil || cp != 9 {
		t.Fatalf("Checkpoint over TLS = %d, %v; want 9", cp, err)
	}

	// Without the CA the certificate is not trusted.
	o.CAFile, o.MaxRetries = "", -1
	b2, err := open(context.Background(), o, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.Checkpoint(context.Background()); err == nil {
		t.Fatal("Checkpoint without the CA succeeded; want a certificate error")
	}
}

func TestBasicAuth(t *testing.T) {
	f := newFakeES(t, "basic-auth").start()
	o := fakeOptions(f)
	o.Username, o.Password = "tracker", "s3cret"
	b, err := open(context.Background(), o, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if cp, err := b.Checkpoint(context.Background()); err != nil || cp != 0 {
		t.Fatalf("Checkpoint = %d, %v; want 0 (not found)", cp, err)
	}
}

func TestSniffAndHealthcheck(t *testing.T) {
	// With both on, the client pings the URL, asks the cluster for its HTTP
	// nodes, pings the node it learned and only then sends requests.
	f := newFakeES(t, "sniff-healthcheck").start()
	o := fakeOptions(f)
	o.Sniff, o.Healthcheck = true, true
	b, err := open(context.Background(), o, false)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	if cp, err := b.Checkpoint(context.Background()); err != nil || cp != 0 {
		t.Fatalf("Checkpoint = %d, %v; want 0", cp, err)
	}
}
