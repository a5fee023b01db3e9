package decisiontable

import (
	"fmt"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

// parseTypeRef maps a DMN typeRef to the kind of its values; kNull stands for
// an untyped column ("Any" or no typeRef). Camunda's and the DMN spec's names
// are both accepted.
func parseTypeRef(s string) (kind, error) {
	t := strings.TrimSpace(s)
	if i := strings.LastIndexByte(t, ':'); i >= 0 { // "feel:string"
		t = t[i+1:]
	}
	switch strings.ToLower(t) {
	case "", "any":
		return kNull, nil
	case "string":
		return kString, nil
	case "number", "integer", "long", "double", "int", "float":
		return kNumber, nil
	case "boolean", "bool":
		return kBool, nil
	case "date":
		return kDate, nil
	case "datetime", "date and time":
		return kDateTime, nil
	case "time":
		return kTime, nil
	case "duration", "daytimeduration", "yearmonthduration", "days and time duration", "years and months duration":
		return kDuration, nil
	}
	return kNull, fmt.Errorf("type %q is not supported; use string, number, boolean, date, dateTime, time or duration", s)
}

// typeName names a column type for messages.
func typeName(k kind) string {
	if k == kNull {
		return "Any"
	}
	return k.String()
}

// conform converts v to the column type want, reading strings as dates, times
// and durations where the column asks for them (JSON has no such types).
// A null fits every type.
func conform(v value, want kind) (value, error) {
	if v.k == kNull || want == kNull || v.k == want {
		return v, nil
	}
	switch want {
	case kDate:
		switch v.k {
		case kDateTime:
			y, m, d := v.t.Date()
			return value{k: kDate, t: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}, nil
		case kString:
			t, err := parseDate(v.s)
			if err != nil {
				return v, err
			}
			return value{k: kDate, t: t}, nil
		}
	case kDateTime:
		switch v.k {
		case kDate:
			return value{k: kDateTime, t: v.t}, nil
		case kString:
			t, err := parseDateTime(v.s)
			if err != nil {
				return v, err
			}
			return value{k: kDateTime, t: t}, nil
		}
	case kTime:
		if v.k == kString {
			secs, err := parseTime(v.s)
			if err != nil {
				return v, err
			}
			return value{k: kTime, n: secs}, nil
		}
	case kDuration:
		if v.k == kString {
			d, err := iso8601.Parse(v.s)
			if err != nil {
				return v, fmt.Errorf("%q is not a duration (expected e.g. P1D, PT1H)", v.s)
			}
			return durationValue(d), nil
		}
	}
	return v, fmt.Errorf("expected a %s but got %s", typeName(want), describe(v))
}

// describe names v with its type, for messages: `the string "12"`.
func describe(v value) string {
	if v.k == kOther {
		return "a list or context"
	}
	if v.k == kNull {
		return "null"
	}
	return "the " + v.k.String() + " " + v.String()
}

// fits reports whether a literal of kind got may appear in a column of type
// want (dates and date-times mix; null fits anything).
func fits(got, want kind) bool {
	if want == kNull || got == kNull || got == want {
		return true
	}
	return (got == kDate || got == kDateTime) && (want == kDate || want == kDateTime)
}
