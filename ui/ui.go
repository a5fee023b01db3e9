// Package ui serves the tracker's web UI: a single-page application built
// from the sources in this directory (npm ci && npm run build) into dist/,
// which is embedded into the binary. The UI reads everything through the JSON
// API under /api/v1; this package only serves files.
//
// Layout of dist/ (written by build.mjs):
//
//	index.html            the application shell, served at / and for client-side routes
//	assets/NAME-HASH.ext  content-hashed bundles, fonts and images (cached for a year)
//	favicon.svg           and other unhashed files (revalidated on every use)
//
// When dist/index.html is missing (a Go build without the front-end build),
// every UI route answers with a short page that says how to build the UI;
// the API keeps working.
package ui

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

//go:embed all:dist
var dist embed.FS

// Prefix is the URL path under which the built files are served.
const Prefix = "/ui/"

// reserved are path prefixes that belong to the server, not to the UI: the
// client-side route fallback never answers them with index.html.
var reserved = []string{"/api/", "/metrics", "/healthz", "/readyz", "/ui/"}

// Dist returns the embedded build output (the contents of dist/).
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // only for an invalid path, and "dist" is valid
		return dist
	}
	return sub
}

// Built reports whether the embedded files contain a front-end build.
func Built() bool { return built(Dist()) }

func built(fsys fs.FS) bool {
	_, err := fs.Stat(fsys, "index.html")
	return err == nil
}

// Routes mounts the embedded UI on e: the application at / and at every
// client-side route, the built files under /ui/.
func Routes(e *echo.Echo) { RoutesFS(e, Dist()) }

// RoutesFS mounts the UI served from fsys (laid out like dist/) on e. It
// registers GET and HEAD for /, /ui/* and a catch-all /* that answers
// index.html for client-side routes (paths outside /api, /metrics, /healthz,
// /readyz and /ui whose last segment has no file extension) and 404 for
// everything else. Routes registered elsewhere, such as /api/v1/..., take
// precedence over the catch-all in Echo's router.
func RoutesFS(e *echo.Echo, fsys fs.FS) {
	h := &handler{fsys: fsys}
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, "/", h.index)
	e.Match(methods, Prefix+"*", h.asset)
	e.Match(methods, "/*", h.fallback)
}

type handler struct {
	fsys fs.FS
}

// index serves the application shell, or the not-built page.
func (h *handler) index(c echo.Context) error {
	b, err := fs.ReadFile(h.fsys, "index.html")
	if errors.Is(err, fs.ErrNotExist) {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.HTML(http.StatusOK, notBuiltPage)
	}
	if err != nil {
		return fmt.Errorf("read ui index.html: %w", err)
	}
	hdr := c.Response().Header()
	// The shell names the hashed bundles: always revalidate it so that a new
	// binary's UI is picked up at once.
	hdr.Set(echo.HeaderCacheControl, "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	return c.HTMLBlob(http.StatusOK, b)
}

// asset serves one built file under /ui/.
func (h *handler) asset(c echo.Context) error {
	name := strings.TrimPrefix(path.Clean("/"+c.Param("*")), "/")
	if name == "" || name == "." || name == "index.html" {
		return h.index(c)
	}
	if !fs.ValidPath(name) {
		return echo.NewHTTPError(http.StatusNotFound, "no such UI file")
	}
	b, err := fs.ReadFile(h.fsys, name)
	if err != nil { // missing, or a directory
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no UI file %q", name))
	}
	hdr := c.Response().Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(name, "assets/") {
		hdr.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		hdr.Set(echo.HeaderCacheControl, "no-cache")
	}
	return c.Blob(http.StatusOK, contentType(name), b)
}

// fallback answers client-side routes with the application shell.
func (h *handler) fallback(c echo.Context) error {
	p := c.Request().URL.Path
	for _, r := range reserved {
		if p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) {
			return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no route for %s", p))
		}
	}
	if path.Ext(p) != "" {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no such file %s", p))
	}
	return h.index(c)
}

// contentType names the media type of a built file by its extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".woff2":
		return "font/woff2"
	case ".woff":
		return "font/woff"
	case ".ttf":
		return "font/ttf"
	case ".eot":
		return "application/vnd.ms-fontobject"
	case ".html":
		return "text/html; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tracker — UI not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1f2933;display:grid;place-items:center;height:100vh;margin:0}
main{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:32px 40px;max-width:560px}
code{background:#eef1f4;padding:2px 6px;border-radius:4px}h1{font-size:20px;margin:0 0 12px}</style></head>
<body><main><h1>The tracker UI is not built into this binary</h1>
<p>This binary was compiled without the front-end build. Run <code>make ui</code>
(or <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>), then rebuild the binary.</p>
<p>The API works regardless: <a href="/api/v1/models">/api/v1/models</a>, <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>.</p>
</main></body></html>
`
