package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/labstack/echo/v4"

	"github.com/tracker-dev/tracker/api"
)

// newServer mounts the UI from dir next to one API route, the way the
// tracker's server does, and serves it over real HTTP.
func newServer(t *testing.T, fsys func() (http.Handler, error)) *httptest.Server {
	t.Helper()
	h, err := fsys()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func echoWith(mount func(e *echo.Echo)) func() (http.Handler, error) {
	return func() (http.Handler, error) {
		e := echo.New()
		e.GET("/api/v1/models", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]any{"items": []any{}}) })
		e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
		mount(e)
		return e, nil
	}
}

func TestRoutesServeBuiltFiles(t *testing.T) {
	index, err := os.ReadFile("testdata/dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile("testdata/dist/assets/app-TEST1234.js")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, echoWith(func(e *echo.Echo) { RoutesFS(e, os.DirFS("testdata/dist")) }))

	tests := []struct {
		name, method, path string
		status             int
		contentType        string // prefix
		cache              string
		body               string // exact body when set
	}{
		{name: "root is the shell", method: "GET", path: "/", status: 200, contentType: "text/html", cache: "no-cache", body: string(index)},
		{name: "HEAD root", method: "HEAD", path: "/", status: 200, contentType: "text/html", cache: "no-cache"},
		{name: "client route process dashboard", method: "GET", path: "/processes/order-fulfillment", status: 200, contentType: "text/html", cache: "no-cache", body: string(index)},
		{name: "client route instance", method: "GET", path: "/instances/4711", status: 200, contentType: "text/html", body: string(index)},
		{name: "client route with query", method: "GET", path: "/instances?stuck=true", status: 200, contentType: "text/html", body: string(index)},
		{name: "hashed script", method: "GET", path: "/ui/assets/app-TEST1234.js", status: 200, contentType: "text/javascript", cache: "public, max-age=31536000, immutable", body: string(js)},
		{name: "hashed stylesheet", method: "GET", path: "/ui/assets/app-TEST1234.css", status: 200, contentType: "text/css", cache: "public, max-age=31536000, immutable"},
		{name: "hashed font", method: "GET", path: "/ui/assets/font-TEST1234.woff2", status: 200, contentType: "font/woff2", cache: "public, max-age=31536000, immutable"},
		{name: "unhashed file revalidates", method: "GET", path: "/ui/favicon.svg", status: 200, contentType: "image/svg+xml", cache: "no-cache"},
		{name: "ui index alias", method: "GET", path: "/ui/", status: 200, contentType: "text/html", body: string(index)},
		{name: "missing asset", method: "GET", path: "/ui/assets/app-GONE.js", status: 404},
		{name: "asset directory", method: "GET", path: "/ui/assets", status: 404},
		{name: "traversal stays inside dist", method: "GET", path: "/ui/..%2f..%2fui.go", status: 404},
		{name: "missing file at root", method: "GET", path: "/favicon.ico", status: 404},
		{name: "API route wins", method: "GET", path: "/api/v1/models", status: 200, contentType: "application/json", body: "{\"items\":[]}\n"},
		{name: "unknown API path is not the shell", method: "GET", path: "/api/v1/nope", status: 404},
		{name: "api prefix without version", method: "GET", path: "/api/", status: 404},
		{name: "metrics not registered", method: "GET", path: "/metrics", status: 404},
		{name: "readyz not registered", method: "GET", path: "/readyz", status: 404},
		{name: "healthz route wins", method: "GET", path: "/healthz", status: 200, body: "ok"},
		{name: "POST to a page", method: "POST", path: "/instances", status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
			if tc.status == 404 && strings.Contains(string(body), `id="app"`) {
				t.Fatalf("404 answered with the application shell")
			}
			if ct := resp.Header.Get("Content-Type"); tc.contentType != "" && !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q…", ct, tc.contentType)
			}
			if cc := resp.Header.Get("Cache-Control"); tc.cache != "" && cc != tc.cache {
				t.Errorf("Cache-Control %q, want %q", cc, tc.cache)
			}
			if tc.status == 200 && tc.method == "GET" && tc.contentType != "" && resp.Header.Get("X-Content-Type-Options") != "nosniff" && !strings.HasPrefix(tc.path, "/api/") {
				t.Errorf("X-Content-Type-Options %q, want nosniff", resp.Header.Get("X-Content-Type-Options"))
			}
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
		})
	}
}

func TestRoutesWithoutBuildExplainHowToBuild(t *testing.T) {
	// A dist/ holding only the placeholder, as in a fresh clone.
	fsys := fstest.MapFS{".gitkeep": &fstest.MapFile{}}
	if built(fsys) {
		t.Fatal("built() is true for a dist/ without index.html")
	}
	srv := newServer(t, echoWith(func(e *echo.Echo) { RoutesFS(e, fsys) }))
	for _, path := range []string{"/", "/processes/order-fulfillment", "/ui/"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(string(body), "make ui") || !strings.Contains(string(body), "/api/v1/models") {
				t.Fatalf("not-built page does not say how to build or where the API is: %s", body)
			}
		})
	}
	// The API is untouched.
	resp, err := http.Get(srv.URL + "/api/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API answered %d next to an unbuilt UI", resp.StatusCode)
	}
}

func TestEmbeddedDistMatchesBuildState(t *testing.T) {
	_, err := os.Stat("dist/index.html")
	onDisk := err == nil
	if Built() != onDisk {
		t.Fatalf("Built() = %v but dist/index.html on disk: %v (rebuild the test binary after npm run build)", Built(), onDisk)
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"a.js": "text/javascript; charset=utf-8", "a.css": "text/css; charset=utf-8", "a.svg": "image/svg+xml",
		"a.woff2": "font/woff2", "a.woff": "font/woff", "a.ttf": "font/ttf", "a.map": "application/json",
		"a.png": "image/png", "LICENSE": "application/octet-stream",
	} {
		t.Run(name, func(t *testing.T) {
			if got := contentType(name); got != want {
				t.Fatalf("contentType(%q) = %q, want %q", name, got, want)
			}
		})
	}
}

// TestRoutesOnTheAPIServer mounts the UI on the tracker's own HTTP server, as
// cmd/tracker does: pages and files are served, while unknown API paths keep
// the API's JSON errors and the API's own routes keep working.
func TestRoutesOnTheAPIServer(t *testing.T) {
	s, err := api.New(api.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s.API().GET("/ping", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"pong": "yes"}) })
	RoutesFS(s.Echo(), os.DirFS("testdata/dist"))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	base := "http://" + s.Addr()

	tests := []struct {
		name, path string
		status     int
		want       string // substring of the body
	}{
		{"shell", "/", 200, `id="app"`},
		{"client route", "/incidents", 200, `id="app"`},
		{"asset", "/ui/assets/app-TEST1234.css", 200, "body{margin:0}"},
		{"api route", "/api/v1/ping", 200, `"pong":"yes"`},
		{"unknown api path is a JSON error", "/api/v1/nope", 404, `"error"`},
		{"health", "/healthz", 200, `"ok"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("GET %s: %d %q, want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}
