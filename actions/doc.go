// Package actions relays the engine's durable outbox to where actions go:
// Kafka topics and webhooks (DESIGN.md §6, §9; docs/ACTIONS.md).
//
// A [Relay] reads the outbox in sequence order and hands every action to the
// worker of its target. Each target has its own bounded queue, its own
// backoff and its own goroutine, so a slow or dead target holds up neither
// the others nor correlation (the engine continues an instance as soon as the
// action is in the outbox). An action is marked delivered only after the
// broker acknowledged it (acks=all) or the webhook answered 2xx; failed
// attempts are recorded on the outbox entry and retried with exponential
// backoff and jitter, and after [Options.MaxAttempts] attempts or
// [Options.MaxAge] the action is marked failed, which raises an incident.
//
// Delivery is at least once: a crash between the acknowledgement and the
// mark sends the action again after a restart, with the same action id. The
// id travels in the Kafka header tracker-action-id (and the HTTP headers
// Tracker-Action-Id and Idempotency-Key), so consumers deduplicate on it.
package actions
