package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// Apply writes the batch and its checkpoint in one transaction.
func (s *Store) Apply(ctx context.Context, b *history.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply history batch %d: %w", b.Checkpoint, err)
	}
	defer tx.Rollback()
	w := writer{ctx: ctx, tx: tx, s: s}
	if err := w.apply(b); err != nil {
		return fmt.Errorf("apply history batch %d: %w", b.Checkpoint, err)
	}
	if err := w.exec(`INSERT INTO meta (name, value) VALUES ('checkpoint', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, int64(b.Checkpoint)); err != nil {
		return fmt.Errorf("apply history batch %d: write checkpoint: %w", b.Checkpoint, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply history batch %d: commit: %w", b.Checkpoint, err)
	}
	s.keep(ctx, w.fresh)
	return nil
}

type writer struct {
	ctx  context.Context
	tx   *sql.Tx
	s    *Store
	buf  []byte
	docs *bytes.Buffer
	enc  *json.Encoder
	// fresh are statements not prepared for reuse yet.
	fresh []string
	// started holds the start times of the batch's instances (written
	// before its element instances).
	started map[int64]int64
	txt     textBuilder
}

// stmt returns q prepared on the write connection, bound to the
// transaction. Statements are prepared once per Store and reused by every
// batch: parsing the long multi-row INSERTs anew for each batch cost more
// than a tenth of Apply. A statement seen for the first time is prepared in
// the transaction (the one write connection is busy with it) and once more
// on the connection after the commit, for the following batches.
func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st := w.s.stmts[q]; st != nil {
		return w.tx.StmtContext(w.ctx, st), nil
	}
	st, err := w.tx.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", firstLine(q), err)
	}
	w.fresh = append(w.fresh, q)
	return st, nil
}

// encode renders v as JSON (as json.Marshal does) into the writer's
// document buffer: one growing buffer per batch instead of one allocation
// per document. The result stays valid for the whole transaction.
func (w *writer) encode(v any) ([]byte, error) {
	if w.enc == nil {
		w.s.docs.Reset()
		w.docs = &w.s.docs
		w.enc = json.NewEncoder(w.docs)
	}
	start := w.docs.Len()
	if err := w.enc.Encode(v); err != nil {
		return nil, err
	}
	b := w.docs.Bytes()
	return b[start : len(b)-1 : len(b)-1], nil // without Encode's newline
}

// keep prepares the statements first seen in the last transaction on the
// write connection (now free), so later batches reuse them.
func (s *Store) keep(ctx context.Context, queries []string) {
	for _, q := range queries {
		if s.stmts[q] != nil {
			continue
		}
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			s.log.Debug("prepare statement for reuse", "statement", firstLine(q), "err", err)
			continue
		}
		if s.stmts == nil {
			s.stmts = map[string]*sql.Stmt{}
		}
		s.stmts[q] = st
	}
}

// exec runs q (prepared once, see [writer.stmt]) in the transaction.
func (w *writer) exec(q string, args ...any) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(w.ctx, args...)
	return err
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func (w *writer) apply(b *history.Batch) error {
	if len(b.Instances) > 0 {
		if err := w.instances(b.Instances); err != nil {
			return err
		}
	}
	if len(b.Elements) > 0 {
		if err := w.elements(b.Elements); err != nil {
			return err
		}
	}
	if len(b.Events) > 0 {
		if err := w.events(b.Events); err != nil {
			return err
		}
	}
	if len(b.Incidents) > 0 {
		if err := w.incidents(b.Incidents); err != nil {
			return err
		}
	}
	if len(b.Actions) > 0 {
		if err := w.actions(b.Actions); err != nil {
			return err
		}
	}
	return nil
}

// rowsPerStatement bounds multi-row statements (SQLite allows 32,766
// parameters per statement).
const rowsPerStatement = 200

// insertRows runs head + "VALUES (?, ...), (?, ...)" + tail for rows of
// cols values each, in chunks: one statement per chunk instead of one per
// row is what makes ingest fast. Chunks have rowsPerStatement rows, and the
// rest is split into powers of two, so that a handful of statement shapes
// per table serve every batch size and stay prepared (see [writer.stmt]).
func (w *writer) insertRows(head string, cols int, tail string, rows []any) error {
	n := len(rows) / cols
	for start := 0; start < n; {
		size := rowsPerStatement
		for size > n-start {
			size = 1 << (bits.Len(uint(n-start)) - 1)
		}
		k := shape{head, tail, size}
		q, ok := w.s.shapes[k]
		if !ok {
			q = insertSQL(head, cols, size, tail)
			if w.s.shapes == nil {
				w.s.shapes = map[shape]string{}
			}
			w.s.shapes[k] = q
		}
		st, err := w.stmt(q)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(w.ctx, rows[start*cols:(start+size)*cols]...); err != nil {
			return fmt.Errorf("%s: %w", firstLine(head), err)
		}
		start += size
	}
	return nil
}

// shape identifies a multi-row INSERT: its head, tail and number of rows.
type shape struct {
	head, tail string
	rows       int
}

// insertSQL is head + VALUES with n rows of cols placeholders + tail.
func insertSQL(head string, cols, n int, tail string) string {
	one := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var q strings.Builder
	q.Grow(len(head) + len(tail) + n*(len(one)+2) + 10)
	q.WriteString(head)
	q.WriteString(" VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(one)
	}
	q.WriteString(" ")
	q.WriteString(tail)
	return q.String()
}

// lookup runs query (which has one "%s" standing for a subquery yielding
// the keys) for the keys and calls scan for each row. The keys travel as one
// JSON array parameter (json_each), so the statement text is the same for
// every batch and stays prepared.
func lookup[K int64 | string](w *writer, query string, keys []K, scan func(*sql.Rows) error) error {
	if len(keys) == 0 {
		return nil
	}
	st, err := w.stmt(fmt.Sprintf(query, "SELECT value FROM json_each(?)"))
	if err != nil {
		return err
	}
	w.buf = appendJSONArray(w.buf[:0], keys)
	rows, err := st.QueryContext(w.ctx, string(w.buf))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// appendJSONString appends s as a JSON string (bytes other than quotes,
// backslashes and control characters are copied as they are, which SQLite's
// JSON functions hand back unchanged).
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// appendJSONArray appends keys as a JSON array.
func appendJSONArray[K int64 | string](buf []byte, keys []K) []byte {
	buf = append(buf, '[')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		switch k := any(k).(type) {
		case int64:
			buf = strconv.AppendInt(buf, k, 10)
		case string:
			buf = appendJSONString(buf, k)
		}
	}
	return append(buf, ']')
}

func deleteIn(w *writer, table string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return lookup(w, "DELETE FROM "+table+" WHERE rowid IN (%s)", ids, func(*sql.Rows) error { return nil })
}

func (w *writer) instances(docs []history.Instance) error {
	// The searchable text is re-indexed only for new instances and when it
	// changed (text_hash), not on every state change.
	keys := make([]int64, len(docs))
	for i := range docs {
		keys[i] = docs[i].Key
	}
	hashes := make(map[int64]int64, len(docs))
	w.started = make(map[int64]int64, len(docs))
	if err := lookup(w, "SELECT key, text_hash FROM instances WHERE key IN (%s)", keys, func(r *sql.Rows) error {
		var k, h int64
		err := r.Scan(&k, &h)
		hashes[k] = h
		return err
	}); err != nil {
		return fmt.Errorf("read instances: %w", err)
	}
	rows := make([]any, 0, 9*len(docs))
	var fts []any
	var stale []int64
	for i := range docs {
		d := &docs[i]
		doc, err := w.encode(d)
		if err != nil {
			return fmt.Errorf("encode instance %d: %w", d.Key, err)
		}
		body := w.txt.instance(d)
		h := textHash(body)
		rows = append(rows, d.Key, d.ProcessID, d.Version, d.CorrelationKey, d.State, ns(d.StartedAt), nullNS(d.EndedAt), h, doc)
		w.started[d.Key] = ns(d.StartedAt)
		old, exists := hashes[d.Key]
		if exists && old == h {
			continue
		}
		if exists {
			stale = append(stale, d.Key)
		}
		fts = append(fts, d.Key, body)
	}
	if err := w.insertRows(`INSERT INTO instances (key, process_id, version, correlation_key, state, started_at, ended_at, text_hash, doc)`, 9,
		`ON CONFLICT (key) DO UPDATE SET process_id = excluded.process_id, version = excluded.version,
			correlation_key = excluded.correlation_key, state = excluded.state, started_at = excluded.started_at,
			ended_at = excluded.ended_at, text_hash = excluded.text_hash, doc = excluded.doc`, rows); err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	if err := deleteIn(w, "instances_fts", stale); err != nil {
		return fmt.Errorf("index instances: %w", err)
	}
	if err := w.insertRows(`INSERT INTO instances_fts (rowid, body)`, 2, "", fts); err != nil {
		return fmt.Errorf("index instances: %w", err)
	}
	return nil
}

// textHash is a 64-bit FNV-1a of the searchable text.
func textHash(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

func (w *writer) elements(docs []history.ElementInstance) error {
	// The hourly aggregates count each transition once: +1 active for a new
	// active element instance, -1 active and +1 finished when it finishes
	// (re-applying a batch changes nothing).
	keys := make([]int64, 0, len(docs))
	insts := make([]int64, 0, len(docs))
	for i := range docs {
		keys = append(keys, docs[i].Key)
		insts = append(insts, docs[i].InstanceKey)
	}
	prev := map[int64]string{}
	if err := lookup(w, "SELECT key, state FROM elements WHERE key IN (%s)", keys, func(r *sql.Rows) error {
		var k int64
		var st string
		err := r.Scan(&k, &st)
		prev[k] = st
		return err
	}); err != nil {
		return fmt.Errorf("read element instances: %w", err)
	}
	// The instance's start orders stuck listings (instances are written
	// before their elements in every batch).
	started := map[int64]int64{}
	var unknown []int64
	for _, k := range slices.Compact(slices.Sorted(slices.Values(insts))) {
		if t, ok := w.started[k]; ok {
			started[k] = t
		} else {
			unknown = append(unknown, k)
		}
	}
	if err := lookup(w, "SELECT key, started_at FROM instances WHERE key IN (%s)", unknown, func(r *sql.Rows) error {
		var k, t int64
		err := r.Scan(&k, &t)
		started[k] = t
		return err
	}); err != nil {
		return fmt.Errorf("read instances of element instances: %w", err)
	}
	hours := map[hourKey]*hourAgg{}
	agg := func(d *history.ElementInstance) *hourAgg {
		hk := hourKey{pid: d.ProcessID, el: d.ElementID, hour: hourOf(d.StartedAt), ver: d.Version}
		a := hours[hk]
		if a == nil {
			a = &hourAgg{}
			hours[hk] = a
		}
		return a
	}
	rows := make([]any, 0, 9*len(docs))
	for i := range docs {
		d := &docs[i]
		old, seen := prev[d.Key]
		if seen && old != history.ElementActive && d.State == history.ElementActive {
			continue // finished is final: a replayed start does not reopen it
		}
		switch {
		case d.State == history.ElementActive && !seen:
			agg(d).active++
		case d.State != history.ElementActive && old == history.ElementActive:
			a := agg(d)
			a.active--
			a.add(d)
		case d.State != history.ElementActive && !seen:
			agg(d).add(d)
		}
		doc, err := w.encode(d)
		if err != nil {
			return fmt.Errorf("encode element instance %d: %w", d.Key, err)
		}
		is, ok := started[d.InstanceKey]
		if !ok {
			is = ns(d.StartedAt)
		}
		rows = append(rows, d.Key, d.InstanceKey, d.ProcessID, d.Version, d.ElementID, d.State, ns(d.StartedAt), is, doc)
	}
	if err := w.insertRows(`INSERT INTO elements (key, instance_key, process_id, version, element_id, state, started_at, inst_started, doc)`, 9,
		`ON CONFLICT (key) DO UPDATE SET instance_key = excluded.instance_key, process_id = excluded.process_id,
			version = excluded.version, element_id = excluded.element_id, state = excluded.state,
			started_at = excluded.started_at, inst_started = excluded.inst_started, doc = excluded.doc`, rows); err != nil {
		return fmt.Errorf("write element instances: %w", err)
	}
	return w.addHours(hours)
}

func (w *writer) addHours(hours map[hourKey]*hourAgg) error {
	if len(hours) == 0 {
		return nil
	}
	get, err := w.stmt(`SELECT active, completed, skipped, terminated, sum_ms, hist FROM element_hours
		WHERE process_id = ? AND element_id = ? AND hour = ? AND version = ?`)
	if err != nil {
		return err
	}
	put, err := w.stmt(`INSERT INTO element_hours (process_id, element_id, hour, version, active, completed, skipped, terminated, sum_ms, hist)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (process_id, element_id, hour, version) DO UPDATE SET active = excluded.active, completed = excluded.completed,
			skipped = excluded.skipped, terminated = excluded.terminated, sum_ms = excluded.sum_ms, hist = excluded.hist`)
	if err != nil {
		return err
	}
	for k, a := range hours {
		var old hourAgg
		var blob []byte
		err := get.QueryRowContext(w.ctx, k.pid, k.el, k.hour, k.ver).Scan(&old.active, &old.completed, &old.skipped, &old.terminated, &old.sumMs, &blob)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read statistics of %s/%s: %w", k.pid, k.el, err)
		}
		if err == nil {
			if old.hist, err = decodeHist(blob); err != nil {
				return fmt.Errorf("read statistics of %s/%s: %w", k.pid, k.el, err)
			}
		}
		old.merge(a)
		w.buf = old.hist.encode(w.buf[:0])
		if w.buf == nil {
			w.buf = []byte{}
		}
		if _, err := put.ExecContext(w.ctx, k.pid, k.el, k.hour, k.ver, old.active, old.completed, old.skipped, old.terminated, old.sumMs, w.buf); err != nil {
			return fmt.Errorf("write statistics of %s/%s: %w", k.pid, k.el, err)
		}
	}
	return nil
}

func (w *writer) events(docs []history.Event) error {
	// New events get the rowids after the largest one, in order (the writer
	// holds the write lock), so their text goes into the FTS table in the
	// same multi-row fashion; a replaced event keeps its rowid and is
	// re-indexed. The rowids are not written explicitly but left to SQLite,
	// which appends in just that way: an explicit rowid would make SQLite
	// keep a statement journal for each multi-row INSERT (a copy of every
	// page it touches; instances and element instances, keyed by their
	// INTEGER PRIMARY KEY, cannot avoid it). The largest rowid afterwards
	// confirms the assignment.
	ids := make([]string, len(docs))
	for i := range docs {
		ids[i] = docs[i].ID
	}
	existing := map[string]int64{}
	if err := lookup(w, "SELECT id, rowid FROM events WHERE id IN (%s)", ids, func(r *sql.Rows) error {
		var id string
		var rowid int64
		err := r.Scan(&id, &rowid)
		existing[id] = rowid
		return err
	}); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	var next int64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT coalesce(max(rowid), 0) FROM events`).Scan(&next); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	var fresh, replaced, fts []any
	var stale []int64
	for i := range docs {
		d := &docs[i]
		doc, err := w.encode(d)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", d.ID, err)
		}
		rowid, ok := existing[d.ID]
		if ok {
			replaced = append(replaced, d.ID, ns(d.EventTime), d.Outcome, d.Reason, d.MessageName, d.CorrelationKey, d.InstanceKey, doc)
			stale = append(stale, rowid)
		} else {
			next++
			rowid = next
			fresh = append(fresh, d.ID, ns(d.EventTime), d.Outcome, d.Reason, d.MessageName, d.CorrelationKey, d.InstanceKey, doc)
		}
		fts = append(fts, rowid, w.txt.event(d))
	}
	if len(fresh) > 0 {
		first := next - int64(len(fresh)/8) + 1
		// OR ROLLBACK: a failing row ends the transaction (Apply rolls back on
		// any error anyway), so no statement journal is needed either.
		if err := w.insertRows(`INSERT OR ROLLBACK INTO events (id, event_time, outcome, reason, message_name, correlation_key, instance_key, doc)`, 8, "", fresh); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		var last int64
		if err := w.tx.QueryRowContext(w.ctx, `SELECT max(rowid) FROM events`).Scan(&last); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		if last != next {
			return fmt.Errorf("write events: new events got rowids up to %d, expected %d to %d", last, first, next)
		}
	}
	if err := w.insertRows(`INSERT INTO events (id, event_time, outcome, reason, message_name, correlation_key, instance_key, doc)`, 8,
		`ON CONFLICT (id) DO UPDATE SET event_time = excluded.event_time, outcome = excluded.outcome,
			reason = excluded.reason, message_name = excluded.message_name, correlation_key = excluded.correlation_key,
			instance_key = excluded.instance_key, doc = excluded.doc`, replaced); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	if err := deleteIn(w, "events_fts", stale); err != nil {
		return fmt.Errorf("index events: %w", err)
	}
	if err := w.insertRows(`INSERT INTO events_fts (rowid, body)`, 2, "", fts); err != nil {
		return fmt.Errorf("index events: %w", err)
	}
	return nil
}

func (w *writer) incidents(docs []history.Incident) error {
	rows := make([]any, 0, 9*len(docs))
	for i := range docs {
		d := &docs[i]
		doc, err := w.encode(d)
		if err != nil {
			return fmt.Errorf("encode incident %q: %w", d.ID, err)
		}
		rows = append(rows, d.ID, d.State, d.Reason, d.InstanceKey, d.ProcessID, d.Version, d.ElementID, ns(d.CreatedAt), doc)
	}
	if err := w.insertRows(`INSERT INTO incidents (id, state, reason, instance_key, process_id, version, element_id, created_at, doc)`, 9,
		`ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, instance_key = excluded.instance_key,
			process_id = excluded.process_id, version = excluded.version, element_id = excluded.element_id,
			created_at = excluded.created_at, doc = excluded.doc`, rows); err != nil {
		return fmt.Errorf("write incidents: %w", err)
	}
	return nil
}

func (w *writer) actions(docs []history.Action) error {
	rows := make([]any, 0, 5*len(docs))
	for i := range docs {
		d := &docs[i]
		doc, err := w.encode(d)
		if err != nil {
			return fmt.Errorf("encode action %q: %w", d.ID, err)
		}
		rows = append(rows, d.ID, d.InstanceKey, d.State, ns(d.RaisedAt), doc)
	}
	if err := w.insertRows(`INSERT INTO actions (id, instance_key, state, raised_at, doc)`, 5,
		`ON CONFLICT (id) DO UPDATE SET instance_key = excluded.instance_key, state = excluded.state,
			raised_at = excluded.raised_at, doc = excluded.doc`, rows); err != nil {
		return fmt.Errorf("write actions: %w", err)
	}
	return nil
}
