package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/incidents"
)

// IncidentService is what the incident routes need; *incidents.Store
// satisfies it.
type IncidentService interface {
	List(ctx context.Context, f incidents.Filter) (incidents.Page, error)
	Get(ctx context.Context, id string) (incidents.Incident, error)
	Resolve(ctx context.Context, id string, by incidents.Actor, comment string) (incidents.Incident, error)
	Retry(ctx context.Context, id string, by incidents.Actor, comment string) (incidents.RetryResult, error)
	ResolveAll(ctx context.Context, f incidents.Filter, by incidents.Actor, comment string) (incidents.BulkResult, error)
	RetryAll(ctx context.Context, f incidents.Filter, by incidents.Actor, comment string) (incidents.BulkResult, error)
}

// IncidentRoutes registers the incident endpoints (DESIGN.md §5, §9) on g,
// which the server mounts at /api/v1:
//
//	GET  /incidents              filters state, reason, messageName, correlationKey, severity,
//	                             from, to (RFC 3339, on openedAt), limit, cursor → {items, next?}
//	GET  /incidents/:id          one incident with its original event and history
//	POST /incidents/:id/retry    {comment?} run correlation again now → {incident, messageId, outcome, ...}
//	POST /incidents/:id/resolve  {comment} → the incident
//	POST /incidents/retry        bulk: filters in the query and/or the body, {comment?, limit?}
//	POST /incidents/resolve      bulk: filters in the query and/or the body, {comment, limit?}
//
// The write middleware applies to the POST routes; the history records the
// caller's token name. Errors: 400 with problems for bad filters or a
// missing comment, 404 for an unknown id, 409 for a resolved incident, an
// incident without an event to retry, or one whose previous retry is still
// buffered, 503 when retries are not available.
func IncidentRoutes(g *echo.Group, svc IncidentService, write echo.MiddlewareFunc) {
	h := &incidentHandlers{svc: svc}
	g.GET("/incidents", h.list)
	g.POST("/incidents/retry", h.retryAll, write)
	g.POST("/incidents/resolve", h.resolveAll, write)
	g.GET("/incidents/:id", h.get)
	g.POST("/incidents/:id/retry", h.retry, write)
	g.POST("/incidents/:id/resolve", h.resolve, write)
}

type incidentHandlers struct{ svc IncidentService }

// parseFilter reads a filter from query parameters, naming every bad one.
func parseFilter(q url.Values) (incidents.Filter, []Problem) {
	f := incidents.Filter{
		State: incidents.State(q.Get("state")), Reason: q.Get("reason"), MessageName: q.Get("messageName"),
		CorrelationKey: q.Get("correlationKey"), Severity: q.Get("severity"), Cursor: q.Get("cursor"),
	}
	var ps []Problem
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(tp.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				ps = append(ps, Problem{Name: tp.name, Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-03T10:00:00Z", v)})
			}
			*tp.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			ps = append(ps, Problem{Name: "limit", Message: fmt.Sprintf("%q is not a positive number", v)})
		}
		f.Limit = n
	}
	return f, ps
}

// validate turns a filter's problems into a 400.
func validate(f incidents.Filter, ps []Problem) error {
	if err := f.Validate(); err != nil {
		ps = append(ps, splitErrors(err)...)
	}
	if len(ps) > 0 {
		return &ProblemError{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid incident filter: %d problem(s)", len(ps)), Problems: ps}
	}
	return nil
}

func splitErrors(err error) []Problem {
	var ps []Problem
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps = append(ps, splitErrors(e)...)
		}
		return ps
	}
	return []Problem{{Message: err.Error()}}
}

func (h *incidentHandlers) list(c echo.Context) error {
	f, ps := parseFilter(c.QueryParams())
	if err := validate(f, ps); err != nil {
		return err
	}
	page, err := h.svc.List(c.Request().Context(), f)
	if err != nil {
		return incidentError(err)
	}
	return c.JSON(http.StatusOK, page)
}

func (h *incidentHandlers) get(c echo.Context) error {
	inc, err := h.svc.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return incidentError(err)
	}
	return c.JSON(http.StatusOK, inc)
}

// actor is who calls: the token's name, "local" for a loopback caller
// without a token.
func actor(c echo.Context) incidents.Actor {
	if name, _ := c.Get("tracker.token").(string); name != "" {
		return incidents.Actor{Name: name}
	}
	return incidents.Actor{Name: "local"}
}

// commentBody is the body of the single-incident POSTs.
type commentBody struct {
	Comment string `json:"comment"`
}

// readBody decodes an optional JSON body strictly (unknown fields are an
// error: a misspelt filter must not widen a bulk operation).
func readBody(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return fmt.Errorf("read request body: %w", err)
	}
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &ProblemError{Status: http.StatusBadRequest, Message: "invalid request body", Problems: []Problem{{Message: err.Error()}}}
	}
	return nil
}

// retryResponse is the body of POST /incidents/:id/retry.
type retryResponse struct {
	Incident    incidents.Incident `json:"incident"`
	MessageID   string             `json:"messageId"`
	Outcome     engine.Result      `json:"outcome"`
	Reason      engine.Reason      `json:"reason,omitempty"`
	Decision    *EventDecision     `json:"decision,omitempty"`
	InstanceKey int64              `json:"instanceKey,omitempty"`
}

func (h *incidentHandlers) retry(c echo.Context) error {
	var b commentBody
	if err := readBody(c, &b); err != nil {
		return err
	}
	r, err := h.svc.Retry(c.Request().Context(), c.Param("id"), actor(c), b.Comment)
	if err != nil {
		return incidentError(err)
	}
	resp := retryResponse{Incident: r.Incident, MessageID: r.MessageID, Outcome: r.Outcome.Result, Reason: r.Outcome.Reason, InstanceKey: r.Outcome.InstanceKey}
	if d := r.Outcome.Decision; d != nil {
		resp.Decision = &EventDecision{Action: d.Action, Severity: d.Severity, Note: d.Note, RuleID: d.RuleID}
	}
	return c.JSON(http.StatusOK, resp)
}

func (h *incidentHandlers) resolve(c echo.Context) error {
	var b commentBody
	if err := readBody(c, &b); err != nil {
		return err
	}
	inc, err := h.svc.Resolve(c.Request().Context(), c.Param("id"), actor(c), b.Comment)
	if err != nil {
		return incidentError(err)
	}
	return c.JSON(http.StatusOK, inc)
}

// bulkBody is the body of the bulk POSTs: the filter fields, a comment and
// the cap (limit).
type bulkBody struct {
	incidents.Filter
	Comment string `json:"comment"`
}

func (h *incidentHandlers) bulk(c echo.Context) (incidents.Filter, string, error) {
	f, ps := parseFilter(c.QueryParams())
	b := bulkBody{Filter: f}
	if err := readBody(c, &b); err != nil {
		return incidents.Filter{}, "", err
	}
	if b.Cursor != "" {
		ps = append(ps, Problem{Name: "cursor", Message: "bulk operations take no cursor: they work oldest first up to the limit"})
	}
	// The cap (limit) is checked by the service against its own maximum.
	vf := b.Filter
	vf.Limit = 0
	if err := validate(vf, ps); err != nil {
		return incidents.Filter{}, "", err
	}
	return b.Filter, b.Comment, nil
}

func (h *incidentHandlers) retryAll(c echo.Context) error {
	f, comment, err := h.bulk(c)
	if err != nil {
		return err
	}
	res, err := h.svc.RetryAll(c.Request().Context(), f, actor(c), comment)
	if err != nil {
		return incidentError(err)
	}
	return c.JSON(http.StatusOK, res)
}

func (h *incidentHandlers) resolveAll(c echo.Context) error {
	f, comment, err := h.bulk(c)
	if err != nil {
		return err
	}
	res, err := h.svc.ResolveAll(c.Request().Context(), f, actor(c), comment)
	if err != nil {
		return incidentError(err)
	}
	return c.JSON(http.StatusOK, res)
}

// incidentError maps the store's errors to HTTP statuses.
func incidentError(err error) error {
	switch {
	case errors.Is(err, incidents.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	case errors.Is(err, incidents.ErrResolved), errors.Is(err, incidents.ErrNotRetryable), errors.Is(err, incidents.ErrRetryPending),
		errors.Is(err, incidents.ErrNeedsDecode):
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	case errors.Is(err, incidents.ErrCommentRequired):
		return &ProblemError{Status: http.StatusBadRequest, Message: err.Error(), Problems: []Problem{{Name: "comment", Message: "required"}}}
	case errors.Is(err, incidents.ErrBadFilter):
		return &ProblemError{Status: http.StatusBadRequest, Message: "invalid incident filter", Problems: []Problem{{Message: err.Error()}}}
	case errors.Is(err, incidents.ErrNoCorrelator):
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return err
}
