// Package elastic is the Elasticsearch / OpenSearch backend of the history
// read model (DESIGN.md §7, config `history.backend: elasticsearch`), built
// on github.com/olivere/elastic/v7.
//
// [Open] installs one composable index template per document kind, with an
// explicit mapping and an alias, and creates the single indices; events go
// to daily indices "<prefix>-events-YYYY.MM.DD" behind the alias
// "<prefix>-events". [Backend.Apply] writes a batch through olivere's
// BulkProcessor (retries with backoff) and records the projector's
// checkpoint only once every document is acknowledged. Queries use only what
// Elasticsearch 7.10+, 8.x and OpenSearch share, with keyset paging
// (search_after) so that pages stay stable under inserts.
//
// docs/ELASTICSEARCH.md describes the index layout, the tested versions and
// how to run the conformance suite against a real cluster.
package elastic
