package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"

	"github.com/tracker-dev/tracker/history"
)

// Statistics aggregates one process from the per-hour aggregates (the time
// range is rounded outward to whole hours; stuck counts are exact within the
// cutoff's hour) and open incidents.
func (s *Store) Statistics(ctx context.Context, q history.StatisticsQuery) (history.Statistics, error) {
	st := history.Statistics{ProcessID: q.ProcessID, Version: q.Version, Elements: []history.ElementStatistics{}}
	if q.ProcessID == "" {
		return st, fmt.Errorf("%w: statistics need a process id", history.ErrInvalidQuery)
	}
	type acc struct {
		e    history.ElementStatistics
		sum  int64
		hist denseHist
	}
	els := map[string]*acc{}
	get := func(id string) *acc {
		a := els[id]
		if a == nil {
			a = &acc{e: history.ElementStatistics{ElementID: id}}
			els[id] = a
		}
		return a
	}

	// Finished element instances.
	var w where
	w.add("process_id = ?", q.ProcessID)
	if q.Version != 0 {
		w.add("version = ?", q.Version)
	}
	if !q.From.IsZero() {
		w.add("hour >= ?", hourOf(q.From))
	}
	if !q.To.IsZero() {
		h := hourOf(q.To)
		if q.To.UnixNano()%hourNS != 0 {
			h++
		}
		w.add("hour < ?", h)
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT element_id, active, completed, skipped, terminated, sum_ms, hist FROM element_hours"+w.String(), w.args...)
	if err != nil {
		return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
	}
	for rows.Next() {
		var id, blob sql.RawBytes
		var act, c, sk, te, sum int64
		if err := rows.Scan(&id, &act, &c, &sk, &te, &sum, &blob); err != nil {
			rows.Close()
			return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
		}
		if act == 0 && c == 0 && sk == 0 && te == 0 {
			continue
		}
		a := els[string(id)]
		if a == nil {
			a = get(string(id))
		}
		a.e.Active += act
		a.e.Completed += c
		a.e.Skipped += sk
		a.e.Terminated += te
		a.sum += sum
		if err := a.hist.addEncoded(blob); err != nil {
			rows.Close()
			return st, fmt.Errorf("statistics of %s/%s: %w", q.ProcessID, id, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
	}

	// Stuck: whole hours before the cutoff's hour from the aggregates, the
	// cutoff's own hour counted exactly.
	for _, r := range q.Stuck {
		if r.ProcessID != q.ProcessID || (r.Version != 0 && q.Version != 0 && r.Version != q.Version) {
			continue
		}
		n, err := s.stuckCount(ctx, q, r)
		if err != nil {
			return st, fmt.Errorf("statistics of %s: stuck at %s: %w", q.ProcessID, r.ElementID, err)
		}
		if n > 0 {
			get(r.ElementID).e.Stuck += n
		}
	}

	// Open incidents.
	var iw where
	iw.add("state = 'open'")
	iw.add("process_id = ?", q.ProcessID)
	iw.add("element_id != ''")
	if q.Version != 0 {
		iw.add("version = ?", q.Version)
	}
	rows, err = s.rdb.QueryContext(ctx, "SELECT element_id, count(*) FROM incidents"+iw.String()+" GROUP BY element_id", iw.args...)
	if err != nil {
		return st, fmt.Errorf("statistics of %s: incidents: %w", q.ProcessID, err)
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("statistics of %s: incidents: %w", q.ProcessID, err)
		}
		get(id).e.Incidents = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("statistics of %s: incidents: %w", q.ProcessID, err)
	}

	for _, a := range els {
		if n := a.e.Completed; n > 0 {
			a.e.DurationMs = history.DurationStats{
				Count: n,
				Avg:   float64(a.sum) / float64(n),
				P50:   a.hist.percentile(0.50, n),
				P95:   a.hist.percentile(0.95, n),
			}
		}
		st.Elements = append(st.Elements, a.e)
	}
	sort.Slice(st.Elements, func(i, j int) bool { return st.Elements[i].ElementID < st.Elements[j].ElementID })
	return st, nil
}

// stuckCount counts element instances active at r.ElementID since before
// r.Before (within the query's version and hour-rounded time range).
func (s *Store) stuckCount(ctx context.Context, q history.StatisticsQuery, r history.StuckRule) (int64, error) {
	cutHour := hourOf(r.Before)
	var w where
	w.add("process_id = ?", q.ProcessID)
	w.add("element_id = ?", r.ElementID)
	w.add("hour < ?", cutHour)
	if v := max(q.Version, r.Version); v != 0 {
		w.add("version = ?", v)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		lo = hourOf(q.From)
		w.add("hour >= ?", lo)
	}
	if !q.To.IsZero() {
		hi = hourOf(q.To)
		if q.To.UnixNano()%hourNS != 0 {
			hi++
		}
		w.add("hour < ?", hi)
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT coalesce(sum(active), 0) FROM element_hours"+w.String(), w.args...).Scan(&n); err != nil {
		return 0, err
	}
	if cutHour < lo || cutHour >= hi {
		return n, nil
	}
	var e where
	e.add("state = 'active'")
	e.add("process_id = ?", q.ProcessID)
	e.add("element_id = ?", r.ElementID)
	e.add("started_at >= ?", cutHour*hourNS)
	e.add("started_at < ?", r.Before.UnixNano())
	if v := max(q.Version, r.Version); v != 0 {
		e.add("version = ?", v)
	}
	var m int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM elements"+e.String(), e.args...).Scan(&m); err != nil {
		return 0, err
	}
	return n + m, nil
}
