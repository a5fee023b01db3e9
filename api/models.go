package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/models"
)

// ModelRoutes registers the model endpoints (DESIGN.md §9) on g, which the
// server mounts at /api/v1:
//
//	POST /models                      deploy BPMN XML (raw body, or multipart with one file); write middleware applies
//	GET  /models                      latest version of every process
//	GET  /models/:processId           one version (?version=, default latest) with its elements
//	GET  /models/:processId/xml       the deployed file as-is (?version=)
//
// POST answers 201 with {processId, version, key} for a new version, 200 for
// byte-identical XML (the existing version), and 400 with itemised problems
// for an invalid model. A file with several processes adds a deployments
// array. Bodies over the repository's limit ([models.RepositoryOptions]
// MaxBytes, default 4 MiB) get 413.
func ModelRoutes(g *echo.Group, repo *models.Repository, write echo.MiddlewareFunc) {
	h := &modelHandlers{repo: repo, maxBytes: repo.MaxBytes()}
	g.POST("/models", h.deploy, write)
	g.GET("/models", h.list)
	g.GET("/models/:processId", h.get)
	g.GET("/models/:processId/xml", h.xml)
}

type modelHandlers struct {
	repo     *models.Repository
	maxBytes int64
}

// deployResponse is the body of a successful POST /models.
type deployResponse struct {
	ProcessID   string              `json:"processId"`
	Name        string              `json:"name,omitempty"`
	Version     int                 `json:"version"`
	Key         int64               `json:"key"`
	Created     bool                `json:"created"`
	Deployments []models.Deployment `json:"deployments,omitempty"`
	Warnings    []Problem           `json:"warnings,omitempty"`
}

func (h *modelHandlers) deploy(c echo.Context) error {
	file, body, err := h.readModel(c)
	if err != nil {
		return err
	}
	ds, created, problems, err := h.repo.DeployAll(c.Request().Context(), file, body)
	if errors.Is(err, models.ErrInvalid) {
		var errs []Problem
		for _, p := range problems {
			if !p.Warning {
				errs = append(errs, apiProblem(p))
			}
		}
		return &ProblemError{Status: http.StatusBadRequest, Problems: errs,
			Message: fmt.Sprintf("the model %s is invalid: %d problem(s)", file, len(errs))}
	}
	if err != nil {
		return fmt.Errorf("deploy model: %w", err)
	}
	resp := deployResponse{ProcessID: ds[0].ProcessID, Name: ds[0].Name, Version: ds[0].Version, Key: ds[0].Key, Created: created}
	if len(ds) > 1 {
		resp.Deployments = ds
	}
	for _, p := range problems {
		resp.Warnings = append(resp.Warnings, apiProblem(p))
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, resp)
}

// readModel reads the BPMN file from the raw body or from the first file of
// a multipart form, at most maxBytes. The file name comes from the
// multipart part, else ?file=, else "model.bpmn".
func (h *modelHandlers) readModel(c echo.Context) (string, []byte, error) {
	req := c.Request()
	if req.ContentLength > h.maxBytes {
		return "", nil, tooLarge(h.maxBytes)
	}
	name := c.QueryParam("file")
	var r io.Reader = req.Body
	if mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); err == nil && mt == echo.MIMEMultipartForm {
		mr, err := newMultipartReader(req.Body, params["boundary"])
		if err != nil {
			return "", nil, echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		part, err := firstFilePart(mr)
		if err != nil {
			return "", nil, echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		defer part.Close()
		if fn := part.FileName(); fn != "" {
			name = fn
		}
		r = part
	}
	body, err := io.ReadAll(io.LimitReader(r, h.maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, tooLarge(h.maxBytes)
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return "", nil, he // the server's own body limit
		}
		return "", nil, echo.NewHTTPError(http.StatusBadRequest, "cannot read the request body: "+err.Error())
	}
	if int64(len(body)) > h.maxBytes {
		return "", nil, tooLarge(h.maxBytes)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return "", nil, echo.NewHTTPError(http.StatusBadRequest, "the request body is empty; send the BPMN XML")
	}
	if name == "" {
		name = "model.bpmn"
	}
	return name, body, nil
}

func tooLarge(limit int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the model is larger than %d bytes", limit))
}

func apiProblem(p models.Problem) Problem {
	el := p.Element
	if el == "-" {
		el = ""
	}
	msg := p.Message
	if p.Warning {
		msg = "warning: " + msg
	}
	return Problem{Element: el, Name: p.Name, Line: p.Line, Message: msg}
}

// modelSummary is one process in GET /models.
type modelSummary struct {
	models.Deployment
	Versions int `json:"versions"`
}

func (h *modelHandlers) list(c echo.Context) error {
	all := h.repo.List() // sorted by id, version
	items := []modelSummary{}
	for _, d := range all {
		if n := len(items); n > 0 && items[n-1].ProcessID == d.ProcessID {
			items[n-1] = modelSummary{Deployment: d, Versions: items[n-1].Versions + 1}
			continue
		}
		items = append(items, modelSummary{Deployment: d, Versions: 1})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

// modelDetail is the body of GET /models/:processId.
type modelDetail struct {
	models.Deployment
	Versions    []int          `json:"versions"`
	HasDiagram  bool           `json:"hasDiagram"`
	SLA         string         `json:"sla,omitempty"`
	StuckAfter  string         `json:"stuckAfter,omitempty"`
	Conformance string         `json:"conformance"`
	Messages    []modelMessage `json:"messages"`
	Elements    []modelElement `json:"elements"`
}

type modelMessage struct {
	Name           string `json:"name"`
	CorrelationKey string `json:"correlationKey,omitempty"`
}

type modelElement struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	Kind         string `json:"kind"`
	Event        string `json:"event,omitempty"`
	Parent       string `json:"parent,omitempty"`
	AttachedTo   string `json:"attachedTo,omitempty"`
	Interrupting *bool  `json:"interrupting,omitempty"`
	Message      string `json:"message,omitempty"`
	Timer        string `json:"timer,omitempty"`
	TaskType     string `json:"taskType,omitempty"`
	Action       bool   `json:"action,omitempty"`
	SLA          string `json:"sla,omitempty"`
	StuckAfter   string `json:"stuckAfter,omitempty"`
}

func (h *modelHandlers) lookup(c echo.Context) (*models.Process, error) {
	id := c.Param("processId")
	v := c.QueryParam("version")
	if v == "" || v == "latest" {
		p, ok := h.repo.Latest(id)
		if !ok {
			return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no process %q is deployed", id))
		}
		return p, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("version %q is not a positive number", v))
	}
	p, ok := h.repo.Get(id, n)
	if !ok {
		return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("process %q has no version %d", id, n))
	}
	return p, nil
}

func (h *modelHandlers) get(c echo.Context) error {
	p, err := h.lookup(c)
	if err != nil {
		return err
	}
	d := modelDetail{
		Deployment: models.Deployment{ProcessID: p.ID, Name: p.Name, Version: p.Version, Key: p.Key,
			Hash: p.Hash, File: p.File, DeployedAt: p.DeployedAt.UTC().Truncate(time.Millisecond)},
		HasDiagram: p.HasDiagram, Conformance: string(p.Conformance),
		SLA: p.Properties["tracker.sla"], StuckAfter: p.Properties["tracker.stuckAfter"],
		Messages: []modelMessage{}, Elements: []modelElement{},
	}
	for _, v := range h.repo.Versions(p.ID) {
		d.Versions = append(d.Versions, v.Version)
	}
	for _, name := range p.MessageNames() {
		d.Messages = append(d.Messages, modelMessage{Name: name, CorrelationKey: p.Messages[name].CorrelationKey.String()})
	}
	for _, s := range p.Scopes() {
		for _, e := range s.Elements {
			d.Elements = append(d.Elements, elementJSON(e))
		}
	}
	return c.JSON(http.StatusOK, d)
}

func elementJSON(e *models.Element) modelElement {
	m := modelElement{ID: e.ID, Name: e.Name, Kind: string(e.Kind), Event: string(e.Event), TaskType: e.TaskType,
		Action: e.Action, SLA: e.Properties["tracker.sla"], StuckAfter: e.Properties["tracker.stuckAfter"]}
	if e.Parent != nil {
		m.Parent = e.Parent.ID
	}
	if e.AttachedTo != nil {
		m.AttachedTo = e.AttachedTo.ID
	}
	if e.Kind == models.BoundaryEvent || e.IsEventSubProcess() {
		v := e.Interrupting
		m.Interrupting = &v
	}
	if e.Message != nil {
		m.Message = e.Message.Name
	}
	if e.Timer != nil {
		m.Timer = strings.TrimSpace(e.Timer.Text)
	}
	return m
}

func (h *modelHandlers) xml(c echo.Context) error {
	p, err := h.lookup(c)
	if err != nil {
		return err
	}
	data, ok := h.repo.XML(p.ID, p.Version)
	if !ok {
		return fmt.Errorf("model %s version %d: stored XML missing", p.ID, p.Version)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationXMLCharsetUTF8, data)
}

func newMultipartReader(body io.Reader, boundary string) (*multipart.Reader, error) {
	if boundary == "" {
		return nil, errors.New("the multipart body has no boundary")
	}
	return multipart.NewReader(body, boundary), nil
}

// firstFilePart returns the first part of the form that is a file.
func firstFilePart(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the multipart form has no file; attach the BPMN file")
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the multipart form: %v", err)
		}
		if part.FileName() != "" {
			return part, nil
		}
		part.Close()
	}
}
