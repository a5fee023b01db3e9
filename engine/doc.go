// Package engine is the embedded tracking engine: it correlates messages
// (events turned into messages by correlate) onto BPMN process instances
// following Zeebe's rules plus the tracking extensions of DESIGN.md §4, fires
// event-time timers, raises actions through a durable outbox and publishes a
// durable, ordered change feed for history and actions.
//
// State lives in Pebble; the hot path works on an in-memory, bounded cache of
// correlation-key groups (everything under one correlation key: its instances,
// subscriptions, timers and buffered messages), so a message costs one map
// lookup and no store read in the common case. Bloom filters over stored
// correlation keys and message ids answer "never seen" without a read.
//
// [Engine.Apply] and [Engine.Tick] write every effect of a batch — state,
// feed entries, outbox entries, dedupe keys and the Kafka source positions —
// in one atomic Pebble batch, synced before they return. A consumer that
// resumes from [Engine.Positions] therefore applies every event exactly once,
// even when its own offset commit was lost.
//
// docs/ENGINE.md explains the semantics with one example per rule.
package engine
