package feel

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tracker-dev/tracker/iso8601"
)

type builtin struct {
	min, max int
	call     func(args []any) any
	// literal, when set, converts literal arguments at compile time and
	// reports malformed input as an error (strictLiteral).
	literal       func(args []any) (any, error)
	strictLiteral bool
}

func (b builtin) arity() string {
	if b.min == b.max {
		if b.min == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", b.min)
	}
	return fmt.Sprintf("%d to %d arguments", b.min, b.max)
}

type callNode struct {
	name string
	fn   builtin
	args []node
}

func (n *callNode) eval(vars map[string]any) (any, error) {
	args := make([]any, len(n.args))
	for i, a := range n.args {
		v, err := a.eval(vars)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return n.fn.call(args), nil
}

func strings2(args []any) (string, string, bool) {
	a, ok1 := args[0].(string)
	b, ok2 := args[1].(string)
	return a, b, ok1 && ok2
}

func str1(f func(string) any) func([]any) any {
	return func(args []any) any {
		if s, ok := args[0].(string); ok {
			return f(s)
		}
		return nil
	}
}

// strict wraps a conversion so that a failed literal conversion is an error.
func strict(conv func(any) (any, error)) builtin {
	return builtin{
		min: 1, max: 1, strictLiteral: true,
		call: func(args []any) any {
			v, err := conv(args[0])
			if err != nil {
				return nil
			}
			return v
		},
		literal: func(args []any) (any, error) { return conv(args[0]) },
	}
}

// builtins are the functions of the subset, by their FEEL name.
var builtins = map[string]builtin{
	"not": {min: 1, max: 1, call: func(args []any) any {
		if b, ok := args[0].(bool); ok {
			return !b
		}
		return nil
	}},
	"string": {min: 1, max: 1, call: func(args []any) any { return toString(args[0]) }},
	"number": {min: 1, max: 1, call: func(args []any) any {
		switch x := args[0].(type) {
		case float64:
			return x
		case string:
			if f, ok := parseNumber(x); ok {
				return f
			}
		}
		return nil
	}},
	"upper case":    {min: 1, max: 1, call: str1(func(s string) any { return strings.ToUpper(s) })},
	"lower case":    {min: 1, max: 1, call: str1(func(s string) any { return strings.ToLower(s) })},
	"string length": {min: 1, max: 1, call: str1(func(s string) any { return float64(utf8.RuneCountInString(s)) })},
	"contains": {min: 2, max: 2, call: func(args []any) any {
		if a, b, ok := strings2(args); ok {
			return strings.Contains(a, b)
		}
		return nil
	}},
	"starts with": {min: 2, max: 2, call: func(args []any) any {
		if a, b, ok := strings2(args); ok {
			return strings.HasPrefix(a, b)
		}
		return nil
	}},
	"ends with": {min: 2, max: 2, call: func(args []any) any {
		if a, b, ok := strings2(args); ok {
			return strings.HasSuffix(a, b)
		}
		return nil
	}},
	"is defined":    {min: 1, max: 1, call: func(args []any) any { return args[0] != nil }},
	"date":          strict(toDate),
	"date and time": strict(toDateTime),
	"duration":      strict(toDuration),
}

var numberRE = regexp.MustCompile(`^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`)

func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if !numberRE.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// toString is FEEL's string(): numbers without a trailing ".0", dates in
// ISO 8601, durations in ISO 8601, null stays null.
func toString(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 && x.Location() == time.UTC {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case iso8601.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

var errNotString = errors.New("argument must be a string")

func toDate(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		y, m, d := x.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case string:
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(x))
		if err != nil {
			return nil, fmt.Errorf("%q is not a date (expected e.g. 2026-01-31)", x)
		}
		return t, nil
	}
	return nil, errNotString
}

var dateTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04"}

// ParseDateTime reads a FEEL date and time: RFC 3339 with offset or Z, a
// local date-time (taken as UTC), "2026-01-01T09:00:00@Europe/Berlin", or a
// plain date (midnight UTC).
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	loc := time.UTC
	if at := strings.IndexByte(s, '@'); at >= 0 {
		l, err := time.LoadLocation(s[at+1:])
		if err != nil || s[at+1:] == "" || strings.EqualFold(s[at+1:], "local") {
			return time.Time{}, fmt.Errorf("%q: unknown time zone %q", s, s[at+1:])
		}
		loc, s = l, s[:at]
		for _, layout := range dateTimeLayouts[1:] {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a date and time (expected e.g. 2026-01-31T09:00:00@Europe/Berlin)", s)
	}
	for _, layout := range dateTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (expected e.g. 2026-01-31T09:00:00Z)", s)
}

func toDateTime(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		return ParseDateTime(x)
	}
	return nil, errNotString
}

func toDuration(v any) (any, error) {
	switch x := v.(type) {
	case iso8601.Duration:
		return x, nil
	case string:
		return iso8601.Parse(x)
	}
	return nil, errNotString
}

// temporal converts the text of an @"..." literal.
func temporal(s string) (any, error) {
	t := strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(t, "P"), strings.HasPrefix(t, "-P"):
		return iso8601.Parse(t)
	case strings.Contains(t, "T"):
		return ParseDateTime(t)
	case len(t) == len(time.DateOnly):
		return toDate(t)
	}
	return nil, fmt.Errorf("@%q: not a date, date and time or duration", s)
}
