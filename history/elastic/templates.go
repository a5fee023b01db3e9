package elastic

// Index kinds. Each has a composable index template "<prefix>-<kind>" and an
// alias "<prefix>-<kind>"; events live in daily indices
// "<prefix>-events-YYYY.MM.DD", every other kind in one index
// "<prefix>-<kind>-v1" created at start.
const (
	kindEvents    = "events"
	kindInstances = "instances"
	kindElements  = "elements"
	kindIncidents = "incidents"
	kindActions   = "actions"
	kindMeta      = "meta"
)

// kinds lists every index kind in the order templates are installed.
var kinds = []string{kindEvents, kindInstances, kindElements, kindIncidents, kindActions, kindMeta}

// templateVersion is stored in every template's "version" so operators can
// tell which tracker release installed it. Bump it when a mapping changes.
const templateVersion = 2

// Field type helpers. Only types that Elasticsearch 7.10+, 8.x and OpenSearch
// 1.x/2.x all support: keyword, text, long, integer, boolean, date, nested and
// object with enabled:false (stored in _source, not indexed).
var (
	keyword  = map[string]any{"type": "keyword"}
	text     = map[string]any{"type": "text"}
	long     = map[string]any{"type": "long"}
	integer  = map[string]any{"type": "integer"}
	boolean  = map[string]any{"type": "boolean"}
	date     = map[string]any{"type": "date", "format": "strict_date_optional_time||epoch_millis"}
	unindexd = map[string]any{"type": "keyword", "index": false, "doc_values": false}
	stored   = map[string]any{"type": "object", "enabled": false}
)

// mappings returns the explicit mapping of one index kind. "dynamic": false
// keeps unknown fields in _source without indexing them, so a newer tracker
// writing an extra field never has documents rejected by an older index.
func mappings(kind string) map[string]any {
	var props map[string]any
	switch kind {
	case kindEvents:
		props = map[string]any{
			"id": keyword, "messageId": keyword, "messageName": keyword, "correlationKey": keyword,
			"source": keyword, "outcome": keyword, "reason": keyword, "decision": keyword,
			"severity": keyword, "ruleId": keyword, "note": unindexd, "detail": unindexd,
			"instanceKey": long, "processId": keyword, "version": integer,
			"eventTime": date, "readAt": date, "recordedAt": date,
			"topic": keyword, "partition": integer, "offset": long,
			"payload": stored, "seq": long, "text": text,
		}
	case kindInstances:
		props = map[string]any{
			"key": long, "processId": keyword, "version": integer, "correlationKey": keyword,
			"state": keyword, "startedAt": date, "endedAt": date, "endElement": keyword,
			"activeElements": map[string]any{"type": "nested", "properties": map[string]any{
				"elementId": keyword, "elementKey": long, "since": date,
			}},
			"variables": stored, "deviations": integer, "incidents": integer, "events": integer,
			"updatedAt": date, "lastSeq": long, "slaState": keyword, "text": text,
		}
	case kindElements:
		props = map[string]any{
			"key": long, "instanceKey": long, "processId": keyword, "version": integer,
			"elementId": keyword, "kind": keyword, "scopeKey": long, "state": keyword,
			"startedAt": date, "endedAt": date, "durationMs": long, "deviation": boolean, "lastSeq": long,
		}
	case kindIncidents:
		props = map[string]any{
			"id": keyword, "state": keyword, "reason": keyword, "severity": keyword, "note": unindexd,
			"ruleId": keyword, "detail": unindexd, "messageId": keyword, "messageName": keyword,
			"correlationKey": keyword, "source": keyword, "instanceKey": long, "processId": keyword,
			"version": integer, "elementId": keyword, "eventTime": date, "createdAt": date, "resolvedAt": date,
			"raw": unindexd, "seq": long,
		}
	case kindActions:
		props = map[string]any{
			"id": keyword, "outboxSeq": long, "type": keyword, "target": keyword, "processId": keyword,
			"version": integer, "instanceKey": long, "correlationKey": keyword, "elementId": keyword,
			"raisedAt": date, "dueAt": date, "variables": stored, "headers": stored,
			"attempts": integer, "state": keyword, "lastError": unindexd, "updatedAt": date, "seq": long,
		}
	case kindMeta:
		props = map[string]any{"checkpoint": long, "updatedAt": date}
	default:
		props = map[string]any{}
	}
	return map[string]any{"dynamic": false, "properties": props}
}

// names derives every index, alias and template name from the prefix.
type names struct{ prefix string }

// alias is what queries read: "<prefix>-<kind>".
func (n names) alias(kind string) string { return n.prefix + "-" + kind }

// template is the index template's name (the same as the alias).
func (n names) template(kind string) string { return n.prefix + "-" + kind }

// pattern is the template's index pattern.
func (n names) pattern(kind string) string { return n.prefix + "-" + kind + "-*" }

// index is the concrete index documents of a non-event kind are written to.
func (n names) index(kind string) string { return n.prefix + "-" + kind + "-v1" }

// indexTemplate is the body of PUT _index_template/<prefix>-<kind>.
func indexTemplate(n names, kind string, o Options) map[string]any {
	settings := map[string]any{"refresh_interval": o.RefreshInterval}
	if o.Shards > 0 {
		settings["number_of_shards"] = o.Shards
	}
	if o.Replicas != nil {
		settings["number_of_replicas"] = *o.Replicas
	}
	return map[string]any{
		"index_patterns": []string{n.pattern(kind)},
		"priority":       200,
		"version":        templateVersion,
		"_meta":          map[string]any{"managed_by": "tracker"},
		"template": map[string]any{
			"settings": settings,
			"mappings": mappings(kind),
			"aliases":  map[string]any{n.alias(kind): map[string]any{}},
		},
	}
}
