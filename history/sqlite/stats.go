package sqlite

import (
	"context"
	"fmt"
	"sort"

	"github.com/tracker-dev/tracker/history"
)

// Statistics aggregates one process: finished element instances from the
// per-hour aggregates (the time range is rounded outward to whole hours),
// active and stuck ones from the element instances, open incidents.
func (s *Store) Statistics(ctx context.Context, q history.StatisticsQuery) (history.Statistics, error) {
	st := history.Statistics{ProcessID: q.ProcessID, Version: q.Version, Elements: []history.ElementStatistics{}}
	if q.ProcessID == "" {
		return st, fmt.Errorf("%w: statistics need a process id", history.ErrInvalidQuery)
	}
	type acc struct {
		e    history.ElementStatistics
		sum  int64
		hist hist
	}
	els := map[string]*acc{}
	get := func(id string) *acc {
		a := els[id]
		if a == nil {
			a = &acc{e: history.ElementStatistics{ElementID: id}, hist: hist{}}
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
	rows, err := s.rdb.QueryContext(ctx, "SELECT element_id, completed, skipped, terminated, sum_ms, hist FROM element_hours"+w.String(), w.args...)
	if err != nil {
		return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
	}
	for rows.Next() {
		var id string
		var c, sk, te, sum int64
		var blob []byte
		if err := rows.Scan(&id, &c, &sk, &te, &sum, &blob); err != nil {
			rows.Close()
			return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
		}
		a := get(id)
		a.e.Completed += c
		a.e.Skipped += sk
		a.e.Terminated += te
		a.sum += sum
		if err := a.hist.decodeAdd(blob); err != nil {
			rows.Close()
			return st, fmt.Errorf("statistics of %s/%s: %w", q.ProcessID, id, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
	}

	// Active (and stuck) element instances.
	active := func(extra string, args ...any) (map[string]int64, error) {
		var w where
		w.add("state = 'active'")
		w.add("process_id = ?", q.ProcessID)
		if q.Version != 0 {
			w.add("version = ?", q.Version)
		}
		if !q.From.IsZero() {
			w.add("started_at >= ?", q.From.UnixNano())
		}
		if !q.To.IsZero() {
			w.add("started_at < ?", q.To.UnixNano())
		}
		if extra != "" {
			w.add(extra, args...)
		}
		rows, err := s.rdb.QueryContext(ctx, "SELECT element_id, count(*) FROM elements"+w.String()+" GROUP BY element_id", w.args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return nil, err
			}
			out[id] = n
		}
		return out, rows.Err()
	}
	counts, err := active("")
	if err != nil {
		return st, fmt.Errorf("statistics of %s: active elements: %w", q.ProcessID, err)
	}
	for id, n := range counts {
		get(id).e.Active = n
	}
	for _, r := range q.Stuck {
		if r.ProcessID != q.ProcessID || (r.Version != 0 && q.Version != 0 && r.Version != q.Version) {
			continue
		}
		extra, args := "element_id = ? AND started_at < ?", []any{r.ElementID, r.Before.UnixNano()}
		if r.Version != 0 {
			extra += " AND version = ?"
			args = append(args, r.Version)
		}
		counts, err := active(extra, args...)
		if err != nil {
			return st, fmt.Errorf("statistics of %s: stuck elements: %w", q.ProcessID, err)
		}
		for id, n := range counts {
			get(id).e.Stuck += n
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
