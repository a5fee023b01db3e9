package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	es "github.com/olivere/elastic/v7"

	"github.com/tracker-dev/tracker/history"
)

// Queries are written as plain JSON (maps, which encoding/json renders with
// sorted keys, so the requests are byte-for-byte reproducible) using only
// what Elasticsearch 7.10+, 8.x and OpenSearch share: bool/term/terms/range/
// match/nested/exists queries, sort with search_after, track_total_hits,
// and terms/filter/avg/percentiles (HDR) aggregations. No point-in-time, no
// runtime fields, no flattened type, no collapse.

func term(field string, v any) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

func rangeQ(field string, gte, lt time.Time) map[string]any {
	r := map[string]any{}
	if !gte.IsZero() {
		r["gte"] = esTime(gte)
	}
	if !lt.IsZero() {
		r["lt"] = esTime(lt)
	}
	return map[string]any{"range": map[string]any{field: r}}
}

// fullText matches documents whose "text" holds every word of q.
func fullText(q string) map[string]any {
	return map[string]any{"match": map[string]any{"text": map[string]any{"query": q, "operator": "and"}}}
}

func nested(path string, q any) map[string]any {
	return map[string]any{"nested": map[string]any{"path": path, "query": q}}
}

func boolFilter(filters []any) map[string]any {
	if len(filters) == 0 {
		return map[string]any{"match_all": map[string]any{}}
	}
	return map[string]any{"bool": map[string]any{"filter": filters}}
}

// search runs one search on a kind's alias. ignore_unavailable and
// allow_no_indices make a search of events before the first event index
// exists return nothing instead of index_not_found_exception.
func (b *Backend) search(ctx context.Context, kind string, body map[string]any) (*es.SearchResult, error) {
	res, err := b.c.Search(b.n.alias(kind)).Source(body).IgnoreUnavailable(true).AllowNoIndices(true).Do(ctx)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", b.n.alias(kind), err)
	}
	return res, nil
}

// get reads one document by id (a realtime get through the alias).
func (b *Backend) get(ctx context.Context, kind, id string, into any) (bool, error) {
	res, err := b.c.Get().Index(b.n.alias(kind)).Id(id).Do(ctx)
	if es.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s/%s: %w", b.n.alias(kind), id, err)
	}
	if !res.Found {
		return false, nil
	}
	if err := json.Unmarshal(res.Source, into); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", b.n.alias(kind), id, err)
	}
	return true, nil
}

// list runs a keyset-paged listing: limit+1 hits tell whether a next page
// exists; the cursor holds the sort values of the page's last item.
func list[T any](ctx context.Context, b *Backend, kind string, filters []any, o order, limit int, cur string,
	decode func(json.RawMessage) (T, []any, error)) (history.Page[T], error) {
	page := history.Page[T]{Items: []T{}}
	limit = history.ClampLimit(limit)
	body := map[string]any{
		"query":            boolFilter(filters),
		"size":             limit + 1,
		"sort":             o.sortBody(),
		"track_total_hits": false,
	}
	if kind == kindEvents || kind == kindInstances {
		body["_source"] = map[string]any{"excludes": []string{"text"}}
	}
	if cur != "" {
		after, err := decodeCursor(o, cur)
		if err != nil {
			return page, err
		}
		body["search_after"] = after
	}
	res, err := b.search(ctx, kind, body)
	if err != nil {
		return page, err
	}
	var last []any
	for i, hit := range hitsOf(res) {
		if i == limit {
			page.Next = encodeCursor(o, last...)
			break
		}
		item, values, err := decode(hit.Source)
		if err != nil {
			return page, fmt.Errorf("decode %s document %s: %w", hit.Index, hit.Id, err)
		}
		page.Items = append(page.Items, item)
		last = values
	}
	return page, nil
}

func hitsOf(res *es.SearchResult) []*es.SearchHit {
	if res == nil || res.Hits == nil {
		return nil
	}
	return res.Hits.Hits
}

// Instance returns one instance by key.
func (b *Backend) Instance(ctx context.Context, key int64) (history.Instance, bool, error) {
	var in history.Instance
	found, err := b.get(ctx, kindInstances, strconv.FormatInt(key, 10), &in)
	return in, found, err
}

// ElementInstances returns an instance's element instances by key, reading
// pages of 1000 until the last.
func (b *Backend) ElementInstances(ctx context.Context, instanceKey int64) ([]history.ElementInstance, error) {
	out := []history.ElementInstance{}
	cur := ""
	for {
		p, err := list(ctx, b, kindElements, []any{term("instanceKey", instanceKey)}, elementOrder, history.MaxLimit, cur,
			func(src json.RawMessage) (history.ElementInstance, []any, error) {
				var d elementDoc
				err := json.Unmarshal(src, &d)
				return d.element(), []any{d.Key}, err
			})
		if err != nil {
			return nil, fmt.Errorf("element instances of %d: %w", instanceKey, err)
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out, nil
		}
		cur = p.Next
	}
}

// stuckQuery matches instances active at the rule's element since before
// rule.Before.
func stuckQuery(r history.StuckRule) map[string]any {
	f := []any{term("processId", r.ProcessID)}
	if r.Version != 0 {
		f = append(f, term("version", r.Version))
	}
	f = append(f, nested("activeElements", map[string]any{"bool": map[string]any{"filter": []any{
		term("activeElements.elementId", r.ElementID),
		rangeQ("activeElements.since", time.Time{}, r.Before),
	}}}))
	return map[string]any{"bool": map[string]any{"filter": f}}
}

// Instances lists instances matching q.
func (b *Backend) Instances(ctx context.Context, q history.InstanceQuery) (history.Page[history.Instance], error) {
	sortName := q.Sort
	if sortName == "" {
		sortName = history.SortStartedDesc
	}
	o, ok := instanceOrders[sortName]
	if !ok {
		return history.Page[history.Instance]{}, fmt.Errorf("%w: unknown instance sort %q (use startedAt, -startedAt, key or -key)", history.ErrInvalidQuery, q.Sort)
	}
	if q.Stuck != nil && len(q.Stuck) == 0 {
		if q.Cursor != "" {
			if _, err := decodeCursor(o, q.Cursor); err != nil {
				return history.Page[history.Instance]{}, err
			}
		}
		return history.Page[history.Instance]{Items: []history.Instance{}}, nil
	}
	var f []any
	if q.ProcessID != "" {
		f = append(f, term("processId", q.ProcessID))
	}
	if q.Version != 0 {
		f = append(f, term("version", q.Version))
	}
	if q.State != "" {
		f = append(f, term("state", q.State))
	}
	if q.Element != "" {
		f = append(f, nested("activeElements", term("activeElements.elementId", q.Element)))
	}
	if q.CorrelationKey != "" {
		f = append(f, term("correlationKey", q.CorrelationKey))
	}
	if !q.StartedAfter.IsZero() || !q.StartedBefore.IsZero() {
		f = append(f, rangeQ("startedAt", q.StartedAfter, q.StartedBefore))
	}
	if strings.TrimSpace(q.Q) != "" {
		f = append(f, fullText(q.Q))
	}
	if len(q.Stuck) > 0 {
		should := make([]any, 0, len(q.Stuck))
		for _, r := range q.Stuck {
			should = append(should, stuckQuery(r))
		}
		f = append(f, map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}})
	}
	p, err := list(ctx, b, kindInstances, f, o, q.Limit, q.Cursor, func(src json.RawMessage) (history.Instance, []any, error) {
		var in history.Instance
		err := json.Unmarshal(src, &in)
		switch sortName {
		case history.SortKeyAsc, history.SortKeyDesc:
			return in, []any{in.Key}, err
		}
		return in, []any{in.StartedAt.UnixMilli(), in.Key}, err
	})
	if err != nil {
		return p, fmt.Errorf("list instances: %w", err)
	}
	return p, nil
}

// Events lists events matching q.
func (b *Backend) Events(ctx context.Context, q history.EventQuery) (history.Page[history.Event], error) {
	sortName := q.Sort
	if sortName == "" {
		sortName = history.SortTimeDesc
	}
	o, ok := eventOrders[sortName]
	if !ok {
		return history.Page[history.Event]{}, fmt.Errorf("%w: unknown event sort %q (use eventTime or -eventTime)", history.ErrInvalidQuery, q.Sort)
	}
	var f []any
	for _, kv := range []struct{ field, v string }{
		{"outcome", q.Outcome}, {"reason", q.Reason}, {"messageName", q.MessageName}, {"correlationKey", q.CorrelationKey},
	} {
		if kv.v != "" {
			f = append(f, term(kv.field, kv.v))
		}
	}
	if q.InstanceKey != 0 {
		f = append(f, term("instanceKey", q.InstanceKey))
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		f = append(f, rangeQ("eventTime", q.From, q.To))
	}
	if strings.TrimSpace(q.Q) != "" {
		f = append(f, fullText(q.Q))
	}
	p, err := list(ctx, b, kindEvents, f, o, q.Limit, q.Cursor, func(src json.RawMessage) (history.Event, []any, error) {
		var e history.Event
		err := json.Unmarshal(src, &e)
		return e, []any{e.EventTime.UnixMilli(), e.ID}, err
	})
	if err != nil {
		return p, fmt.Errorf("list events: %w", err)
	}
	return p, nil
}

// Incidents lists incidents matching q, newest first.
func (b *Backend) Incidents(ctx context.Context, q history.IncidentQuery) (history.Page[history.Incident], error) {
	var f []any
	if len(q.IDs) > history.MaxLimit {
		return history.Page[history.Incident]{}, fmt.Errorf("%w: %d incident ids, at most %d", history.ErrInvalidQuery, len(q.IDs), history.MaxLimit)
	}
	if len(q.IDs) > 0 {
		f = append(f, map[string]any{"terms": map[string]any{"id": q.IDs}})
	}
	if q.State != "" {
		f = append(f, term("state", q.State))
	}
	if q.Reason != "" {
		f = append(f, term("reason", q.Reason))
	}
	if q.InstanceKey != 0 {
		f = append(f, term("instanceKey", q.InstanceKey))
	}
	if q.ProcessID != "" {
		f = append(f, term("processId", q.ProcessID))
	}
	p, err := list(ctx, b, kindIncidents, f, incidentOrder, q.Limit, q.Cursor, func(src json.RawMessage) (history.Incident, []any, error) {
		var inc history.Incident
		err := json.Unmarshal(src, &inc)
		return inc, []any{inc.CreatedAt.UnixMilli(), inc.ID}, err
	})
	if err != nil {
		return p, fmt.Errorf("list incidents: %w", err)
	}
	return p, nil
}

// Actions lists actions matching q, newest first.
func (b *Backend) Actions(ctx context.Context, q history.ActionQuery) (history.Page[history.Action], error) {
	var f []any
	if q.InstanceKey != 0 {
		f = append(f, term("instanceKey", q.InstanceKey))
	}
	if q.State != "" {
		f = append(f, term("state", q.State))
	}
	p, err := list(ctx, b, kindActions, f, actionOrder, q.Limit, q.Cursor, func(src json.RawMessage) (history.Action, []any, error) {
		var a history.Action
		err := json.Unmarshal(src, &a)
		return a, []any{a.RaisedAt.UnixMilli(), a.ID}, err
	})
	if err != nil {
		return p, fmt.Errorf("list actions: %w", err)
	}
	return p, nil
}

// maxElements bounds the element buckets of one process's statistics.
const maxElements = 500

// Statistics aggregates one process's element instances (one search with a
// terms aggregation per element, states, durations with HDR percentiles and
// the stuck filter) and its open incidents per element (a second search).
func (b *Backend) Statistics(ctx context.Context, q history.StatisticsQuery) (history.Statistics, error) {
	st := history.Statistics{ProcessID: q.ProcessID, Version: q.Version, Elements: []history.ElementStatistics{}}
	if q.ProcessID == "" {
		return st, fmt.Errorf("%w: statistics need a process id", history.ErrInvalidQuery)
	}
	f := []any{term("processId", q.ProcessID)}
	if q.Version != 0 {
		f = append(f, term("version", q.Version))
	}
	incF := append(slices.Clone(f), term("state", history.IncidentOpen))
	if !q.From.IsZero() || !q.To.IsZero() {
		f = append(f, rangeQ("startedAt", q.From, q.To))
	}
	sub := map[string]any{
		"states": map[string]any{"terms": map[string]any{"field": "state", "size": 10}},
		"completed": map[string]any{
			"filter": term("state", history.ElementCompleted),
			"aggs": map[string]any{
				"avg": map[string]any{"avg": map[string]any{"field": "durationMs"}},
				"pct": map[string]any{"percentiles": map[string]any{
					"field": "durationMs", "percents": []float64{50, 95},
					"hdr": map[string]any{"number_of_significant_value_digits": 3},
				}},
			},
		},
	}
	if len(q.Stuck) > 0 {
		should := make([]any, 0, len(q.Stuck))
		for _, r := range q.Stuck {
			rf := []any{term("processId", r.ProcessID), term("elementId", r.ElementID), term("state", history.ElementActive),
				rangeQ("startedAt", time.Time{}, r.Before)}
			if r.Version != 0 {
				rf = append(rf, term("version", r.Version))
			}
			should = append(should, map[string]any{"bool": map[string]any{"filter": rf}})
		}
		sub["stuck"] = map[string]any{"filter": map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}}
	}
	elements := map[string]any{
		"terms": map[string]any{"field": "elementId", "size": maxElements, "order": map[string]any{"_key": "asc"}},
		"aggs":  sub,
	}
	res, err := b.search(ctx, kindElements, map[string]any{
		"size": 0, "track_total_hits": false, "query": boolFilter(f),
		"aggs": map[string]any{"elements": elements},
	})
	if err != nil {
		return st, fmt.Errorf("statistics of %s: %w", q.ProcessID, err)
	}
	byID := map[string]*history.ElementStatistics{}
	get := func(id string) *history.ElementStatistics {
		if e, ok := byID[id]; ok {
			return e
		}
		e := &history.ElementStatistics{ElementID: id}
		byID[id] = e
		return e
	}
	if agg, ok := res.Aggregations.Terms("elements"); ok {
		for _, bucket := range agg.Buckets {
			e := get(fmt.Sprint(bucket.Key))
			if states, ok := bucket.Aggregations.Terms("states"); ok {
				for _, s := range states.Buckets {
					switch fmt.Sprint(s.Key) {
					case history.ElementActive:
						e.Active = s.DocCount
					case history.ElementCompleted:
						e.Completed = s.DocCount
					case history.ElementSkipped:
						e.Skipped = s.DocCount
					case history.ElementTerminated:
						e.Terminated = s.DocCount
					}
				}
			}
			if c, ok := bucket.Aggregations.Filter("completed"); ok {
				e.DurationMs.Count = c.DocCount
				if avg, ok := c.Aggregations.Avg("avg"); ok && avg.Value != nil {
					e.DurationMs.Avg = *avg.Value
				}
				if pct, ok := c.Aggregations.Percentiles("pct"); ok && c.DocCount > 0 {
					e.DurationMs.P50, e.DurationMs.P95 = pct.Values["50.0"], pct.Values["95.0"]
				}
			}
			if s, ok := bucket.Aggregations.Filter("stuck"); ok {
				e.Stuck = s.DocCount
			}
		}
	}
	res, err = b.search(ctx, kindIncidents, map[string]any{
		"size": 0, "track_total_hits": false, "query": boolFilter(incF),
		"aggs": map[string]any{"elements": map[string]any{"terms": map[string]any{"field": "elementId", "size": maxElements}}},
	})
	if err != nil {
		return st, fmt.Errorf("incident statistics of %s: %w", q.ProcessID, err)
	}
	if agg, ok := res.Aggregations.Terms("elements"); ok {
		for _, bucket := range agg.Buckets {
			get(fmt.Sprint(bucket.Key)).Incidents = bucket.DocCount
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		st.Elements = append(st.Elements, *byID[id])
	}
	return st, nil
}

// Cleanup deletes instances finished before `before` with everything that
// belongs to them, then events without an instance older than `before`.
// Keys are collected page by page and deleted with delete_by_query in chunks.
func (b *Backend) Cleanup(ctx context.Context, before time.Time) (history.CleanupResult, error) {
	var res history.CleanupResult
	var keys []int64
	after := []any(nil)
	for {
		body := map[string]any{
			"size": history.MaxLimit, "track_total_hits": false, "_source": false,
			"sort": elementOrder.sortBody(), // by key ascending
			"query": map[string]any{"bool": map[string]any{
				"filter":   []any{rangeQ("endedAt", time.Time{}, before)},
				"must_not": []any{term("state", history.StateActive)},
			}},
		}
		if after != nil {
			body["search_after"] = after
		}
		sr, err := b.search(ctx, kindInstances, body)
		if err != nil {
			return res, fmt.Errorf("cleanup: find finished instances: %w", err)
		}
		hits := hitsOf(sr)
		for _, h := range hits {
			k, err := strconv.ParseInt(h.Id, 10, 64)
			if err != nil {
				return res, fmt.Errorf("cleanup: instance document id %q is not a key", h.Id)
			}
			keys = append(keys, k)
		}
		if len(hits) < history.MaxLimit {
			break
		}
		after = []any{keys[len(keys)-1]}
	}
	for chunk := range slices.Chunk(keys, history.MaxLimit) {
		for _, kind := range []string{kindEvents, kindElements, kindIncidents, kindActions, kindInstances} {
			field := "instanceKey"
			if kind == kindInstances {
				field = "key"
			}
			n, err := b.deleteByQuery(ctx, kind, map[string]any{"terms": map[string]any{field: chunk}})
			if err != nil {
				return res, fmt.Errorf("cleanup: %w", err)
			}
			switch kind {
			case kindEvents:
				res.Events += n
			case kindInstances:
				res.Instances += n
			}
		}
	}
	n, err := b.deleteByQuery(ctx, kindEvents, map[string]any{"bool": map[string]any{
		"filter":   []any{rangeQ("eventTime", time.Time{}, before)},
		"must_not": []any{map[string]any{"exists": map[string]any{"field": "instanceKey"}}},
	}})
	if err != nil {
		return res, fmt.Errorf("cleanup: %w", err)
	}
	res.Events += n
	return res, nil
}

func (b *Backend) deleteByQuery(ctx context.Context, kind string, query map[string]any) (int64, error) {
	body, err := json.Marshal(map[string]any{"query": query})
	if err != nil {
		return 0, err
	}
	r, err := b.c.DeleteByQuery(b.n.alias(kind)).Body(string(body)).Conflicts("proceed").
		IgnoreUnavailable(true).AllowNoIndices(true).Do(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", b.n.alias(kind), err)
	}
	if len(r.Failures) > 0 {
		return r.Deleted, fmt.Errorf("delete from %s: %d failures, first: %v", b.n.alias(kind), len(r.Failures), r.Failures[0])
	}
	return r.Deleted, nil
}
