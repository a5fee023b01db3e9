// Package api is the tracker's HTTP surface (DESIGN.md §9): health and
// readiness, Prometheus metrics, and the JSON API under /api/v1, served with
// Echo v4.
//
// Each resource lives in its own file and declares the small interface it
// needs from the component behind it (models.go, events.go, ...). The server
// applies the cross-cutting rules: tokens and roles outside loopback, request
// size limits, JSON errors of the form {"error": "...", "problems": [...]}.
package api
