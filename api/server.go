package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Role is what a caller may do. Each role includes the ones before it.
type Role int

// Roles, from least to most allowed.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

// ParseRole reads viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q: use viewer, operator or admin", s)
}

func (r Role) String() string {
	return [...]string{"none", "viewer", "operator", "admin"}[r]
}

// Token is one accepted bearer token.
type Token struct {
	Name  string
	Value string
	Role  Role
}

// ReadyFunc reports readiness with details for /readyz.
type ReadyFunc func() (ready bool, detail map[string]any)

// Options configure [New].
type Options struct {
	Listen   string // host:port; port 0 picks a free one
	Tokens   []Token
	Gatherer prometheus.Gatherer // for /metrics; nil = no metrics endpoint
	Ready    ReadyFunc           // nil = always ready
	Logger   *slog.Logger
	// MaxBodyBytes caps request bodies that no route caps itself (default 1 MiB).
	MaxBodyBytes int64
}

// Server is the HTTP server.
type Server struct {
	opts Options
	e    *echo.Echo
	api  *echo.Group
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	done chan error
}

const roleKey = "tracker.role"

// New builds the server and its routes; Start begins listening.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Ready == nil {
		opts.Ready = func() (bool, map[string]any) { return true, nil }
	}
	for _, t := range opts.Tokens {
		if t.Value == "" {
			return nil, fmt.Errorf("api token %q is empty", t.Name)
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler
	s := &Server{opts: opts, e: e, log: opts.Logger.With("component", "api")}
	e.Use(middleware.Recover())
	e.Use(s.authenticate)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		ready, detail := s.opts.Ready()
		body := map[string]any{"ready": ready}
		for k, v := range detail {
			body[k] = v
		}
		if !ready {
			return c.JSON(http.StatusServiceUnavailable, body)
		}
		return c.JSON(http.StatusOK, body)
	})
	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	s.api = e.Group("/api/v1", s.RequireRole(RoleViewer), middleware.BodyLimit(fmt.Sprint(opts.MaxBodyBytes)+"B"))
	return s, nil
}

// Echo returns the router, for components that serve pages (the UI).
func (s *Server) Echo() *echo.Echo { return s.e }

// API returns the /api/v1 group; every route in it needs at least a viewer.
func (s *Server) API() *echo.Group { return s.api }

// authenticate works out the caller's role: loopback callers without a token
// are admins (a local tool or browser); everyone else needs a bearer token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		role := RoleNone
		if isLoopback(c.Request().RemoteAddr) {
			role = RoleAdmin
		}
		if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return echo.NewHTTPError(http.StatusUnauthorized, "Authorization header must be: Bearer <token>")
			}
			role = RoleNone
			for _, t := range s.opts.Tokens {
				if subtle.ConstantTimeCompare([]byte(tok), []byte(t.Value)) == 1 {
					role = t.Role
					c.Set("tracker.token", t.Name)
					break
				}
			}
			if role == RoleNone {
				return echo.NewHTTPError(http.StatusUnauthorized, "unknown token")
			}
		}
		c.Set(roleKey, role)
		return next(c)
	}
}

// RequireRole is middleware that lets through callers with at least role.
func (s *Server) RequireRole(role Role) echo.MiddlewareFunc {
	return RequireRole(role)
}

// RequireRole is middleware that lets through callers with at least role. It
// relies on the server's authentication having run first.
func RequireRole(role Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			have, _ := c.Get(roleKey).(Role)
			if have == RoleNone {
				return echo.NewHTTPError(http.StatusUnauthorized, "a bearer token is required outside loopback")
			}
			if have < role {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("role %s required, token has %s", role, have))
			}
			return next(c)
		}
	}
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Problem is one itemised problem in an error response.
type Problem struct {
	Element string `json:"element,omitempty"`
	Name    string `json:"name,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
}

// ProblemError is an error that carries itemised problems (400 by default).
type ProblemError struct {
	Status   int
	Message  string
	Problems []Problem
}

func (e *ProblemError) Error() string { return e.Message }

func errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, ErrorBody{Error: "internal error"}
	var pe *ProblemError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		status, body = pe.Status, ErrorBody{Error: pe.Message, Problems: pe.Problems}
		if status == 0 {
			status = http.StatusBadRequest
		}
	case errors.As(err, &he):
		status = he.Code
		body.Error = fmt.Sprint(he.Message)
		if status == http.StatusRequestEntityTooLarge {
			body.Error = "request body too large"
		}
	default:
		c.Logger().Error(err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

// Start listens and serves in the background. Addr is valid afterwards.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("http listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.opts.Listen
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests and waits (bounded by ctx) for the ones in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}
