package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
	"github.com/tracker-dev/tracker/history/sqlite"
)

// TestApplyReplaces writes events and instances, then writes them again
// with new content in batches of other sizes (so every statement shape,
// prepared once and reused, runs on both the insert and the replace path):
// each document exists once with its new content, and full text finds the
// new words only. Ids include characters the key lookups must escape.
func TestApplyReplaces(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	ids := []string{`quote"d`, `back\slash`, "tab\there", "line\nbreak", "nul\x00byte", "ünïcödé-😀", "plain"}
	for i := len(ids); i < 333; i++ {
		ids = append(ids, fmt.Sprintf("m-%d", i))
	}
	docs := func(word string) ([]history.Event, []history.Instance) {
		var evs []history.Event
		var ins []history.Instance
		for i, id := range ids {
			at := historytest.T0.Add(time.Duration(i) * time.Second)
			evs = append(evs, historytest.Ev(id, "Msg", fmt.Sprintf("CK-%d", i), "buffered", 0, at, fmt.Sprintf(`{"w":%q}`, word)))
			ins = append(ins, historytest.Inst(int64(i+1), "order", 1, fmt.Sprintf("CK-%d", i), at, fmt.Sprintf(`{"w":%q}`, word)))
		}
		return evs, ins
	}
	evs, ins := docs("alpha")
	if err := s.Apply(ctx, &history.Batch{Checkpoint: 1, Events: evs, Instances: ins}); err != nil {
		t.Fatal(err)
	}
	evs, ins = docs("omega")
	for i := range evs {
		evs[i].Outcome = "correlated"
		ins[i].State, ins[i].EndedAt = history.StateCompleted, ins[i].StartedAt.Add(time.Hour)
	}
	cp := uint64(1)
	for _, size := range []int{1, 3, 64, 200, 65} { // 333 in all
		cp++
		b := &history.Batch{Checkpoint: cp, Events: evs[:size], Instances: ins[:size]}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatalf("batch of %d: %v", size, err)
		}
		evs, ins = evs[size:], ins[size:]
	}
	if len(evs) != 0 {
		t.Fatalf("%d events left over", len(evs))
	}

	var got []string
	q := history.EventQuery{Limit: history.MaxLimit}
	p, err := s.Events(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Items {
		if e.Outcome != "correlated" {
			t.Errorf("event %q: outcome %q, want the replaced %q", e.ID, e.Outcome, "correlated")
		}
		got = append(got, e.ID)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("event ids = %q\nwant %q", got, want)
	}
	for _, tc := range []struct {
		name string
		q    string
		want int
	}{{"old words are gone", "alpha", 0}, {"new words are found", "omega", len(ids)}} {
		t.Run(tc.name, func(t *testing.T) {
			ep, err := s.Events(ctx, history.EventQuery{Q: tc.q, Limit: history.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			ip, err := s.Instances(ctx, history.InstanceQuery{Q: tc.q, Limit: history.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			if len(ep.Items) != tc.want || len(ip.Items) != tc.want {
				t.Errorf("q=%s: %d events and %d instances, want %d of each", tc.q, len(ep.Items), len(ip.Items), tc.want)
			}
		})
	}
	ip, err := s.Instances(ctx, history.InstanceQuery{State: history.StateCompleted, Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(ip.Items) != len(ids) {
		t.Errorf("%d completed instances, want %d", len(ip.Items), len(ids))
	}
}

// TestPageSize: a new file gets 16 KiB pages; a file made with SQLite's
// default page size (by an earlier tracker) opens and takes writes as before.
func TestPageSize(t *testing.T) {
	pageSize := func(t *testing.T, path string) int {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("PRAGMA page_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		existing int // page size of a file made before Open; 0: none
		want     int
	}{
		{"new file", 0, 16384},
		{"existing 4 KiB file", 4096, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, sqlite.FileName)
			if tc.existing != 0 {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{fmt.Sprintf("PRAGMA page_size = %d", tc.existing), "PRAGMA journal_mode = WAL"} {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				db.Close()
			}
			s, err := sqlite.Open(sqlite.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			batch := &history.Batch{Checkpoint: 7, Instances: []history.Instance{historytest.Inst(1, "order", 1, "ORD-1", historytest.T0, `{"a":1}`)}}
			if err := s.Apply(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			if cp, err := s.Checkpoint(context.Background()); err != nil || cp != 7 {
				t.Fatalf("checkpoint = %d, %v; want 7", cp, err)
			}
			if got := pageSize(t, path); got != tc.want {
				t.Errorf("page size %d, want %d", got, tc.want)
			}
		})
	}
}
