package engine

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// legacyFile holds group records written by the v2 encoder (group record
// version 2, path records with nanosecond times), one per line: hex of the
// record, a tab, and what v2 read from it (instance views, triggers, joins,
// messages, references). They come from the shared example (A waiting with
// its timers, B an early message, C ended, D a held message), gateways.bpmn
// (E, a parallel join) and foreign-key.bpmn (F and its reference under S1).
var legacyFile = filepath.Join("testdata", "group-v2.records")

// TestDecodeGroupV2 reads records an older tracker wrote: they decode to
// the same instances, and the current encoding of them decodes the same.
func TestDecodeGroupV2(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn", "gateways.bpmn", "foreign-key.bpmn")
	f, err := os.Open(legacyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	sy := newSymbols() // the symbols the records get, as in a store's
	sy.b = newWBatch(h.e.db)
	defer sy.b.Close()
	n, size2, size3 := 0, 0, 0
	for sc.Scan() {
		rec, want, _ := strings.Cut(sc.Text(), "\t")
		b, err := hex.DecodeString(rec)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != recGroupV2 {
			t.Fatalf("record %d is version %d, want 2", n, b[0])
		}
		g, err := decodeGroup(b, nil) // v2 records have no symbols
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		if got := groupViews(t, h.e, g, nil); got != want {
			t.Errorf("record %d (%s) decodes to\n%s\nwant\n%s", n, g.ck, got, want)
		}
		b3 := encodeGroup(g, nil, sy)
		if b3[0] != recGroupV3 {
			t.Errorf("record %d: re-encoded as version %d", n, b3[0])
		}
		size2, size3 = size2+len(b), size3+len(b3)
		g3, err := decodeGroup(b3, sy)
		if err != nil {
			t.Fatalf("record %d re-encoded: %v", n, err)
		}
		if got := groupViews(t, h.e, g3, sy); got != want {
			t.Errorf("record %d (%s) re-encoded decodes to\n%s\nwant\n%s", n, g.ck, got, want)
		}
		if !reflect.DeepEqual(g.msgs, g3.msgs) || !reflect.DeepEqual(g.foreign, g3.foreign) {
			t.Errorf("record %d: messages or references differ after re-encoding", n)
		}
		n++
	}
	if n < 7 {
		t.Fatalf("%d records in %s, want 7", n, legacyFile)
	}
	if size3 > size2*6/10 {
		t.Errorf("v3 records take %d bytes, v2 %d: want at least 40 %% less", size3, size2)
	}
	t.Logf("v2 %d bytes, v3 %d bytes", size2, size3)
}

func groupViews(t *testing.T, e *Engine, g *group, sy *symbols) string {
	var parts []string
	for _, in := range g.insts {
		done, err := decodeDoneElems(in.done, in.start, in.key, sy)
		if err != nil {
			t.Fatal(err)
		}
		v, err := json.Marshal(e.view(in, done))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(v))
		for _, ei := range in.elems { // what the view leaves out: triggers
			for _, tr := range ei.trigs {
				parts = append(parts, fmt.Sprintf("trig %d %s %s %s %s %d %s", ei.key, tr.target, tr.msg, tr.ck, tr.due.time().Format(time.RFC3339Nano), tr.fired, tr.flow))
			}
		}
		for _, j := range in.joins {
			parts = append(parts, fmt.Sprintf("join %d %s %v", j.scope, j.gw, j.flows))
		}
	}
	for _, bm := range g.msgs {
		parts = append(parts, fmt.Sprintf("msg %s %s held=%v %s %s", bm.m.Name, bm.m.ID, bm.held, bm.reason, bm.expiry.Format(time.RFC3339Nano)))
	}
	for _, f := range g.foreign {
		parts = append(parts, fmt.Sprintf("ref %s %d", f.ck, f.key))
	}
	return strings.Join(parts, " | ")
}

// TestDecodeGroupV1: a group record written before path records existed
// (finished element instances kept among the active ones) still decodes,
// and the next write moves them into the path record. testdata/
// group-v1.records holds such a record (order A of the shared example after
// OrderPlaced and PaymentReceived), a tab, and the instance as read then.
func TestDecodeGroupV1(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	rec, err := os.ReadFile(filepath.Join("testdata", "group-v1.records"))
	if err != nil {
		t.Fatal(err)
	}
	hexRec, wantJSON, _ := strings.Cut(strings.TrimSpace(string(rec)), "\t")
	b, err := hex.DecodeString(hexRec)
	if err != nil || b[0] != recGroupV1 {
		t.Fatalf("not a v1 record: %v", err)
	}
	g1, err := decodeGroup(b, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(h.e.view(g1.insts[0], nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantJSON {
		t.Errorf("v1 record view\n got %s\nwant %s", got, wantJSON)
	}
	tx := &txn{e: h.e}
	tx.archive(g1)
	if len(g1.insts[0].elems) != 3 { // the root, the sub-process and its catch event
		t.Errorf("after archive: %d element instances in memory, want 3", len(g1.insts[0].elems))
	}
	g3, err := decodeGroup(encodeGroup(g1, nil, h.e.syms), h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	done, err := decodeDoneElems(g3.insts[0].done, g3.insts[0].start, g3.insts[0].key, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(h.e.view(g3.insts[0], done)); string(got) != wantJSON {
		t.Errorf("v1 record rewritten as v3\n got %s\nwant %s", got, wantJSON)
	}
}

// TestUpgradeFormat1: a store an older tracker wrote (format version 1,
// Pebble's older table format, a v2 group record) opens, is marked format
// 2, and its instance reads and correlates as before.
func TestUpgradeFormat1(t *testing.T) {
	dir := t.TempDir()
	f, err := os.ReadFile(legacyFile)
	if err != nil {
		t.Fatal(err)
	}
	rec, want, _ := strings.Cut(strings.SplitN(string(f), "\n", 2)[0], "\t") // order A, waiting for GoodsFetched
	b, err := hex.DecodeString(rec)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{discard()}})
	if err != nil {
		t.Fatal(err)
	}
	old := enc{}
	old.uvarint(1)
	for k, v := range map[string][]byte{string(keyFormat): old.b, string(groupKey("A")): b, string(instanceKey(1)): []byte("A")} {
		if err := db.Set([]byte(k), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	h := &harness{t: t, dir: dir, procs: &procs{}, clock: &testClock{now: t0.Add(3 * time.Hour)}}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	defer h.e.Close()
	v, found, err := get(h.e.db, keyFormat)
	if d := (dec{b: v}); err != nil || !found || d.uvarint() != formatVersion {
		t.Errorf("format version after open: % x, %v", v, err)
	}
	in, found, err := h.e.Instance(1)
	if err != nil || !found {
		t.Fatalf("instance 1: found=%v err=%v", found, err)
	}
	if got, _ := json.Marshal(in); !strings.HasPrefix(want, string(got)) {
		t.Errorf("instance 1 after the upgrade\n got %s\nwant %s", got, want)
	}
	if out := h.apply(msg("GoodsFetched", "A", "a3", 2*time.Hour)); out[0].Result != Correlated {
		t.Errorf("GoodsFetched after the upgrade: %s", outcome(out[0]))
	}
}
