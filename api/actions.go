package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/history"
)

// ActionLister is what GET /actions needs from the read model; every
// history.Backend (and so history.Service.Backend()) satisfies it.
type ActionLister interface {
	Actions(ctx context.Context, q history.ActionQuery) (history.Page[history.Action], error)
}

// maxActionScan bounds how many read-model pages one GET /actions reads to
// fill a page when it filters by type or target.
const maxActionScan = 10

// ActionRoutes registers the action listing (DESIGN.md §9) on g, which the
// server mounts at /api/v1:
//
//	GET /actions    instanceKey, type, state (pending|delivered|failed), target, limit, cursor
//
// The answer is {items: [...], next?}, newest first (by raisedAt); every item
// has its delivery state, attempts and last error. Pass next as cursor for
// the following page. With type or target, a page may hold fewer than limit
// items and still have a next cursor.
func ActionRoutes(g *echo.Group, src ActionLister) {
	h := &actionHandlers{src: src}
	g.GET("/actions", h.list)
}

type actionHandlers struct{ src ActionLister }

// ActionPage is the body of GET /actions.
type ActionPage struct {
	Items []history.Action `json:"items"`
	Next  string           `json:"next,omitempty"`
}

func (h *actionHandlers) list(c echo.Context) error {
	p := newHistParams(c)
	q := history.ActionQuery{
		InstanceKey: p.int64("instanceKey"),
		State:       p.oneOf("state", "pending", "delivered", "failed"),
		Limit:       p.limit(),
		Cursor:      p.str("cursor"),
	}
	typ, target := p.str("type"), p.str("target")
	if err := p.err(); err != nil {
		return err
	}
	limit := history.ClampLimit(q.Limit)
	out := ActionPage{Items: []history.Action{}}
	// The read model filters by instance and state; type and target are
	// filtered here, reading on until the page is full.
	for range maxActionScan {
		q.Limit = limit - len(out.Items)
		page, err := h.src.Actions(c.Request().Context(), q)
		if err != nil {
			return historyQueryError(err, "list actions")
		}
		for _, a := range page.Items {
			if (typ == "" || a.Type == typ) && (target == "" || a.Target == target) {
				out.Items = append(out.Items, a)
			}
		}
		out.Next = page.Next
		if page.Next == "" || len(out.Items) >= limit {
			break
		}
		q.Cursor = page.Next
	}
	return c.JSON(http.StatusOK, out)
}
