package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/decisiontable"
)

// DecisionTables holds the decision table for uncorrelated events and can
// swap it while running (the lead's tableDecider in cmd/tracker).
type DecisionTables interface {
	// Current returns the table in force, nil when none is configured.
	Current() *decisiontable.Table
	// Replace parses data (file name name, for the format and in problems)
	// and puts it in force. A table with problems is refused: the problems
	// come back and the old table stays. The error is for anything else
	// (e.g. the table could not be saved).
	Replace(name string, data []byte) ([]decisiontable.Problem, error)
}

// DecisionRoutes registers the decision table endpoints (DESIGN.md §5) on g,
// which the server mounts at /api/v1:
//
//	GET  /decisions   the table in force: {id, name, file, hitPolicy, rules: [{id}]}; 404 when none
//	POST /decisions   a new table, DMN XML or the YAML form (raw body); write middleware applies
//
// POST picks the format from ?file= (.dmn, .yaml, .yml), else the content
// type (application/xml, text/xml → DMN; application/yaml, text/yaml,
// application/x-yaml → YAML), else the body (starting with "<" → DMN). It
// checks the table with [decisiontable.Check] first: a table with problems
// gets 400 with every problem (file, line, element) and the old table stays
// in force. A good table answers 200 with the new table's description.
func DecisionRoutes(g *echo.Group, tables DecisionTables, write echo.MiddlewareFunc) {
	h := &decisionHandlers{tables: tables}
	g.GET("/decisions", h.get)
	g.POST("/decisions", h.post, write)
}

type decisionHandlers struct{ tables DecisionTables }

// TableInfo describes a decision table.
type TableInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	File      string     `json:"file"`
	HitPolicy string     `json:"hitPolicy"`
	Rules     []RuleInfo `json:"rules"`
}

// RuleInfo is one rule of a [TableInfo].
type RuleInfo struct {
	ID string `json:"id"`
}

func tableInfo(t *decisiontable.Table) TableInfo {
	info := TableInfo{ID: t.ID(), Name: t.Name(), File: t.File(), HitPolicy: t.HitPolicy(), Rules: []RuleInfo{}}
	for _, id := range t.RuleIDs() {
		info.Rules = append(info.Rules, RuleInfo{ID: id})
	}
	return info
}

func (h *decisionHandlers) get(c echo.Context) error {
	t := h.tables.Current()
	if t == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no decision table is configured: every uncorrelated event becomes an incident")
	}
	return c.JSON(http.StatusOK, tableInfo(t))
}

func (h *decisionHandlers) post(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > decisiontable.MaxSize {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a decision table is at most %d MiB", decisiontable.MaxSize>>20))
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, decisiontable.MaxSize+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return fmt.Errorf("read decision table: %w", err)
	}
	if len(data) > decisiontable.MaxSize {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a decision table is at most %d MiB", decisiontable.MaxSize>>20))
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return &ProblemError{Status: http.StatusBadRequest, Message: "the request body is empty: send the DMN XML or the YAML form of the table"}
	}
	name, err := tableName(c.QueryParam("file"), req.Header.Get(echo.HeaderContentType), data)
	if err != nil {
		return &ProblemError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	if ps := decisiontable.Check(name, data); len(ps) > 0 {
		return tableProblems(name, ps)
	}
	ps, err := h.tables.Replace(name, data)
	if len(ps) > 0 {
		return tableProblems(name, ps)
	}
	if err != nil {
		return fmt.Errorf("replace decision table with %s: %w", name, err)
	}
	t := h.tables.Current()
	if t == nil {
		return fmt.Errorf("replace decision table with %s: no table in force afterwards", name)
	}
	c.Logger().Infof("decision table replaced by %s (%s, %d rules)", name, t.ID(), len(t.RuleIDs()))
	return c.JSON(http.StatusOK, tableInfo(t))
}

func tableProblems(name string, ps []decisiontable.Problem) error {
	out := make([]Problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, Problem{Element: p.Element, Name: p.File, Line: p.Line, Message: p.Message})
	}
	return &ProblemError{Status: http.StatusBadRequest, Problems: out,
		Message: fmt.Sprintf("the decision table %s is invalid: %d problem(s); the table in force is unchanged", name, len(out))}
}

// tableName picks the file name that tells decisiontable the format.
func tableName(file, contentType string, data []byte) (string, error) {
	if file != "" {
		file = filepath.Base(file)
		switch strings.ToLower(filepath.Ext(file)) {
		case ".dmn", ".yaml", ".yml":
			return file, nil
		}
		return "", fmt.Errorf("file %q: use a .dmn (DMN XML), .yaml or .yml name", file)
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		switch mt {
		case "application/xml", "text/xml", "application/dmn+xml":
			return "decisions.dmn", nil
		case "application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml":
			return "decisions.yaml", nil
		}
	}
	if strings.HasPrefix(strings.TrimSpace(string(data[:min(len(data), 512)])), "<") {
		return "decisions.dmn", nil
	}
	return "decisions.yaml", nil
}
