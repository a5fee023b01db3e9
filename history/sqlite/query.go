package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// cursor is the position after the last item of a page: the sort it belongs
// to, the sort value (Unix ns) and the tie-breaking key or id.
type cursor struct {
	Sort string `json:"s"`
	T    int64  `json:"t,omitempty"`
	K    int64  `json:"k,omitempty"`
	ID   string `json:"i,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Sort != sort {
		return c, fmt.Errorf("%w: %q does not continue a listing sorted by %s", history.ErrInvalidCursor, s, sort)
	}
	return c, nil
}

// where collects SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Instance returns one instance.
func (s *Store) Instance(ctx context.Context, key int64) (history.Instance, bool, error) {
	var doc []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT doc FROM instances WHERE key = ?`, key).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return history.Instance{}, false, nil
	}
	if err != nil {
		return history.Instance{}, false, fmt.Errorf("read instance %d: %w", key, err)
	}
	var in history.Instance
	if err := json.Unmarshal(doc, &in); err != nil {
		return history.Instance{}, false, fmt.Errorf("read instance %d: %w", key, err)
	}
	return in, true, nil
}

// ElementInstances returns the element instances of one instance by key.
func (s *Store) ElementInstances(ctx context.Context, instanceKey int64) ([]history.ElementInstance, error) {
	out, err := queryDocs[history.ElementInstance](ctx, s.rdb, `SELECT doc FROM elements WHERE instance_key = ? ORDER BY key`, instanceKey)
	if err != nil {
		return nil, fmt.Errorf("read element instances of %d: %w", instanceKey, err)
	}
	return out, nil
}

func queryDocs[T any](ctx context.Context, db *sql.DB, q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	var doc []byte
	for rows.Next() {
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("decode document: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Instances lists instances.
func (s *Store) Instances(ctx context.Context, q history.InstanceQuery) (history.Page[history.Instance], error) {
	var page history.Page[history.Instance]
	sortBy := q.Sort
	if sortBy == "" {
		sortBy = history.SortStartedDesc
	}
	var order string
	switch sortBy {
	case history.SortStartedDesc:
		order = "started_at DESC, key DESC"
	case history.SortStartedAsc:
		order = "started_at, key"
	case history.SortKeyDesc:
		order = "key DESC"
	case history.SortKeyAsc:
		order = "key"
	default:
		return page, fmt.Errorf("%w: unknown sort %q for instances (use -startedAt, startedAt, -key or key)", history.ErrInvalidQuery, q.Sort)
	}
	if fast, ok := stuckFastPath(q, sortBy); ok {
		return s.stuckInstances(ctx, fast, sortBy)
	}
	// With a selective subquery (element, stuck, full text) SQLite must be
	// driven by it, not by a column index over every instance of the
	// process: a unary + keeps the column filters off their indexes.
	driven := q.Element != "" || q.Stuck != nil || q.Q != ""
	col := func(c string) string {
		if driven {
			return "+" + c
		}
		return c
	}
	var w where
	if q.ProcessID != "" {
		w.add(col("process_id")+" = ?", q.ProcessID)
	}
	if q.Version != 0 {
		w.add(col("version")+" = ?", q.Version)
	}
	if q.State != "" {
		w.add(col("state")+" = ?", q.State)
	}
	if q.CorrelationKey != "" {
		w.add(col("correlation_key")+" = ?", q.CorrelationKey)
	}
	if !q.StartedAfter.IsZero() {
		w.add(col("started_at")+" >= ?", q.StartedAfter.UnixNano())
	}
	if !q.StartedBefore.IsZero() {
		w.add(col("started_at")+" < ?", q.StartedBefore.UnixNano())
	}
	if q.Element != "" {
		w.add("key IN (SELECT instance_key FROM elements WHERE state = 'active' AND element_id = ?)", q.Element)
	}
	if q.Stuck != nil {
		if len(q.Stuck) == 0 {
			return page, nil
		}
		var ors []string
		var args []any
		for _, r := range q.Stuck {
			c := "(process_id = ? AND element_id = ? AND started_at < ?"
			args = append(args, r.ProcessID, r.ElementID, r.Before.UnixNano())
			if r.Version != 0 {
				c += " AND version = ?"
				args = append(args, r.Version)
			}
			ors = append(ors, c+")")
		}
		w.add("key IN (SELECT instance_key FROM elements WHERE state = 'active' AND ("+strings.Join(ors, " OR ")+"))", args...)
	}
	if q.Q != "" {
		m, err := ftsQuery(q.Q)
		if err != nil {
			return page, err
		}
		w.add("key IN (SELECT rowid FROM instances_fts WHERE instances_fts MATCH ?)", m)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, sortBy)
		if err != nil {
			return page, err
		}
		switch sortBy {
		case history.SortStartedDesc:
			w.add("(started_at, key) < (?, ?)", c.T, c.K)
		case history.SortStartedAsc:
			w.add("(started_at, key) > (?, ?)", c.T, c.K)
		case history.SortKeyDesc:
			w.add("key < ?", c.K)
		case history.SortKeyAsc:
			w.add("key > ?", c.K)
		}
	}
	limit := history.ClampLimit(q.Limit)
	// Pick the page's keys first (sorting small rows), then read the documents.
	query := fmt.Sprintf("SELECT doc FROM instances WHERE key IN (SELECT key FROM instances%s ORDER BY %s LIMIT %d) ORDER BY %s",
		w.String(), order, limit+1, order)
	items, err := queryDocs[history.Instance](ctx, s.rdb, query, w.args...)
	if err != nil {
		return page, fmt.Errorf("list instances: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.Next = cursor{Sort: sortBy, T: last.StartedAt.UnixNano(), K: last.Key}.encode()
	}
	page.Items = items
	return page, nil
}

// stuckFastPath says whether a stuck listing can be served from the
// elements_stuck index alone: only stuck rules (narrowed by Element and
// ProcessID), sorted by start time, no other filters. It returns the rules.
func stuckFastPath(q history.InstanceQuery, sortBy string) (history.InstanceQuery, bool) {
	if len(q.Stuck) == 0 || (sortBy != history.SortStartedDesc && sortBy != history.SortStartedAsc) ||
		q.Version != 0 || (q.State != "" && q.State != history.StateActive) || q.CorrelationKey != "" ||
		!q.StartedAfter.IsZero() || !q.StartedBefore.IsZero() || q.Q != "" {
		return q, false
	}
	var rules []history.StuckRule
	for _, r := range q.Stuck {
		if (q.Element == "" || r.ElementID == q.Element) && (q.ProcessID == "" || r.ProcessID == q.ProcessID) {
			rules = append(rules, r)
		}
	}
	q.Stuck = rules
	return q, true
}

// stuckInstances walks elements_stuck once per rule in the instances' start
// order, stopping after a page, and merges the rules' pages.
func (s *Store) stuckInstances(ctx context.Context, q history.InstanceQuery, sortBy string) (history.Page[history.Instance], error) {
	page := history.Page[history.Instance]{Items: []history.Instance{}}
	limit := history.ClampLimit(q.Limit)
	dir, cmp := "DESC", "<"
	if sortBy == history.SortStartedAsc {
		dir, cmp = "ASC", ">"
	}
	var c cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor, sortBy); err != nil {
			return page, err
		}
	}
	type hit struct{ t, k int64 }
	seen := map[int64]bool{}
	var hits []hit
	for _, r := range q.Stuck {
		var w where
		w.add("state = 'active'")
		w.add("process_id = ?", r.ProcessID)
		w.add("element_id = ?", r.ElementID)
		w.add("started_at < ?", r.Before.UnixNano())
		// An element instance never starts before its instance: this bound
		// lets the walk begin at the cutoff instead of skipping every
		// instance that started after it.
		w.add("inst_started < ?", r.Before.UnixNano())
		if r.Version != 0 {
			w.add("version = ?", r.Version)
		}
		if q.Cursor != "" {
			w.add("(inst_started, instance_key) "+cmp+" (?, ?)", c.T, c.K)
		}
		rows, err := s.rdb.QueryContext(ctx, fmt.Sprintf("SELECT inst_started, instance_key FROM elements INDEXED BY elements_stuck%s ORDER BY inst_started %s, instance_key %s LIMIT %d",
			w.String(), dir, dir, limit+1), w.args...)
		if err != nil {
			return page, fmt.Errorf("list stuck instances: %w", err)
		}
		for rows.Next() {
			var h hit
			if err := rows.Scan(&h.t, &h.k); err != nil {
				rows.Close()
				return page, fmt.Errorf("list stuck instances: %w", err)
			}
			if !seen[h.k] {
				seen[h.k] = true
				hits = append(hits, h)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return page, fmt.Errorf("list stuck instances: %w", err)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if sortBy == history.SortStartedAsc {
			return a.t < b.t || (a.t == b.t && a.k < b.k)
		}
		return a.t > b.t || (a.t == b.t && a.k > b.k)
	})
	more := len(hits) > limit
	if more {
		hits = hits[:limit]
	}
	if len(hits) == 0 {
		return page, nil
	}
	keys := make([]any, len(hits))
	for i, h := range hits {
		keys[i] = h.k
	}
	order := "started_at DESC, key DESC"
	if sortBy == history.SortStartedAsc {
		order = "started_at, key"
	}
	items, err := queryDocs[history.Instance](ctx, s.rdb, "SELECT doc FROM instances WHERE key IN ("+strings.Repeat("?, ", len(keys)-1)+"?) ORDER BY "+order, keys...)
	if err != nil {
		return page, fmt.Errorf("list stuck instances: %w", err)
	}
	page.Items = items
	if more {
		last := hits[len(hits)-1]
		page.Next = cursor{Sort: sortBy, T: last.t, K: last.k}.encode()
	}
	return page, nil
}

// Events lists events.
func (s *Store) Events(ctx context.Context, q history.EventQuery) (history.Page[history.Event], error) {
	var page history.Page[history.Event]
	sortBy := q.Sort
	if sortBy == "" {
		sortBy = history.SortTimeDesc
	}
	var order, cmp string
	switch sortBy {
	case history.SortTimeDesc:
		order, cmp = "event_time DESC, id DESC", "<"
	case history.SortTimeAsc:
		order, cmp = "event_time, id", ">"
	default:
		return page, fmt.Errorf("%w: unknown sort %q for events (use -eventTime or eventTime)", history.ErrInvalidQuery, q.Sort)
	}
	var w where
	if q.Outcome != "" {
		w.add("outcome = ?", q.Outcome)
	}
	if (q.Outcome != "" && q.Outcome != "started" && q.Outcome != "correlated") || q.Reason != "" {
		// Only rare outcomes carry a reason; this exact term lets SQLite use
		// the partial index events_rare.
		w.add("outcome NOT IN ('started', 'correlated')")
	}
	if q.Reason != "" {
		w.add("reason = ?", q.Reason)
	}
	if q.MessageName != "" {
		w.add("message_name = ?", q.MessageName)
	}
	if q.CorrelationKey != "" {
		w.add("correlation_key = ?", q.CorrelationKey)
	}
	if q.InstanceKey != 0 {
		w.add("instance_key = ?", q.InstanceKey)
		w.add("instance_key != 0") // for the partial index events_instance
	}
	if !q.From.IsZero() {
		w.add("event_time >= ?", q.From.UnixNano())
	}
	if !q.To.IsZero() {
		w.add("event_time < ?", q.To.UnixNano())
	}
	if q.Q != "" {
		m, err := ftsQuery(q.Q)
		if err != nil {
			return page, err
		}
		w.add("rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)", m)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, sortBy)
		if err != nil {
			return page, err
		}
		w.add("(event_time, id) "+cmp+" (?, ?)", c.T, c.ID)
	}
	limit := history.ClampLimit(q.Limit)
	items, err := queryDocs[history.Event](ctx, s.rdb, "SELECT doc FROM events"+w.String()+" ORDER BY "+order+fmt.Sprintf(" LIMIT %d", limit+1), w.args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.Next = cursor{Sort: sortBy, T: ns(last.EventTime), ID: last.ID}.encode()
	}
	page.Items = items
	return page, nil
}

const newestFirst = "-time"

// Incidents lists incidents, newest first.
func (s *Store) Incidents(ctx context.Context, q history.IncidentQuery) (history.Page[history.Incident], error) {
	var page history.Page[history.Incident]
	var w where
	if len(q.IDs) > history.MaxLimit {
		return page, fmt.Errorf("%w: %d incident ids, at most %d", history.ErrInvalidQuery, len(q.IDs), history.MaxLimit)
	}
	if len(q.IDs) > 0 {
		w.add("id IN (SELECT value FROM json_each(?))", string(appendJSONArray(nil, q.IDs)))
	}
	if q.State != "" {
		w.add("state = ?", q.State)
	}
	if q.Reason != "" {
		w.add("reason = ?", q.Reason)
	}
	if q.InstanceKey != 0 {
		w.add("instance_key = ?", q.InstanceKey)
	}
	if q.ProcessID != "" {
		w.add("process_id = ?", q.ProcessID)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, newestFirst)
		if err != nil {
			return page, err
		}
		w.add("(created_at, id) < (?, ?)", c.T, c.ID)
	}
	limit := history.ClampLimit(q.Limit)
	items, err := queryDocs[history.Incident](ctx, s.rdb, "SELECT doc FROM incidents"+w.String()+fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", limit+1), w.args...)
	if err != nil {
		return page, fmt.Errorf("list incidents: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.Next = cursor{Sort: newestFirst, T: ns(last.CreatedAt), ID: last.ID}.encode()
	}
	page.Items = items
	return page, nil
}

// Actions lists actions, newest first.
func (s *Store) Actions(ctx context.Context, q history.ActionQuery) (history.Page[history.Action], error) {
	var page history.Page[history.Action]
	var w where
	if q.InstanceKey != 0 {
		w.add("instance_key = ?", q.InstanceKey)
	}
	if q.State != "" {
		w.add("state = ?", q.State)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, newestFirst)
		if err != nil {
			return page, err
		}
		w.add("(raised_at, id) < (?, ?)", c.T, c.ID)
	}
	limit := history.ClampLimit(q.Limit)
	items, err := queryDocs[history.Action](ctx, s.rdb, "SELECT doc FROM actions"+w.String()+fmt.Sprintf(" ORDER BY raised_at DESC, id DESC LIMIT %d", limit+1), w.args...)
	if err != nil {
		return page, fmt.Errorf("list actions: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.Next = cursor{Sort: newestFirst, T: ns(last.RaisedAt), ID: last.ID}.encode()
	}
	page.Items = items
	return page, nil
}

// Cleanup deletes finished instances (and everything of theirs) that ended
// before `before`, instance-less events older than `before`, and the
// statistics hours before it.
func (s *Store) Cleanup(ctx context.Context, before time.Time) (history.CleanupResult, error) {
	var res history.CleanupResult
	cut := before.UnixNano()
	for {
		n, ev, more, err := s.cleanupChunk(ctx, cut, 5000)
		res.Instances += n
		res.Events += ev
		if err != nil {
			return res, fmt.Errorf("history cleanup before %s: %w", before.Format(time.RFC3339), err)
		}
		if !more {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("history cleanup: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE instance_key = 0 AND event_time < ? RETURNING rowid`, cut)
	if err != nil {
		return res, fmt.Errorf("history cleanup: delete events: %w", err)
	}
	ids, err := scanInts(rows)
	if err != nil {
		return res, fmt.Errorf("history cleanup: delete events: %w", err)
	}
	if err := deleteRowids(ctx, tx, "events_fts", ids); err != nil {
		return res, fmt.Errorf("history cleanup: %w", err)
	}
	res.Events += int64(len(ids))
	// Finished figures of old hours go; counts of what is still active stay.
	h := hourOf(before)
	if _, err := tx.ExecContext(ctx, `DELETE FROM element_hours WHERE hour < ? AND active = 0`, h); err != nil {
		return res, fmt.Errorf("history cleanup: delete statistics: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE element_hours SET completed = 0, skipped = 0, terminated = 0, sum_ms = 0, hist = x'' WHERE hour < ?`, h); err != nil {
		return res, fmt.Errorf("history cleanup: reset statistics: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("history cleanup: %w", err)
	}
	if res.Instances > 0 || res.Events > 0 {
		s.log.Info("history cleanup", "before", before, "instances", res.Instances, "events", res.Events)
	}
	return res, nil
}

func scanInts(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func deleteRowids(ctx context.Context, tx *sql.Tx, table string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, "DELETE FROM "+table+" WHERE rowid = ?")
	if err != nil {
		return fmt.Errorf("delete from %s: %w", table, err)
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
	}
	return nil
}

// cleanupChunk removes up to n expired instances in one transaction, so a
// large cleanup never holds the write lock for long.
func (s *Store) cleanupChunk(ctx context.Context, cut int64, n int) (insts, events int64, more bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, false, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT key FROM instances WHERE ended_at IS NOT NULL AND ended_at < ? LIMIT ?`, cut, n)
	if err != nil {
		return 0, 0, false, fmt.Errorf("find expired instances: %w", err)
	}
	keys, err := scanInts(rows)
	if err != nil || len(keys) == 0 {
		return 0, 0, false, err
	}
	var evRows []int64
	for _, k := range keys {
		rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE instance_key = ? RETURNING rowid`, k)
		if err != nil {
			return 0, 0, false, fmt.Errorf("delete events of %d: %w", k, err)
		}
		ids, err := scanInts(rows)
		if err != nil {
			return 0, 0, false, fmt.Errorf("delete events of %d: %w", k, err)
		}
		evRows = append(evRows, ids...)
		for _, q := range []string{
			`DELETE FROM elements WHERE instance_key = ?`,
			`DELETE FROM incidents WHERE instance_key = ?`,
			`DELETE FROM actions WHERE instance_key = ?`,
			`DELETE FROM instances WHERE key = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, k); err != nil {
				return 0, 0, false, fmt.Errorf("delete instance %d: %w", k, err)
			}
		}
	}
	if err := deleteRowids(ctx, tx, "events_fts", evRows); err != nil {
		return 0, 0, false, err
	}
	if err := deleteRowids(ctx, tx, "instances_fts", keys); err != nil {
		return 0, 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, err
	}
	return int64(len(keys)), int64(len(evRows)), len(keys) == n, nil
}
