package feel

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

var vars = map[string]any{
	"orderId": "A-4711",
	"amount":  120.5,
	"count":   int64(3),
	"vip":     true,
	"none":    nil,
	"order": map[string]any{
		"id":       "O-1",
		"customer": map[string]any{"country": "DE"},
		"items":    []any{"a", "b"},
	},
	"placed": time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC),
}

func TestEval(t *testing.T) {
	tests := []struct {
		name, src string
		want      any
	}{
		{"name with marker", "=orderId", "A-4711"},
		{"legacy name", "orderId", "A-4711"},
		{"path", "=order.id", "O-1"},
		{"deep path", "order.customer.country", "DE"},
		{"missing variable", "=nope", nil},
		{"path through missing", "=nope.x.y", nil},
		{"path through string", "=orderId.x", nil},
		{"int normalised", "count", 3.0},
		{"string literal", `="gold"`, "gold"},
		{"escapes", `"a\"b\\c\u0041\n"`, "a\"b\\cA\n"},
		{"number", "=1.5", 1.5},
		{"leading dot number", ".5", 0.5},
		{"null", "null", nil},
		{"equal", `=orderId = "A-4711"`, true},
		{"not equal", `orderId != "A-4711"`, false},
		{"equal null", "none = null", true},
		{"equal missing null", "nope = null", true},
		{"equal different types", `amount = "120.5"`, false},
		{"less", "amount < 200", true},
		{"greater equal int", "count >= 3", true},
		{"compare null", "nope > 1", nil},
		{"compare strings", `"a" < "b"`, true},
		{"and", "amount > 100 and vip", true},
		{"and false short", "false and nope", false},
		{"and null", "true and nope", nil},
		{"or true short", "true or nope", true},
		{"or null", "false or nope", nil},
		{"or false", "false or false", false},
		{"not", "not(vip)", false},
		{"not null", "not(nope)", nil},
		{"precedence", "1 + 2 * 3", 7.0},
		{"parens", "(1 + 2) * 3", 9.0},
		{"unary minus", "-amount + 0.5", -120.0},
		{"division", "7 / 2", 3.5},
		{"division by zero", "1 / 0", nil},
		{"mismatched arithmetic", `1 + "a"`, nil},
		{"concat", `"order-" + orderId`, "order-A-4711"},
		{"if then", `if amount > 100 then "big" else "small"`, "big"},
		{"if null cond", `if nope then 1 else 2`, 2.0},
		{"nested if", `if vip then if count > 5 then "a" else "b" else "c"`, "b"},
		{"string of number", "string(count)", "3"},
		{"string of fraction", "string(amount)", "120.5"},
		{"string of bool", "string(vip)", "true"},
		{"string of null", "string(nope)", nil},
		{"number", `number("42.5")`, 42.5},
		{"number bad", `number("4x")`, nil},
		{"number nan", `number("NaN")`, nil},
		{"upper case", "upper case(orderId)", "A-4711"},
		{"lower case", `lower case("ABC")`, "abc"},
		{"contains", `contains(orderId, "47")`, true},
		{"contains non-string", `contains(amount, "1")`, nil},
		{"starts with", `starts with(orderId, "A-")`, true},
		{"ends with", `ends with(orderId, "x")`, false},
		{"string length", `string length("äbc")`, 3.0},
		{"is defined", "is defined(order.id)", true},
		{"is not defined", "is defined(order.nope)", false},
		{"list", `[1, "a", null]`, []any{1.0, "a", nil}},
		{"empty list", `[]`, []any{}},
		{"list equal", `order.items = ["a", "b"]`, true},
		{"date", `date("2026-01-31")`, time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"date compare", `placed > date("2026-01-01")`, true},
		{"date and time", `date and time("2026-01-31T10:00:00+01:00")`, time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"date plus months", `date("2026-01-31") + duration("P1M")`, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"var date plus duration", `placed + duration("PT2H") = date and time("2026-01-31T12:00:00Z")`, true},
		{"date minus duration", `date("2026-03-31") - duration("P1M")`, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"duration literal", `=duration("P14D")`, iso8601.MustParse("P14D")},
		{"temporal duration", `@"PT1H"`, iso8601.MustParse("PT1H")},
		{"temporal date", `@"2026-01-01"`, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"duration compare", `duration("P1D") < duration("PT25H")`, true},
		{"duration equal different notation", `duration("P1D") = duration("PT24H")`, true},
		{"calendar duration vs clock", `duration("P1M") > duration("P1D")`, nil},
		{"duration sum", `duration("P1D") + duration("PT1H") = duration("PT25H")`, true},
		{"unicode name", "größe", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			got, err := e.Eval(vars)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.src, err)
			}
			if !Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Eval(%q) = %#v, want %#v", tt.src, got, tt.want)
			}
			if e.String() != tt.src {
				t.Errorf("String() = %q, want %q", e.String(), tt.src)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      error
		msg       string
	}{
		{"empty", "", ErrSyntax, "empty expression"},
		{"only marker", "= ", ErrSyntax, "empty expression"},
		{"dangling operator", "=amount >", ErrSyntax, "unexpected end of expression"},
		{"unterminated string", `="abc`, ErrSyntax, "unterminated string"},
		{"bad character", "=a # b", ErrSyntax, `unexpected character '#'`},
		{"missing then", "if a else b", ErrSyntax, `expected "then"`},
		{"unclosed paren", "(1 + 2", ErrSyntax, `expected ")"`},
		{"bad duration literal", `duration("14 days")`, ErrSyntax, "duration(): "},
		{"bad date literal", `date("31.01.2026")`, ErrSyntax, `"31.01.2026" is not a date`},
		{"bad temporal", `@"noon"`, ErrSyntax, "not a date, date and time or duration"},
		{"arity", `contains("a")`, ErrSyntax, "contains() takes 2 arguments, got 1"},
		{"keyword as name", "then", ErrSyntax, `unexpected "then"`},
		{"unknown function", "sum([1, 2])", ErrUnsupported, "function sum()"},
		{"unknown multi-word function", "substring before(a, b)", ErrUnsupported, "names with spaces"},
		{"for", "for x in xs return x", ErrUnsupported, `"for" expressions`},
		{"some", "some x in xs satisfies x > 1", ErrUnsupported, `"some" expressions`},
		{"filter", "items[1]", ErrUnsupported, "filters and list indexes"},
		{"range", "[1..5]", ErrUnsupported, "ranges"},
		{"in", "x in (1, 2)", ErrUnsupported, `the "in" operator`},
		{"between", "x between 1 and 2", ErrUnsupported, `the "between" operator`},
		{"context", `{a: 1}`, ErrUnsupported, "contexts"},
		{"exponent", "2 ** 3", ErrUnsupported, "exponentiation"},
		{"named argument", `contains(string: "a", match: "b")`, ErrUnsupported, "named arguments"},
		{"name with spaces", "order total > 5", ErrUnsupported, "names with spaces (order total)"},
		{"too deep", strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), ErrUnsupported, "nested more than 64 levels"},
		{"too long", "a" + strings.Repeat(" + a", 3000), ErrUnsupported, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want error", tt.src)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Compile(%q) = %v, want it to wrap %v", tt.src, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Compile(%q) = %q, want it to contain %q", tt.src, err, tt.msg)
			}
		})
	}
}

func TestPath(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"=orderId", []string{"orderId"}},
		{"orderId", []string{"orderId"}},
		{" = order.id ", []string{"order", "id"}},
		{"=(order).customer.country", []string{"order", "customer", "country"}},
		{`=orderId + ""`, nil},
		{`="orderId"`, nil},
		{"=upper case(orderId)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, ok := MustCompile(tt.src).Path()
			if ok != (tt.want != nil) || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Path() = %v, %v; want %v", got, ok, tt.want)
			}
		})
	}
}

func TestConstant(t *testing.T) {
	v, ok := MustCompile(`=duration("P14D")`).Constant()
	if !ok || v != iso8601.MustParse("P14D") {
		t.Errorf("Constant() = %v, %v; want P14D", v, ok)
	}
	if _, ok := MustCompile(`=duration(d)`).Constant(); ok {
		t.Error("Constant() of a variable expression reported ok")
	}
}

func TestEvalUnsupportedValue(t *testing.T) {
	_, err := MustCompile("=x.y").Eval(map[string]any{"x": map[string]any{"y": struct{}{}}})
	if err == nil || !strings.Contains(err.Error(), "variable x.y: unsupported value type struct {}") {
		t.Errorf("Eval = %v, want unsupported value type error", err)
	}
}

func TestConcurrentEval(t *testing.T) {
	e := MustCompile(`if amount > 100 and contains(orderId, "47") then upper case(order.id) else null`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				v, err := e.Eval(vars)
				if err != nil || v != "O-1" {
					t.Errorf("Eval = %v, %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		want int
		ok   bool
	}{
		{"numbers", 1.0, 2, -1, true},
		{"strings", "b", "a", 1, true},
		{"equal dates", time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600)), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, true},
		{"bools", true, false, 0, false},
		{"mixed", 1.0, "1", 0, false},
		{"null", nil, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Compare(tt.a, tt.b)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Compare(%v, %v) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
			}
		})
	}
}
