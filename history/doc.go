// Package history is the tracker's searchable read model (DESIGN.md §7): events
// with their correlation outcome, instances with their current elements,
// element instances with durations, incidents and actions.
//
// The engine's durable change feed is the only input. A [Projector] reads it
// asynchronously, turns changes into complete documents and writes them, with
// its checkpoint, to a [Backend] (history/sqlite embedded by default,
// history/elastic for scale-out). A slow or unavailable backend never blocks
// correlation: the feed keeps growing and the projector catches up.
//
// [Service] answers the questions the API asks: it adds stuck detection
// (tracker.stuckAfter, else tracker.sla, else twice the observed p95) on top of
// a Backend's queries.
package history
