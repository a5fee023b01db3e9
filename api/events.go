package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/correlate"
	"github.com/tracker-dev/tracker/engine"
)

// Content types of POST /events.
const (
	MIMECloudEvent      = "application/cloudevents+json"
	MIMECloudEventBatch = "application/cloudevents-batch+json"
)

// Ingester applies HTTP-ingested CloudEvents through the correlation pipeline;
// *correlate.Consumer satisfies it. IngestHTTP returns one outcome per event,
// or *correlate.InvalidEventsError (400), *correlate.TooLargeError (413),
// correlate.ErrSaturated (429) or correlate.ErrStopped (503).
type Ingester interface {
	IngestHTTP(ctx context.Context, events [][]byte) ([]engine.Outcome, error)
	MaxRequestBytes() int64
}

// EventRoutes registers event ingestion (DESIGN.md §9) on g, which the server
// mounts at /api/v1:
//
//	POST /events   one CloudEvent (application/cloudevents+json) or a batch
//	               (application/cloudevents-batch+json, a JSON array); write
//	               middleware applies
//
// The answer is synchronous, after the events are durable: 200 with
// {id, outcome, reason?, decision?, instanceKey?, processId?} for a single
// event, an array of them for a batch. Errors: 400 with problems for a body
// that is not JSON or events that are not valid CloudEvents (nothing is
// applied), 413 over the request or per-event size limit, 415 for another
// content type, 429 with Retry-After when the pipeline is saturated, 503
// when the consumer is not running.
func EventRoutes(g *echo.Group, in Ingester, write echo.MiddlewareFunc) {
	h := &eventHandlers{in: in}
	g.POST("/events", h.post, write)
}

type eventHandlers struct{ in Ingester }

// EventResult is the outcome of one ingested event.
type EventResult struct {
	ID          string         `json:"id"`
	Outcome     engine.Result  `json:"outcome"`
	Reason      engine.Reason  `json:"reason,omitempty"`
	Decision    *EventDecision `json:"decision,omitempty"`
	InstanceKey int64          `json:"instanceKey,omitempty"`
	ProcessID   string         `json:"processId,omitempty"`
}

// EventDecision is what the decision table said about an uncorrelated event.
type EventDecision struct {
	Action   string `json:"action"`
	Severity string `json:"severity,omitempty"`
	Note     string `json:"note,omitempty"`
	RuleID   string `json:"ruleId,omitempty"`
}

func (h *eventHandlers) post(c echo.Context) error {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: %v", ct, err))
	}
	limit := h.in.MaxRequestBytes()
	if req.ContentLength > limit {
		return eventsTooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError
		switch {
		case errors.As(err, &mbe):
			return eventsTooLarge(limit)
		case errors.As(err, &he):
			return he // the server's own body limit
		}
		return echo.NewHTTPError(http.StatusBadRequest, "cannot read the request body: "+err.Error())
	}
	if int64(len(body)) > limit {
		return eventsTooLarge(limit)
	}
	body = bytes.TrimSpace(body)
	var batch bool
	switch mt {
	case MIMECloudEvent:
	case MIMECloudEventBatch:
		batch = true
	case "application/json", "":
		batch = len(body) > 0 && body[0] == '['
	default:
		return echo.NewHTTPError(http.StatusUnsupportedMediaType,
			fmt.Sprintf("content type %q: send %s (one event) or %s (an array)", mt, MIMECloudEvent, MIMECloudEventBatch))
	}
	events, err := splitEvents(body, batch)
	if err != nil {
		return err
	}
	outs, err := h.in.IngestHTTP(req.Context(), events)
	if err != nil {
		return ingestError(c, err)
	}
	results := make([]EventResult, len(outs))
	for i, o := range outs {
		results[i] = EventResult{ID: gjson.GetBytes(events[i], "id").String(), Outcome: o.Result, Reason: o.Reason,
			InstanceKey: o.InstanceKey, ProcessID: o.ProcessID}
		if d := o.Decision; d != nil {
			results[i].Decision = &EventDecision{Action: d.Action, Severity: d.Severity, Note: d.Note, RuleID: d.RuleID}
		}
	}
	if !batch {
		return c.JSON(http.StatusOK, results[0])
	}
	return c.JSON(http.StatusOK, results)
}

// splitEvents checks the body's JSON shape and returns the raw events.
func splitEvents(body []byte, batch bool) ([][]byte, error) {
	if len(body) == 0 {
		return nil, &ProblemError{Status: http.StatusBadRequest, Message: "the request body is empty; send a CloudEvent"}
	}
	if !json.Valid(body) {
		var v any
		msg := "not valid JSON"
		if err := json.Unmarshal(body, &v); err != nil {
			msg = err.Error()
		}
		return nil, &ProblemError{Status: http.StatusBadRequest, Message: "the request body is not valid JSON",
			Problems: []Problem{{Element: "body", Message: msg}}}
	}
	if !batch {
		if body[0] != '{' {
			return nil, &ProblemError{Status: http.StatusBadRequest, Message: "a single CloudEvent must be a JSON object",
				Problems: []Problem{{Element: "body", Message: "expected a JSON object; send arrays as " + MIMECloudEventBatch}}}
		}
		return [][]byte{body}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, &ProblemError{Status: http.StatusBadRequest, Message: "a batch must be a JSON array of CloudEvents",
			Problems: []Problem{{Element: "body", Message: err.Error()}}}
	}
	if len(raws) == 0 {
		return nil, &ProblemError{Status: http.StatusBadRequest, Message: "the batch is empty"}
	}
	events := make([][]byte, len(raws))
	var problems []Problem
	for i, r := range raws {
		r = bytes.TrimSpace(r)
		if len(r) == 0 || r[0] != '{' {
			problems = append(problems, Problem{Element: "events[" + strconv.Itoa(i) + "]", Message: "expected a JSON object"})
		}
		events[i] = r
	}
	if problems != nil {
		return nil, &ProblemError{Status: http.StatusBadRequest, Message: fmt.Sprintf("%d event(s) of the batch are not JSON objects", len(problems)), Problems: problems}
	}
	return events, nil
}

func ingestError(c echo.Context, err error) error {
	var inv *correlate.InvalidEventsError
	var big *correlate.TooLargeError
	switch {
	case errors.As(err, &inv):
		ps := make([]Problem, len(inv.Problems))
		for i, p := range inv.Problems {
			ps[i] = Problem{Element: p.Element, Message: p.Message}
		}
		return &ProblemError{Status: http.StatusBadRequest, Message: fmt.Sprintf("%d event(s) are not valid CloudEvents; nothing was applied", len(ps)), Problems: ps}
	case errors.As(err, &big):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, big.Error())
	case errors.Is(err, correlate.ErrSaturated):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(correlate.RetryAfter.Seconds())))
		return echo.NewHTTPError(http.StatusTooManyRequests, "the ingestion pipeline is saturated; retry later")
	case errors.Is(err, correlate.ErrStopped):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "event ingestion is not running")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the request ended before the events were applied")
	}
	return fmt.Errorf("ingest events: %w", err)
}

func eventsTooLarge(limit int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", limit))
}
