package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
)

// InstanceReader is what the instance endpoints need from the read model;
// *history.Service satisfies it.
type InstanceReader interface {
	Instances(ctx context.Context, q history.InstanceQuery, stuckOnly bool) (history.Page[history.Instance], error)
	Instance(ctx context.Context, key int64) (history.Detail, bool, error)
}

// LiveInstances gives the engine's current view of an instance (open
// subscriptions, pending timers); *engine.Engine satisfies it. May be nil.
type LiveInstances interface {
	Instance(key int64) (engine.InstanceView, bool, error)
}

// InstanceRoutes registers the instance endpoints (DESIGN.md §9) on g, which
// the server mounts at /api/v1:
//
//	GET /instances        processId, version, state, element, correlationKey, stuck=true,
//	                      startedAfter, startedBefore (RFC 3339), q, sort, limit, cursor
//	                      → {items: [...], next?}
//	GET /instances/:key   the instance with path, events, variables, subscriptions,
//	                      timers, actions, incidents, deviations
//
// Bad parameters answer 400 with one problem per parameter (its name in
// "name"); an unknown instance 404. An instance the engine knows but history
// has not indexed yet is served from the engine's view (with "indexed": false).
func InstanceRoutes(g *echo.Group, r InstanceReader, live LiveInstances) {
	h := &instanceHandlers{r: r, live: live}
	g.GET("/instances", h.list)
	g.GET("/instances/:key", h.get)
}

type instanceHandlers struct {
	r    InstanceReader
	live LiveInstances
}

// InstanceItem is one entry of GET /instances.
type InstanceItem struct {
	Key            int64                   `json:"key"`
	ProcessID      string                  `json:"processId"`
	Version        int                     `json:"version"`
	CorrelationKey string                  `json:"correlationKey"`
	State          string                  `json:"state"`
	StartedAt      time.Time               `json:"startedAt"`
	EndedAt        *time.Time              `json:"endedAt,omitempty"`
	EndElement     string                  `json:"endElement,omitempty"`
	ActiveElements []history.ActiveElement `json:"activeElements"`
	Deviations     int                     `json:"deviations"`
	Incidents      int                     `json:"incidents"`
	SLAState       string                  `json:"slaState,omitempty"`
}

func instanceItem(in history.Instance) InstanceItem {
	it := InstanceItem{
		Key: in.Key, ProcessID: in.ProcessID, Version: in.Version, CorrelationKey: in.CorrelationKey, State: in.State,
		StartedAt: in.StartedAt, EndElement: in.EndElement, ActiveElements: in.ActiveElements,
		Deviations: in.Deviations, Incidents: in.Incidents, SLAState: in.SLAState,
	}
	if !in.EndedAt.IsZero() {
		t := in.EndedAt
		it.EndedAt = &t
	}
	if it.ActiveElements == nil {
		it.ActiveElements = []history.ActiveElement{}
	}
	return it
}

// InstancePage is the body of GET /instances.
type InstancePage struct {
	Items []InstanceItem `json:"items"`
	Next  string         `json:"next,omitempty"`
}

func (h *instanceHandlers) list(c echo.Context) error {
	p := newHistParams(c)
	q := history.InstanceQuery{
		ProcessID:      p.str("processId"),
		Version:        p.int("version"),
		State:          p.oneOf("state", history.StateActive, history.StateCompleted, history.StateCancelled),
		Element:        p.str("element"),
		CorrelationKey: p.str("correlationKey"),
		StartedAfter:   p.time("startedAfter"),
		StartedBefore:  p.time("startedBefore"),
		Q:              p.str("q"),
		Sort:           p.oneOf("sort", history.SortStartedDesc, history.SortStartedAsc, history.SortKeyDesc, history.SortKeyAsc),
		Limit:          p.limit(),
		Cursor:         p.str("cursor"),
	}
	stuck := p.bool("stuck")
	if err := p.err(); err != nil {
		return err
	}
	page, err := h.r.Instances(c.Request().Context(), q, stuck)
	if err != nil {
		return historyQueryError(err, "list instances")
	}
	out := InstancePage{Items: make([]InstanceItem, 0, len(page.Items)), Next: page.Next}
	for _, in := range page.Items {
		out.Items = append(out.Items, instanceItem(in))
	}
	return c.JSON(http.StatusOK, out)
}

// InstanceDetail is the body of GET /instances/:key.
type InstanceDetail struct {
	InstanceItem
	Variables     json.RawMessage           `json:"variables"`
	Path          []history.ElementInstance `json:"path"`
	Events        []history.Event           `json:"events"`
	Subscriptions []InstanceSubscription    `json:"subscriptions"`
	Timers        []InstanceTimer           `json:"timers"`
	Actions       []history.Action          `json:"actions"`
	Incidents     []history.Incident        `json:"incidents"`
	Deviations    []history.ElementInstance `json:"deviations"`
	Thresholds    []history.Threshold       `json:"thresholds,omitempty"`
	// Indexed is false when history has not caught up with the instance yet
	// and the body comes from the engine alone.
	Indexed   bool `json:"indexed"`
	Truncated bool `json:"truncated,omitempty"`
}

// InstanceSubscription is an open message subscription of an instance.
type InstanceSubscription struct {
	ElementID      string `json:"elementId"`
	MessageName    string `json:"messageName"`
	CorrelationKey string `json:"correlationKey"`
}

// InstanceTimer is a pending timer of an instance.
type InstanceTimer struct {
	ElementID string    `json:"elementId"`
	Due       time.Time `json:"due"`
}

func (h *instanceHandlers) get(c echo.Context) error {
	raw := c.Param("key")
	key, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || key <= 0 {
		return &ProblemError{Status: http.StatusBadRequest, Message: fmt.Sprintf("instance key %q is not a positive integer", raw),
			Problems: []Problem{{Name: "key", Message: "must be a positive integer"}}}
	}
	ctx := c.Request().Context()
	d, found, err := h.r.Instance(ctx, key)
	if err != nil {
		return fmt.Errorf("read instance %d: %w", key, err)
	}
	var view engine.InstanceView
	var live bool
	if h.live != nil {
		if view, live, err = h.live.Instance(key); err != nil && !errors.Is(err, engine.ErrClosed) {
			return fmt.Errorf("read live instance %d: %w", key, err)
		}
	}
	if !found && !live {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("instance %d not found", key))
	}
	if !found {
		d = detailFromView(view)
	}
	out := InstanceDetail{
		InstanceItem: instanceItem(d.Instance), Variables: d.Variables, Path: d.Path, Events: d.Events,
		Actions: d.Actions, Incidents: d.Incidents, Deviations: d.Deviations, Thresholds: d.Thresholds,
		Subscriptions: []InstanceSubscription{}, Timers: []InstanceTimer{}, Indexed: found, Truncated: d.Truncated,
	}
	if live {
		for _, s := range view.Subscriptions {
			out.Subscriptions = append(out.Subscriptions, InstanceSubscription{ElementID: s.ElementID, MessageName: s.MessageName, CorrelationKey: s.CorrelationKey})
		}
		for _, t := range view.Timers {
			out.Timers = append(out.Timers, InstanceTimer{ElementID: t.ElementID, Due: t.Due})
		}
	}
	if len(out.Variables) == 0 {
		out.Variables = json.RawMessage(`{}`)
	}
	for _, s := range []*[]history.ElementInstance{&out.Path, &out.Deviations} {
		if *s == nil {
			*s = []history.ElementInstance{}
		}
	}
	if out.Events == nil {
		out.Events = []history.Event{}
	}
	if out.Actions == nil {
		out.Actions = []history.Action{}
	}
	if out.Incidents == nil {
		out.Incidents = []history.Incident{}
	}
	return c.JSON(http.StatusOK, out)
}

// detailFromView answers from the engine alone while history lags.
func detailFromView(v engine.InstanceView) history.Detail {
	d := history.Detail{Instance: history.Instance{
		Key: v.Key, ProcessID: v.ProcessID, Version: v.Version, CorrelationKey: v.CorrelationKey, State: string(v.State),
		StartedAt: v.StartedAt, EndedAt: v.EndedAt, EndElement: v.EndElement, Variables: v.Variables,
		ActiveElements: []history.ActiveElement{},
	}}
	for _, e := range v.Elements {
		el := history.ElementInstance{
			Key: e.Key, InstanceKey: v.Key, ProcessID: v.ProcessID, Version: v.Version, ElementID: e.ElementID,
			Kind: string(e.Kind), ScopeKey: e.ScopeKey, State: string(e.State), StartedAt: e.StartedAt, EndedAt: e.EndedAt,
		}
		if !e.EndedAt.IsZero() {
			el.DurationMs = e.EndedAt.Sub(e.StartedAt).Milliseconds()
		}
		switch e.State {
		case engine.ElementActive:
			d.ActiveElements = append(d.ActiveElements, history.ActiveElement{ElementID: e.ElementID, ElementKey: e.Key, Since: e.StartedAt})
		case engine.ElementSkipped:
			el.Deviation = true
			d.Deviations = append(d.Deviations, el)
			d.Instance.Deviations++
		}
		d.Path = append(d.Path, el)
	}
	return d
}

// historyQueryError maps read-model errors: bad cursors and queries are the
// caller's (400), anything else is ours.
func historyQueryError(err error, what string) error {
	if errors.Is(err, history.ErrInvalidCursor) || errors.Is(err, history.ErrInvalidQuery) {
		name := "q"
		if errors.Is(err, history.ErrInvalidCursor) {
			name = "cursor"
		}
		return &ProblemError{Status: http.StatusBadRequest, Message: err.Error(), Problems: []Problem{{Name: name, Message: err.Error()}}}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// histParams parses query parameters and collects every problem.
type histParams struct {
	c        echo.Context
	problems []Problem
}

func newHistParams(c echo.Context) *histParams { return &histParams{c: c} }

func (p *histParams) bad(name, format string, args ...any) {
	p.problems = append(p.problems, Problem{Name: name, Message: fmt.Sprintf(format, args...)})
}

func (p *histParams) str(name string) string { return p.c.QueryParam(name) }

func (p *histParams) int(name string) int {
	s := p.c.QueryParam(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		p.bad(name, "%s=%q is not a non-negative integer", name, s)
	}
	return n
}

func (p *histParams) int64(name string) int64 {
	s := p.c.QueryParam(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		p.bad(name, "%s=%q is not a non-negative integer", name, s)
	}
	return n
}

func (p *histParams) limit() int {
	s := p.c.QueryParam("limit")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > history.MaxLimit {
		p.bad("limit", "limit=%q must be an integer from 1 to %d", s, history.MaxLimit)
	}
	return n
}

func (p *histParams) bool(name string) bool {
	switch s := p.c.QueryParam(name); s {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	default:
		p.bad(name, "%s=%q must be true or false", name, s)
		return false
	}
}

func (p *histParams) oneOf(name string, allowed ...string) string {
	s := p.c.QueryParam(name)
	if s == "" {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.bad(name, "%s=%q is not one of %q", name, s, allowed)
	return ""
}

func (p *histParams) time(name string) time.Time {
	s := p.c.QueryParam(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.bad(name, "%s=%q is not an RFC 3339 time (e.g. 2026-11-01T09:00:00Z)", name, s)
	}
	return t
}

func (p *histParams) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	msg := p.problems[0].Message
	if len(p.problems) > 1 {
		msg = fmt.Sprintf("%d invalid query parameters", len(p.problems))
	}
	return &ProblemError{Status: http.StatusBadRequest, Message: msg, Problems: p.problems}
}
