package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/history"
)

// textBuilder renders the searchable text of a document: ids, names, keys and
// every key and scalar value of its JSON payload. FTS5's unicode61 tokenizer
// splits it into words, case-insensitively.
type textBuilder struct{ b strings.Builder }

func (t *textBuilder) word(s string) {
	if s == "" {
		return
	}
	t.b.WriteString(s)
	t.b.WriteByte(' ')
}

func (t *textBuilder) instance(d *history.Instance) string {
	t.b.Reset()
	t.word(d.CorrelationKey)
	t.word(d.ProcessID)
	t.word(strconv.FormatInt(d.Key, 10))
	t.json(d.Variables)
	return t.b.String()
}

func (t *textBuilder) event(d *history.Event) string {
	t.b.Reset()
	t.word(d.ID)
	t.word(d.MessageName)
	t.word(d.CorrelationKey)
	t.word(d.Source)
	t.word(d.Reason)
	t.word(d.Detail)
	t.word(d.Note)
	t.json(d.Payload)
	return t.b.String()
}

// json appends the keys and scalar values of a JSON document.
func (t *textBuilder) json(raw json.RawMessage) {
	if len(raw) == 0 || !gjson.ValidBytes(raw) {
		return
	}
	t.value(gjson.ParseBytes(raw))
}

func (t *textBuilder) value(v gjson.Result) {
	switch v.Type {
	case gjson.String:
		t.word(v.Str)
	case gjson.Number:
		t.word(v.Raw)
	case gjson.True, gjson.False:
		t.word(v.Raw)
	case gjson.JSON:
		obj := v.IsObject()
		v.ForEach(func(k, e gjson.Result) bool {
			if obj {
				t.word(k.Str)
			}
			t.value(e)
			return true
		})
	}
}

// ftsQuery turns user input into an FTS5 query: every whitespace-separated
// term must match (as a phrase of its words, so "ORD-4711" finds the words
// "ord" followed by "4711"); a trailing * makes a term a prefix. Terms without
// letters or digits are dropped, control characters separate terms; if none remain, the query is invalid.
func ftsQuery(q string) (string, error) {
	var parts []string
	// Control characters (NUL ends an FTS5 string early) separate terms.
	q = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, q)
	for _, term := range strings.Fields(q) {
		prefix := strings.HasSuffix(term, "*")
		term = strings.TrimRight(term, "*")
		if strings.IndexFunc(term, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
			continue
		}
		p := `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
		if prefix {
			p += "*"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%w: q=%q has no letters or digits to search for", history.ErrInvalidQuery, q)
	}
	return strings.Join(parts, " "), nil
}
