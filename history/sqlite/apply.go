package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	w := writer{ctx: ctx, tx: tx}
	if err := w.apply(b); err != nil {
		return fmt.Errorf("apply history batch %d: %w", b.Checkpoint, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('checkpoint', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, int64(b.Checkpoint)); err != nil {
		return fmt.Errorf("apply history batch %d: write checkpoint: %w", b.Checkpoint, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply history batch %d: commit: %w", b.Checkpoint, err)
	}
	return nil
}

type writer struct {
	ctx context.Context
	tx  *sql.Tx
	buf []byte
	txt textBuilder
}

func (w *writer) prepare(q string) (*sql.Stmt, error) {
	st, err := w.tx.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", firstLine(q), err)
	}
	return st, nil
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

func (w *writer) instances(docs []history.Instance) error {
	up, err := w.prepare(`INSERT INTO instances (key, process_id, version, correlation_key, state, started_at, ended_at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET process_id = excluded.process_id, version = excluded.version,
			correlation_key = excluded.correlation_key, state = excluded.state, started_at = excluded.started_at,
			ended_at = excluded.ended_at, doc = excluded.doc`)
	if err != nil {
		return err
	}
	defer up.Close()
	del, err := w.prepare(`DELETE FROM instances_fts WHERE rowid = ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	ins, err := w.prepare(`INSERT INTO instances_fts (rowid, body) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := range docs {
		d := &docs[i]
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode instance %d: %w", d.Key, err)
		}
		if _, err := up.ExecContext(w.ctx, d.Key, d.ProcessID, d.Version, d.CorrelationKey, d.State, ns(d.StartedAt), nullNS(d.EndedAt), doc); err != nil {
			return fmt.Errorf("write instance %d: %w", d.Key, err)
		}
		body := w.txt.instance(d)
		if _, err := del.ExecContext(w.ctx, d.Key); err != nil {
			return fmt.Errorf("index instance %d: %w", d.Key, err)
		}
		if _, err := ins.ExecContext(w.ctx, d.Key, body); err != nil {
			return fmt.Errorf("index instance %d: %w", d.Key, err)
		}
	}
	return nil
}

func (w *writer) elements(docs []history.ElementInstance) error {
	prev, err := w.prepare(`SELECT state FROM elements WHERE key = ?`)
	if err != nil {
		return err
	}
	defer prev.Close()
	up, err := w.prepare(`INSERT INTO elements (key, instance_key, process_id, version, element_id, state, started_at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET instance_key = excluded.instance_key, process_id = excluded.process_id,
			version = excluded.version, element_id = excluded.element_id, state = excluded.state,
			started_at = excluded.started_at, doc = excluded.doc`)
	if err != nil {
		return err
	}
	defer up.Close()
	hours := map[hourKey]*hourAgg{}
	for i := range docs {
		d := &docs[i]
		if d.State != history.ElementActive {
			// Count a finished element instance once: only when it was not
			// finished before (re-applying a batch changes nothing).
			var old string
			err := prev.QueryRowContext(w.ctx, d.Key).Scan(&old)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read element instance %d: %w", d.Key, err)
			}
			if old == "" || old == history.ElementActive {
				hk := hourKey{pid: d.ProcessID, el: d.ElementID, hour: hourOf(d.StartedAt), ver: d.Version}
				a := hours[hk]
				if a == nil {
					a = &hourAgg{}
					hours[hk] = a
				}
				a.add(d)
			}
		}
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode element instance %d: %w", d.Key, err)
		}
		if _, err := up.ExecContext(w.ctx, d.Key, d.InstanceKey, d.ProcessID, d.Version, d.ElementID, d.State, ns(d.StartedAt), doc); err != nil {
			return fmt.Errorf("write element instance %d: %w", d.Key, err)
		}
	}
	return w.addHours(hours)
}

func (w *writer) addHours(hours map[hourKey]*hourAgg) error {
	if len(hours) == 0 {
		return nil
	}
	get, err := w.prepare(`SELECT completed, skipped, terminated, sum_ms, hist FROM element_hours
		WHERE process_id = ? AND element_id = ? AND hour = ? AND version = ?`)
	if err != nil {
		return err
	}
	defer get.Close()
	put, err := w.prepare(`INSERT INTO element_hours (process_id, element_id, hour, version, completed, skipped, terminated, sum_ms, hist)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (process_id, element_id, hour, version) DO UPDATE SET completed = excluded.completed,
			skipped = excluded.skipped, terminated = excluded.terminated, sum_ms = excluded.sum_ms, hist = excluded.hist`)
	if err != nil {
		return err
	}
	defer put.Close()
	for k, a := range hours {
		var old hourAgg
		var blob []byte
		err := get.QueryRowContext(w.ctx, k.pid, k.el, k.hour, k.ver).Scan(&old.completed, &old.skipped, &old.terminated, &old.sumMs, &blob)
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
		if _, err := put.ExecContext(w.ctx, k.pid, k.el, k.hour, k.ver, old.completed, old.skipped, old.terminated, old.sumMs, w.buf); err != nil {
			return fmt.Errorf("write statistics of %s/%s: %w", k.pid, k.el, err)
		}
	}
	return nil
}

func (w *writer) events(docs []history.Event) error {
	up, err := w.prepare(`INSERT INTO events (id, event_time, outcome, reason, message_name, correlation_key, instance_key, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET event_time = excluded.event_time, outcome = excluded.outcome,
			reason = excluded.reason, message_name = excluded.message_name, correlation_key = excluded.correlation_key,
			instance_key = excluded.instance_key, doc = excluded.doc
		RETURNING rowid`)
	if err != nil {
		return err
	}
	defer up.Close()
	del, err := w.prepare(`DELETE FROM events_fts WHERE rowid = ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	ins, err := w.prepare(`INSERT INTO events_fts (rowid, body) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := range docs {
		d := &docs[i]
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", d.ID, err)
		}
		var rowid int64
		if err := up.QueryRowContext(w.ctx, d.ID, ns(d.EventTime), d.Outcome, d.Reason, d.MessageName, d.CorrelationKey, d.InstanceKey, doc).Scan(&rowid); err != nil {
			return fmt.Errorf("write event %q: %w", d.ID, err)
		}
		if _, err := del.ExecContext(w.ctx, rowid); err != nil {
			return fmt.Errorf("index event %q: %w", d.ID, err)
		}
		if _, err := ins.ExecContext(w.ctx, rowid, w.txt.event(d)); err != nil {
			return fmt.Errorf("index event %q: %w", d.ID, err)
		}
	}
	return nil
}

func (w *writer) incidents(docs []history.Incident) error {
	up, err := w.prepare(`INSERT INTO incidents (id, state, reason, instance_key, process_id, version, element_id, created_at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, instance_key = excluded.instance_key,
			process_id = excluded.process_id, version = excluded.version, element_id = excluded.element_id,
			created_at = excluded.created_at, doc = excluded.doc`)
	if err != nil {
		return err
	}
	defer up.Close()
	for i := range docs {
		d := &docs[i]
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode incident %q: %w", d.ID, err)
		}
		if _, err := up.ExecContext(w.ctx, d.ID, d.State, d.Reason, d.InstanceKey, d.ProcessID, d.Version, d.ElementID, ns(d.CreatedAt), doc); err != nil {
			return fmt.Errorf("write incident %q: %w", d.ID, err)
		}
	}
	return nil
}

func (w *writer) actions(docs []history.Action) error {
	up, err := w.prepare(`INSERT INTO actions (id, instance_key, state, raised_at, doc) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET instance_key = excluded.instance_key, state = excluded.state,
			raised_at = excluded.raised_at, doc = excluded.doc`)
	if err != nil {
		return err
	}
	defer up.Close()
	for i := range docs {
		d := &docs[i]
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode action %q: %w", d.ID, err)
		}
		if _, err := up.ExecContext(w.ctx, d.ID, d.InstanceKey, d.State, ns(d.RaisedAt), doc); err != nil {
			return fmt.Errorf("write action %q: %w", d.ID, err)
		}
	}
	return nil
}
