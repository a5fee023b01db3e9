// Package feel implements the subset of FEEL (Friendly Enough Expression
// Language, DMN 1.3) that tracking models and decision tables use:
// correlation keys (=orderId, legacy orderId, =order.id), sequence-flow
// conditions and DMN input expressions.
//
// The subset:
//
//   - names and paths: orderId, order.id, payload.customer.country
//   - literals: "strings" (with \" \\ \n \t \uXXXX escapes), numbers (1, 2.5, .5),
//     true, false, null, lists [1, 2], temporal literals @"P14D" and @"2026-01-01"
//   - comparisons = != < <= > >= (numbers, strings, booleans, dates, durations)
//   - and, or, not(x), with FEEL's three-valued logic (null when undecided)
//   - arithmetic + - * / and unary minus; string + string concatenates;
//     date and time + duration moves the date calendar-exactly
//   - if c then a else b
//   - built-ins: string(x), number(s), upper case(s), lower case(s),
//     contains(s, t), starts with(s, t), ends with(s, t), string length(s),
//     date(s), date and time(s), duration(s), is defined(x)
//
// Anything else (for/some/every, filters, ranges, contexts, function
// definitions, other built-ins, names with spaces) fails [Compile] with an
// error wrapping [ErrUnsupported]; malformed text wraps [ErrSyntax].
//
// Values follow encoding/json's shapes: string, float64, bool, nil,
// map[string]any, []any; also time.Time for dates and [iso8601.Duration] for
// durations. Other Go integer and float types in variables are accepted and
// treated as numbers. As in FEEL, an operation on values of the wrong type,
// a missing variable or a path through a non-context yields null (nil), not
// an error.
//
// Implementation note: the issue suggested compiling to expr-lang/expr. We
// need our own parser anyway to recognise FEEL's syntax (= equality,
// multi-word built-ins such as "upper case", if/then/else) and to reject the
// constructs outside the subset with a precise message; FEEL's null
// semantics would then need a wrapper around every expr operator. Evaluating
// the small immutable syntax tree directly is simpler, allocation-light and
// needs no reflection, so that is what [Expression.Eval] does.
package feel

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is wrapped by [Compile] errors for FEEL that is valid but
// outside the subset this package implements.
var ErrUnsupported = errors.New("FEEL outside the supported subset")

// ErrSyntax is wrapped by [Compile] errors for text that is not FEEL at all.
var ErrSyntax = errors.New("FEEL syntax error")

// maxSource bounds the expression length; models never need more.
const maxSource = 8 << 10

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 64

// Expression is a compiled FEEL expression. It is immutable, and Eval is safe
// for concurrent use.
type Expression struct {
	src  string
	root node
	path []string // set when the expression is a plain name or path
}

// Compile parses src. A leading "=" (Zeebe's expression marker) is optional:
// "=orderId" and the legacy "orderId" compile to the same expression.
func Compile(src string) (*Expression, error) {
	body := strings.TrimSpace(src)
	body = strings.TrimPrefix(body, "=")
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("compile %q: empty expression: %w", src, ErrSyntax)
	}
	if len(body) > maxSource {
		return nil, fmt.Errorf("compile FEEL expression: longer than %d bytes: %w", maxSource, ErrUnsupported)
	}
	p := &parser{lx: lexer{src: body}}
	root, err := p.parseAll()
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", src, err)
	}
	e := &Expression{src: src, root: root}
	if pn, ok := root.(*pathNode); ok {
		e.path = pn.names
	}
	return e, nil
}

// MustCompile is Compile for expressions in code and tests; it panics on error.
func MustCompile(src string) *Expression {
	e, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text as given to [Compile].
func (e *Expression) String() string {
	if e == nil {
		return ""
	}
	return e.src
}

// Path returns the variable path when the expression is nothing but a name or
// a dotted path (orderId → [orderId], order.id → [order id]), so that callers
// can look the value up without evaluating.
func (e *Expression) Path() ([]string, bool) {
	if e == nil || e.path == nil {
		return nil, false
	}
	return append([]string(nil), e.path...), true
}

// Eval evaluates the expression against vars (which may be nil). Missing
// variables are null. The error is non-nil only when a variable holds a Go
// value of a type FEEL cannot represent.
func (e *Expression) Eval(vars map[string]any) (any, error) {
	return e.root.eval(vars)
}

// Constant returns the value of an expression that reads no variables after
// compile-time folding, such as "P14D" literals: =duration("P14D"),
// =@"2026-01-01T00:00:00Z", ="gold".
func (e *Expression) Constant() (any, bool) {
	if e == nil {
		return nil, false
	}
	if l, ok := e.root.(*litNode); ok {
		return l.v, true
	}
	return nil, false
}

// MarshalText returns the source text, so an Expression encodes as a JSON string.
func (e *Expression) MarshalText() ([]byte, error) { return []byte(e.String()), nil }
