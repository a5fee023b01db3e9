package decisiontable

import (
	"testing"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

func date(s string) value {
	t, err := parseDate(s)
	if err != nil {
		panic(err)
	}
	return value{k: kDate, t: t}
}

func dateTime(s string) value {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return value{k: kDateTime, t: t}
}

func dur(s string) value { return durationValue(iso8601.MustParse(s)) }

func timeOfDay(s string) value {
	secs, err := parseTime(s)
	if err != nil {
		panic(err)
	}
	return value{k: kTime, n: secs}
}

func TestUnaryTestMatch(t *testing.T) {
	null := value{}
	str, num := stringValue, numberValue
	tests := []struct {
		test string
		in   value
		want bool
	}{
		{"-", str("x"), true},
		{"-", null, true},
		{"", num(3), true},
		{`"a"`, str("a"), true},
		{`"a"`, str("b"), false},
		{`"a"`, null, false},
		{`"a"`, num(1), false},
		{`"a","b"`, str("b"), true},
		{`"a", "b" , "c"`, str("d"), false},
		{`"a\"b"`, str(`a"b`), true},
		{`"\u00e9t\u00e9"`, str("été"), true},
		{"< 10", num(9), true},
		{"< 10", num(10), false},
		{"< 10", null, false},
		{"< 10", str("9"), false},
		{"<= 10", num(10), true},
		{"> 10", num(10), false},
		{"> 10", num(10.5), true},
		{">= 10", num(10), true},
		{">= 10", num(9.99), false},
		{"-5", num(-5), true},
		{"< -1.5", num(-2), true},
		{".5", num(0.5), true},
		{"[1..5]", num(1), true},
		{"[1..5]", num(5), true},
		{"[1..5]", num(0), false},
		{"[1..5]", num(6), false},
		{"(1..5]", num(1), false},
		{"(1..5]", num(5), true},
		{"]1..5[", num(1), false},
		{"]1..5[", num(5), false},
		{"]1..5[", num(3), true},
		{"[1..5)", num(5), false},
		{"[1..5]", null, false},
		{`["a".."m"]`, str("k"), true},
		{"< 0, > 100", num(101), true},
		{"< 0, > 100", num(50), false},
		{`not("a")`, str("a"), false},
		{`not("a")`, str("b"), true},
		{`not("a")`, null, true}, // null = "a" is false
		{`not("a","b")`, str("b"), false},
		{"not(< 10)", num(10), true},
		{"not(< 10)", null, false}, // null < 10 is null, and so is its negation
		{`not("a")`, num(5), false},
		{"null", null, true},
		{"null", str("x"), false},
		{"not(null)", str("x"), true},
		{"not(null)", null, false},
		{`null, "x"`, str("x"), true},
		{"true", boolValue(true), true},
		{"true", boolValue(false), false},
		{"false", boolValue(false), true},
		{"true", str("true"), false},
		{`>= date("2026-01-01")`, date("2026-01-01"), true},
		{`>= date("2026-01-01")`, date("2025-12-31"), false},
		{`>= date("2026-01-01")`, dateTime("2026-01-01T10:00:00Z"), true},
		{`[date("2026-01-01")..date("2026-01-31")]`, date("2026-01-31"), true},
		{`date("2026-01-01")`, date("2026-01-01"), true},
		{`date and time("2026-01-01T10:00:00Z")`, dateTime("2026-01-01T12:00:00+02:00"), true},
		{`< date and time("2026-01-01T10:00:00Z")`, dateTime("2026-01-01T10:00:01+00:00"), false},
		{`> duration("P1D")`, dur("PT25H"), true},
		{`> duration("P1D")`, dur("PT24H"), false},
		{`duration("P1D")`, dur("PT24H"), true},
		{`[duration("PT1H")..duration("P1D")]`, dur("PT2H"), true},
		{`< duration("P1M")`, dur("P20D"), true},
		{`> duration("P1Y")`, dur("P13M"), true},
		{`duration("P1Y")`, dur("P12M"), true},
		{`> -duration("PT1H")`, dur("PT0S"), true},
		{`time("10:00:00")`, timeOfDay("10:00:00"), true},
		{`< time("12:00")`, timeOfDay("11:59:59"), true},
		{`< time("12:00")`, str("11:00"), false},
	}
	for _, tc := range tests {
		t.Run(tc.test+" on "+tc.in.String(), func(t *testing.T) {
			u, err := parseUnaryTests(tc.test)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := u.match(&tc.in); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnaryTestErrors(t *testing.T) {
	tests := []struct{ test, want string }{
		{"DECODE_ERROR", `DECODE_ERROR is a name, not a value: write "DECODE_ERROR" for text (comparing with other inputs is not supported)`},
		{"payload.kind", `payload.kind is a name, not a value: write "payload.kind" for text (comparing with other inputs is not supported)`},
		{`"abc`, `text is missing its closing double quote (")`},
		{`"\q"`, `unknown escape \q in text (use \" for a quote, \\ for a backslash)`},
		{`"\u12"`, `escape \u needs four hex digits`},
		{"[1..5", "interval is not closed: end it with ] (included), ) or [ (excluded)"},
		{"[5..1]", "interval from 5 to 1 is empty: its start is after its end"},
		{`[1.."a"]`, `interval from 1 to "a": start and end must have the same type`},
		{"[1 5]", `interval needs .. between start and end, found "5"`},
		{"[true..false]", "interval of booleans: booleans have no order"},
		{"< true", "< true: booleans have no order"},
		{"<", "after <: expected a value but the entry ends here"},
		{"< null", "after <: null cannot be compared; write null alone to test for a missing value"},
		{"= 5", "= is not allowed in a unary test: write the value alone to test equality, or not(value)"},
		{"!= 5", "!= is not allowed in a unary test: write the value alone to test equality, or not(value)"},
		{`not("a"`, "not( is missing its closing parenthesis"},
		{`not("a"), "b"`, `unexpected "," after not(...); put all values inside the parentheses`},
		{"not()", `expected a value, comparison or interval but found ")"`},
		{`"a" "b"`, `unexpected "b"; separate values with commas`},
		{`"a",,"b"`, "empty entry in the list: remove the extra comma"},
		{`"a",`, "empty entry in the list: remove the extra comma"},
		{`"a", -`, "- must be the whole entry (any value) or come right before a number"},
		{`foo("x")`, "function foo() is not supported; use date(), time(), date and time() or duration()"},
		{`date("2026-13-01")`, `date(): "2026-13-01" is not a date (expected e.g. 2026-01-31)`},
		{`date(2026)`, `date() needs text in double quotes, e.g. date("2026-01-31")`},
		{`date("2026-01-01"`, "date(...) is missing its closing parenthesis"},
		{`duration("1 day")`, `duration(): "1 day" is not an ISO 8601 duration (expected e.g. P1D, PT1H, P1M)`},
		{`time("25:00")`, `time(): "25:00" is not a time (expected e.g. 10:30:00)`},
		{`date and time("tomorrow")`, `date and time(): "tomorrow" is not a date and time (expected e.g. 2026-01-31T10:00:00Z)`},
		{"? > 5", "unexpected character '?'"},
		{"1e5", `1e5 is not a number; for a duration write e.g. duration("PT1H")`},
		{"< 1h", `1h is not a number; for a duration write e.g. duration("PT1H")`},
		{")", `expected a value but found ")"`},
	}
	for _, tc := range tests {
		t.Run(tc.test, func(t *testing.T) {
			_, err := parseUnaryTests(tc.test)
			if err == nil {
				t.Fatalf("parse succeeded, want error %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}
