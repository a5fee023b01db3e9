package sqlite_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

// FuzzQuery feeds arbitrary q= text and cursors to a real store: the answer
// is a page or ErrInvalidQuery / ErrInvalidCursor, never an SQL or FTS5
// syntax error and never a panic.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"ORD-4711", "acme", `"quoted"`, "a*", "NEAR(a b)", "x OR y", "-", "col:val", "^start", "AND", "'", "é ü", "a\"b", "(", "*"} {
		f.Add(s, "")
	}
	f.Add("", "eyJzIjoiLXN0YXJ0ZWRBdCIsInQiOjEsImsiOjF9")
	f.Add("", "not-base64!")
	s := openTemp(f)
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	in := historytest.Inst(1, "order", 1, "ORD-4711", historytest.T0, `{"customer":"Acme \"quoted\" NEAR"}`)
	if err := s.Apply(ctx, &history.Batch{Checkpoint: 1, Instances: []history.Instance{in},
		Events: []history.Event{historytest.Ev("e1", "OrderPlaced", "ORD-4711", "started", 1, historytest.T0, `{"note":"x OR y"}`)}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q, cursor string) {
		if _, err := s.Instances(ctx, history.InstanceQuery{Q: q, Cursor: cursor}); err != nil &&
			!errors.Is(err, history.ErrInvalidQuery) && !errors.Is(err, history.ErrInvalidCursor) {
			t.Errorf("Instances(q=%q, cursor=%q): %v", q, cursor, err)
		}
		if _, err := s.Events(ctx, history.EventQuery{Q: q, Cursor: cursor}); err != nil &&
			!errors.Is(err, history.ErrInvalidQuery) && !errors.Is(err, history.ErrInvalidCursor) {
			t.Errorf("Events(q=%q, cursor=%q): %v", q, cursor, err)
		}
	})
}
