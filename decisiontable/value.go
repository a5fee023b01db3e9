package decisiontable

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

// kind is the FEEL type of a [value].
type kind uint8

const (
	kNull kind = iota
	kString
	kNumber
	kBool
	kDate
	kDateTime
	kTime
	kDuration
	kOther // a list, a context or a Go value FEEL has no type for
)

// String names the kind as a column type, for messages.
func (k kind) String() string {
	switch k {
	case kNull:
		return "null"
	case kString:
		return "string"
	case kNumber:
		return "number"
	case kBool:
		return "boolean"
	case kDate:
		return "date"
	case kDateTime:
		return "dateTime"
	case kTime:
		return "time"
	case kDuration:
		return "duration"
	default:
		return "list or context"
	}
}

// value is one FEEL value held without interface boxing, so that matching a
// rule against it never allocates.
type value struct {
	k kind
	b bool
	s string           // kString
	n float64          // kNumber; kTime: seconds since midnight (UTC when a zone was given)
	t time.Time        // kDate (midnight UTC), kDateTime
	d iso8601.Duration // kDuration
}

func stringValue(s string) value  { return value{k: kString, s: s} }
func numberValue(f float64) value { return value{k: kNumber, n: f} }
func boolValue(b bool) value      { return value{k: kBool, b: b} }
func durationValue(d iso8601.Duration) value {
	return value{k: kDuration, d: d}
}

// fromAny converts a Go value of encoding/json's shapes (plus time.Time and
// iso8601.Duration) into a value. It does not allocate.
func fromAny(x any) value {
	switch v := x.(type) {
	case nil:
		return value{}
	case string:
		return stringValue(v)
	case float64:
		return numberValue(v)
	case bool:
		return boolValue(v)
	case int:
		return numberValue(float64(v))
	case int64:
		return numberValue(float64(v))
	case int32:
		return numberValue(float64(v))
	case uint:
		return numberValue(float64(v))
	case uint64:
		return numberValue(float64(v))
	case uint32:
		return numberValue(float64(v))
	case float32:
		return numberValue(float64(v))
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return stringValue(string(v))
		}
		return numberValue(f)
	case time.Time:
		return value{k: kDateTime, t: v}
	case iso8601.Duration:
		return durationValue(v)
	case time.Duration:
		return durationValue(iso8601.FromDuration(v))
	default:
		return value{k: kOther}
	}
}

// toAny boxes v for results. Literal outputs are boxed once at load time.
func (v value) toAny() any {
	switch v.k {
	case kString:
		return v.s
	case kNumber:
		return v.n
	case kBool:
		return v.b
	case kDate:
		return dateString(v.t)
	case kDateTime:
		return v.t
	case kTime:
		return timeString(v.n)
	case kDuration:
		return v.d
	default:
		return nil
	}
}

// String renders v as FEEL text, for messages.
func (v value) String() string {
	switch v.k {
	case kNull:
		return "null"
	case kString:
		return strconv.Quote(v.s)
	case kNumber:
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	case kBool:
		return strconv.FormatBool(v.b)
	case kDate:
		return `date("` + dateString(v.t) + `")`
	case kDateTime:
		return `date and time("` + v.t.Format(time.RFC3339Nano) + `")`
	case kTime:
		return `time("` + timeString(v.n) + `")`
	case kDuration:
		return `duration("` + v.d.String() + `")`
	default:
		return "a list or context"
	}
}

func dateString(t time.Time) string { return t.Format(time.DateOnly) }

func timeString(secs float64) string {
	whole := int(secs)
	s := fmt.Sprintf("%02d:%02d:%02d", whole/3600, whole/60%60, whole%60)
	if frac := secs - float64(whole); frac > 0 {
		s += strings.TrimPrefix(strconv.FormatFloat(frac, 'f', -1, 64), "0")
	}
	return s
}

// parseDate reads a FEEL date ("2026-01-01"). A date and time is accepted and
// cut to its date, as payloads often carry timestamps.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := parseDateTime(s); err == nil {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (expected e.g. 2026-01-31)", s)
}

// parseDateTime reads a FEEL date and time: RFC 3339, or without a zone (then
// UTC), or a plain date (then midnight UTC).
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (expected e.g. 2026-01-31T10:00:00Z)", s)
}

// parseTime reads a FEEL time ("10:30:00", "10:30:00Z", "10:30:00+02:00") as
// seconds since midnight, in UTC when a zone is given.
func parseTime(s string) (float64, error) {
	for _, layout := range []string{"15:04:05.999999999Z07:00", "15:04:05.999999999", "15:04"} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if strings.ContainsAny(s[min(len(s), 5):], "Z+-") {
			t = t.UTC()
		}
		h, m, sec := t.Clock()
		return float64(h*3600+m*60+sec) + float64(t.Nanosecond())/1e9, nil
	}
	return 0, fmt.Errorf("%q is not a time (expected e.g. 10:30:00)", s)
}

// compare orders a and b. ok is false when FEEL has no order for the pair
// (different kinds, booleans, lists): the comparison is then null.
func compare(a, b *value) (c int, ok bool) {
	switch {
	case a.k == kNumber && b.k == kNumber:
		switch {
		case a.n < b.n:
			return -1, true
		case a.n > b.n:
			return 1, true
		case a.n == b.n:
			return 0, true
		}
		return 0, false // NaN
	case a.k == kString && b.k == kString:
		return strings.Compare(a.s, b.s), true
	case (a.k == kDate || a.k == kDateTime) && (b.k == kDate || b.k == kDateTime):
		return a.t.Compare(b.t), true
	case a.k == kTime && b.k == kTime:
		return cmpFloat(a.n, b.n), true
	case a.k == kDuration && b.k == kDuration:
		return compareDurations(a.d, b.d), true
	}
	return 0, false
}

// equal reports FEEL equality: null equals only null, values of different
// kinds are not equal.
func equal(a, b *value) bool {
	switch {
	case a.k == kNull || b.k == kNull:
		return a.k == b.k
	case a.k == kBool && b.k == kBool:
		return a.b == b.b
	}
	c, ok := compare(a, b)
	return ok && c == 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareDurations orders two durations. Year-month durations compare exactly
// by months and day-time durations exactly by time; a mix of the two uses
// [iso8601.Duration.Approx] (a month is 30 days, a year 365).
func compareDurations(a, b iso8601.Duration) int {
	aYM := a.Days == 0 && a.Clock == 0
	bYM := b.Days == 0 && b.Clock == 0
	if aYM && bYM && (a.IsCalendar() || b.IsCalendar()) {
		am, bm := a.Years*12+a.Months, b.Years*12+b.Months
		if a.Negative {
			am = -am
		}
		if b.Negative {
			bm = -bm
		}
		return cmpInt(am, bm)
	}
	return cmpInt(int64(a.Approx()), int64(b.Approx()))
}

func cmpInt[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
