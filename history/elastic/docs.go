package elastic

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// maxText bounds the full-text field built from a payload or variables.
const maxText = 32 << 10

// eventDoc is an event as indexed: the history document plus "text", the
// words full-text search matches (ids, names, key and payload values).
type eventDoc struct {
	history.Event
	Text string `json:"text,omitempty"`
}

// instanceDoc is an instance as indexed, with "text" built from the
// correlation key and the variables' values.
type instanceDoc struct {
	history.Instance
	Text string `json:"text,omitempty"`
}

// elementDoc is an element instance as indexed. durationMs is written for
// every finished element instance, also when it is 0 (the history type omits
// a zero), so that averages and percentiles count instant completions.
type elementDoc struct {
	history.ElementInstance
	DurationMs *int64 `json:"durationMs,omitempty"`
}

// metaDoc holds the projector's checkpoint.
type metaDoc struct {
	Checkpoint uint64    `json:"checkpoint"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

const checkpointID = "checkpoint"

func newEventDoc(e history.Event) eventDoc {
	var b textBuilder
	b.add(e.ID)
	if e.MessageID != e.ID {
		b.add(e.MessageID)
	}
	b.add(e.MessageName)
	b.add(e.CorrelationKey)
	b.json(e.Payload)
	return eventDoc{Event: e, Text: b.String()}
}

func newInstanceDoc(in history.Instance) instanceDoc {
	var b textBuilder
	b.add(in.CorrelationKey)
	b.json(in.Variables)
	return instanceDoc{Instance: in, Text: b.String()}
}

func newElementDoc(e history.ElementInstance) elementDoc {
	d := elementDoc{ElementInstance: e}
	if !e.EndedAt.IsZero() {
		// HDR percentiles refuse negative values, which clock skew between
		// producers could create; one such document would fail every
		// statistics query of its process.
		ms := max(e.DurationMs, 0)
		d.DurationMs = &ms
	}
	return d
}

// element returns the history document back from its indexed form.
func (d elementDoc) element() history.ElementInstance {
	e := d.ElementInstance
	if d.DurationMs != nil {
		e.DurationMs = *d.DurationMs
	}
	return e
}

// textBuilder collects words for a full-text field, space separated and
// capped at maxText bytes.
type textBuilder struct{ strings.Builder }

func (b *textBuilder) add(s string) {
	if s == "" || b.Len()+len(s)+1 > maxText {
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(s)
}

// json adds every scalar value of a JSON document (not the keys). Invalid
// JSON adds nothing: the document itself is still indexed.
func (b *textBuilder) json(raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return
	}
	b.value(v)
}

func (b *textBuilder) value(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b.value(x[k])
		}
	case []any:
		for _, e := range x {
			b.value(e)
		}
	case string:
		b.add(x)
	case json.Number:
		b.add(x.String())
	case bool:
		b.add(strconv.FormatBool(x))
	}
}

// esTime formats a time for a range query: UTC, millisecond precision (what
// Elasticsearch's date type stores).
func esTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// eventIndex is the daily index an event belongs to, by its event time (its
// recorded time if the event time is unknown). The same event always lands
// in the same index, so re-applying it replaces it.
func (n names) eventIndex(e history.Event) string {
	t := e.EventTime
	if t.IsZero() {
		t = e.RecordedAt
	}
	return n.prefix + "-events-" + t.UTC().Format("2006.01.02")
}
