// Package incidents keeps the incidents operators work through (DESIGN.md §5,
// docs/INCIDENTS.md): uncorrelated events the decision table sent to
// `incident` or `dead-letter`, and actions that gave up.
//
// A [Store] is a SQLite file in the data directory. Its projector
// ([Store.Run]) follows the engine's durable change feed and stores each
// incident with its original event, reason, decision, rule, severity and
// note, idempotently by incident id and with its own feed checkpoint in the
// same transaction, so nothing is lost or applied twice across crashes.
//
// Operators list and filter incidents, resolve them with a comment, and
// retry them: [Store.Retry] runs correlation again now through a
// [Correlator] (useful after deploying a fixed model). A retry that starts or
// correlates an instance resolves the incident; every step is recorded in
// the incident's history with the operator's token name. Bulk versions work
// by filter with a cap.
package incidents
