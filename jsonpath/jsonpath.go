// Package jsonpath compiles the JSONPath subset that source mappings use
// (DESIGN.md §8): `$` (the whole value), `$.a.b`, `$.a[0].b`, `$['a-b']`, plus
// `$key` (the Kafka record key) and `$headers.name` (a record header).
//
// A compiled [Path] extracts from raw JSON bytes with github.com/tidwall/gjson,
// so mapping never decodes the whole payload into Go values.
package jsonpath

import (
	"fmt"
	"strconv"
	"strings"
)

// Origin says which part of a record a path reads.
type Origin int

// Origins of a path.
const (
	Value  Origin = iota // the record value (JSON)
	Key                  // $key: the record key
	Header               // $headers.name: one record header
)

// Path is a compiled JSONPath expression.
type Path struct {
	src    string
	origin Origin
	header string
	segs   []Segment
	gjson  string
}

// Segment is one step of a path: a field name, or an array index when Index >= 0.
type Segment struct {
	Field string
	Index int
}

// Compile parses expr, reporting what is wrong and where.
func Compile(expr string) (*Path, error) {
	p := &Path{src: expr}
	switch {
	case expr == "$key":
		p.origin = Key
		return p, nil
	case strings.HasPrefix(expr, "$headers."):
		p.origin = Header
		p.header = strings.TrimPrefix(expr, "$headers.")
		if p.header == "" {
			return nil, fmt.Errorf("jsonpath %q: header name missing (expected $headers.name)", expr)
		}
		return p, nil
	case !strings.HasPrefix(expr, "$"):
		return nil, fmt.Errorf("jsonpath %q: must start with $ (e.g. $.orderId, $key, $headers.name)", expr)
	}
	rest := expr[1:]
	for pos := 1; rest != ""; {
		switch {
		case rest[0] == '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : 1+end]
			if name == "" {
				return nil, fmt.Errorf("jsonpath %q: empty field name at position %d", expr, pos)
			}
			if strings.ContainsAny(name, "*?@()") {
				return nil, fmt.Errorf("jsonpath %q: %q at position %d is outside the supported subset (fields, [index], ['name'])", expr, name, pos)
			}
			p.segs = append(p.segs, Segment{Field: name, Index: -1})
			rest, pos = rest[1+end:], pos+1+end
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return nil, fmt.Errorf("jsonpath %q: unterminated ['...'] at position %d", expr, pos)
			}
			name := rest[2:end]
			if name == "" {
				return nil, fmt.Errorf("jsonpath %q: empty field name at position %d", expr, pos)
			}
			p.segs = append(p.segs, Segment{Field: name, Index: -1})
			rest, pos = rest[end+2:], pos+end+2
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("jsonpath %q: unterminated [ at position %d", expr, pos)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("jsonpath %q: %q at position %d is not an array index (wildcards and filters are not supported)", expr, rest[1:end], pos)
			}
			p.segs = append(p.segs, Segment{Index: i})
			rest, pos = rest[end+1:], pos+end+1
		default:
			return nil, fmt.Errorf("jsonpath %q: unexpected %q at position %d", expr, rest[0], pos)
		}
	}
	p.gjson = toGJSON(p.segs)
	return p, nil
}

// toGJSON renders segments in gjson's path syntax, escaping its special characters.
func toGJSON(segs []Segment) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		if s.Index >= 0 && s.Field == "" {
			b.WriteString(strconv.Itoa(s.Index))
			continue
		}
		for _, r := range s.Field {
			if strings.ContainsRune(`.*?|#@!=<>%\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// String returns the source text.
func (p *Path) String() string { return p.src }

// Origin says whether the path reads the value, the key or a header.
func (p *Path) Origin() Origin { return p.origin }

// Header returns the header name for a $headers.name path.
func (p *Path) Header() string { return p.header }

// Segments returns the steps of a value path; empty for `$` (the whole value).
func (p *Path) Segments() []Segment { return p.segs }

// GJSON returns the path in gjson syntax ("" for the whole value).
func (p *Path) GJSON() string { return p.gjson }

// TailGJSON returns, in gjson syntax, the path that remains after the first n
// segments ("" when nothing remains). Correlate uses it to read `$.data.x`
// from a CloudEvent in binary mode, whose record value is the data itself.
func (p *Path) TailGJSON(n int) string {
	if n >= len(p.segs) {
		return ""
	}
	return toGJSON(p.segs[n:])
}
