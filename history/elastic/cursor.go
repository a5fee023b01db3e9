package elastic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/tracker-dev/tracker/history"
)

// sortField is one level of a listing's order.
type sortField struct {
	field string
	desc  bool
}

// order is a listing's complete order: the requested field plus a unique
// tie-breaker, so that keyset paging (search_after) is stable under inserts.
type order struct {
	name   string // the value of the query's Sort ("" never: defaults applied)
	fields []sortField
	// numeric says which fields hold numbers (dates as epoch millis, longs);
	// the others are keywords.
	numeric []bool
}

// sortBody is the "sort" of a search request.
func (o order) sortBody() []any {
	out := make([]any, 0, len(o.fields))
	for _, f := range o.fields {
		dir := "asc"
		if f.desc {
			dir = "desc"
		}
		out = append(out, map[string]any{f.field: map[string]any{"order": dir}})
	}
	return out
}

// cursor is what a page's Next encodes: the order it belongs to and the sort
// values of the page's last item, passed as search_after.
type cursor struct {
	Sort   string `json:"s"`
	Values []any  `json:"v"`
}

// encodeCursor renders the cursor after an item with the given sort values.
func encodeCursor(o order, values ...any) string {
	b, _ := json.Marshal(cursor{Sort: o.name, Values: values}) // strings and integers only
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks that s is a cursor of order o and returns its
// search_after values.
func decodeCursor(o order, s string) ([]any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not base64url", history.ErrInvalidCursor, s)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c cursor
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %q does not decode", history.ErrInvalidCursor, s)
	}
	if c.Sort != o.name {
		return nil, fmt.Errorf("%w: cursor is for sort %q, not %q", history.ErrInvalidCursor, c.Sort, o.name)
	}
	if len(c.Values) != len(o.fields) {
		return nil, fmt.Errorf("%w: cursor has %d values, sort %q needs %d", history.ErrInvalidCursor, len(c.Values), o.name, len(o.fields))
	}
	for i, v := range c.Values {
		switch x := v.(type) {
		case json.Number:
			if !o.numeric[i] {
				return nil, fmt.Errorf("%w: value %d must be a string", history.ErrInvalidCursor, i)
			}
			if _, err := x.Int64(); err != nil {
				return nil, fmt.Errorf("%w: value %d is not an integer", history.ErrInvalidCursor, i)
			}
		case string:
			if o.numeric[i] {
				return nil, fmt.Errorf("%w: value %d must be a number", history.ErrInvalidCursor, i)
			}
		default:
			return nil, fmt.Errorf("%w: value %d has the wrong type", history.ErrInvalidCursor, i)
		}
	}
	return c.Values, nil
}

// Orders of the listings.
var (
	instanceOrders = map[string]order{
		history.SortStartedDesc: {history.SortStartedDesc, []sortField{{"startedAt", true}, {"key", true}}, []bool{true, true}},
		history.SortStartedAsc:  {history.SortStartedAsc, []sortField{{"startedAt", false}, {"key", false}}, []bool{true, true}},
		history.SortKeyDesc:     {history.SortKeyDesc, []sortField{{"key", true}}, []bool{true}},
		history.SortKeyAsc:      {history.SortKeyAsc, []sortField{{"key", false}}, []bool{true}},
	}
	eventOrders = map[string]order{
		history.SortTimeDesc: {history.SortTimeDesc, []sortField{{"eventTime", true}, {"id", true}}, []bool{true, false}},
		history.SortTimeAsc:  {history.SortTimeAsc, []sortField{{"eventTime", false}, {"id", false}}, []bool{true, false}},
	}
	incidentOrder = order{"-createdAt", []sortField{{"createdAt", true}, {"id", true}}, []bool{true, false}}
	actionOrder   = order{"-raisedAt", []sortField{{"raisedAt", true}, {"id", true}}, []bool{true, false}}
	elementOrder  = order{"key", []sortField{{"key", false}}, []bool{true}}
)
