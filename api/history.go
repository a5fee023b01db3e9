package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/history"
)

// HistoryReader is what the event, search and statistics endpoints need from
// the read model; *history.Service satisfies it.
type HistoryReader interface {
	InstanceReader
	Events(ctx context.Context, q history.EventQuery) (history.Page[history.Event], error)
	Statistics(ctx context.Context, q history.StatisticsQuery) (history.Statistics, error)
	Thresholds(ctx context.Context, processID string) ([]history.Threshold, error)
}

// HistoryRoutes registers the read-model endpoints besides instances on g,
// which the server mounts at /api/v1:
//
//	GET /events                          outcome, reason, messageName, correlationKey, instanceKey,
//	                                     q, from, to (RFC 3339, event time), sort, limit, cursor
//	GET /search                          q (required), limit: {instances: [...], events: [...]}
//	GET /models/:processId/statistics    version, from, to: per element active, completed,
//	                                     skipped, terminated, incidents, stuck, durationMs {p50, p95, avg, count}
//
// The statistics route sits beside the model routes of models.go on the same group.
func HistoryRoutes(g *echo.Group, r HistoryReader) {
	h := &historyHandlers{r: r}
	g.GET("/events", h.events)
	g.GET("/search", h.search)
	g.GET("/models/:processId/statistics", h.statistics)
}

type historyHandlers struct{ r HistoryReader }

// EventPage is the body of GET /events.
type EventPage struct {
	Items []history.Event `json:"items"`
	Next  string          `json:"next,omitempty"`
}

func (h *historyHandlers) events(c echo.Context) error {
	p := newHistParams(c)
	q := history.EventQuery{
		Outcome:        p.oneOf("outcome", "started", "correlated", "buffered", "duplicate", "uncorrelated"),
		Reason:         p.str("reason"),
		MessageName:    p.str("messageName"),
		CorrelationKey: p.str("correlationKey"),
		InstanceKey:    p.int64("instanceKey"),
		From:           p.time("from"),
		To:             p.time("to"),
		Q:              p.str("q"),
		Sort:           p.oneOf("sort", history.SortTimeDesc, history.SortTimeAsc),
		Limit:          p.limit(),
		Cursor:         p.str("cursor"),
	}
	if err := p.err(); err != nil {
		return err
	}
	page, err := h.r.Events(c.Request().Context(), q)
	if err != nil {
		return historyQueryError(err, "list events")
	}
	if page.Items == nil {
		page.Items = []history.Event{}
	}
	return c.JSON(http.StatusOK, EventPage{Items: page.Items, Next: page.Next})
}

// SearchResult is the body of GET /search: the best matches of each kind
// (newest first); follow up with /instances?q= or /events?q= to page.
type SearchResult struct {
	Q         string          `json:"q"`
	Instances []InstanceItem  `json:"instances"`
	Events    []history.Event `json:"events"`
}

func (h *historyHandlers) search(c echo.Context) error {
	p := newHistParams(c)
	q := p.str("q")
	if q == "" {
		p.bad("q", "q is required")
	}
	limit := p.limit()
	if limit == 0 {
		limit = 20
	}
	if err := p.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	insts, err := h.r.Instances(ctx, history.InstanceQuery{Q: q, Limit: limit}, false)
	if err != nil {
		return historyQueryError(err, "search instances")
	}
	evs, err := h.r.Events(ctx, history.EventQuery{Q: q, Limit: limit})
	if err != nil {
		return historyQueryError(err, "search events")
	}
	out := SearchResult{Q: q, Instances: make([]InstanceItem, 0, len(insts.Items)), Events: evs.Items}
	for _, in := range insts.Items {
		out.Instances = append(out.Instances, instanceItem(in))
	}
	if out.Events == nil {
		out.Events = []history.Event{}
	}
	return c.JSON(http.StatusOK, out)
}

// StatisticsBody is the body of GET /models/:processId/statistics.
type StatisticsBody struct {
	history.Statistics
	Thresholds []history.Threshold `json:"thresholds"`
}

func (h *historyHandlers) statistics(c echo.Context) error {
	p := newHistParams(c)
	q := history.StatisticsQuery{
		ProcessID: c.Param("processId"),
		Version:   p.int("version"),
		From:      p.time("from"),
		To:        p.time("to"),
	}
	if err := p.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, err := h.r.Statistics(ctx, q)
	if err != nil {
		return historyQueryError(err, "statistics of "+q.ProcessID)
	}
	ths, err := h.r.Thresholds(ctx, q.ProcessID)
	if err != nil {
		return historyQueryError(err, "stuck thresholds of "+q.ProcessID)
	}
	if ths == nil {
		ths = []history.Threshold{}
	}
	return c.JSON(http.StatusOK, StatisticsBody{Statistics: st, Thresholds: ths})
}
