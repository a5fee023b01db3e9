// Package correlate is the generic event consumer: it reads the topics of all
// configured sources as one Kafka consumer group, decodes and maps every record
// to an engine message (plain JSON or CloudEvents, structured or binary), and
// applies them to the engine in batches before committing offsets. It also
// serves HTTP ingestion (POST /api/v1/events) through the same pipeline.
//
// Effects are exactly-once: the engine stores the next offset of every
// partition in the same atomic batch as the state a record changed, and the
// consumer seeks every assigned partition to those positions on each group
// generation. Kafka offset commits follow for lag monitoring only.
//
// A record that cannot be mapped is never dropped and never blocks its
// partition: it becomes a message with [engine.Message.Invalid] set
// (DECODE_ERROR, UNKNOWN_MESSAGE when it has no message name,
// MISSING_CORRELATION_KEY), which the engine records as uncorrelated and
// passes to the decision table. See docs/INGEST.md.
package correlate
