package decisiontable

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tracker-dev/tracker/iso8601"
)

// tri is a FEEL truth value: true, false or null.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
)

// op is the operator of one positive unary test.
type op uint8

const (
	opEq op = iota
	opLT
	opLE
	opGT
	opGE
	opIn // interval
)

// positive is one simple positive unary test: a value, a comparison or an
// interval.
type positive struct {
	op             op
	lo, hi         value // lo is the operand of opEq and comparisons
	loOpen, hiOpen bool
}

// unaryTest is a parsed input entry (S-FEEL unary tests). It is built once at
// load time; match reads it without allocating.
type unaryTest struct {
	any   bool // "-" or empty: matches everything, null included
	not   bool // not(...)
	tests []positive
}

// match reports whether v satisfies the tests. A test that is null (e.g.
// comparing null with a number) does not match, and neither does its negation.
func (u *unaryTest) match(v *value) bool {
	if u.any {
		return true
	}
	r := triFalse
loop:
	for i := range u.tests {
		switch u.tests[i].eval(v) {
		case triTrue:
			r = triTrue
			break loop
		case triNull:
			r = triNull
		}
	}
	if u.not {
		return r == triFalse
	}
	return r == triTrue
}

func (p *positive) eval(v *value) tri {
	switch p.op {
	case opEq:
		if p.lo.k == kNull || v.k == kNull {
			return truth(p.lo.k == v.k)
		}
		if v.k == kBool || p.lo.k == kBool {
			if v.k != p.lo.k {
				return triNull
			}
			return truth(v.b == p.lo.b)
		}
		c, ok := compare(v, &p.lo)
		if !ok {
			return triNull
		}
		return truth(c == 0)
	case opIn:
		c1, ok1 := compare(v, &p.lo)
		c2, ok2 := compare(v, &p.hi)
		if !ok1 || !ok2 {
			return triNull
		}
		inLo := c1 > 0 || c1 == 0 && !p.loOpen
		inHi := c2 < 0 || c2 == 0 && !p.hiOpen
		return truth(inLo && inHi)
	}
	c, ok := compare(v, &p.lo)
	if !ok {
		return triNull
	}
	switch p.op {
	case opLT:
		return truth(c < 0)
	case opLE:
		return truth(c <= 0)
	case opGT:
		return truth(c > 0)
	default:
		return truth(c >= 0)
	}
}

func truth(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// literals returns the values the tests compare with, for type checks.
func (u *unaryTest) literals() []value {
	var vs []value
	for _, p := range u.tests {
		vs = append(vs, p.lo)
		if p.op == opIn {
			vs = append(vs, p.hi)
		}
	}
	return vs
}

// parser reads the FEEL subset from a token list.
type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// parseUnaryTests parses an input entry: "-", a comma-separated list of
// values, comparisons and intervals, or not(...) around such a list.
func parseUnaryTests(src string) (unaryTest, error) {
	s := strings.TrimSpace(src)
	if s == "" || s == "-" {
		return unaryTest{any: true}, nil
	}
	toks, err := lex(s)
	if err != nil {
		return unaryTest{}, err
	}
	p := &parser{toks: toks}
	var u unaryTest
	if t := p.peek(); t.kind == tName && t.text == "not" && p.peekAt(1).kind == tLParen {
		p.i += 2
		u.not = true
		if u.tests, err = p.positives(tRParen); err != nil {
			return unaryTest{}, err
		}
		if t := p.next(); t.kind != tRParen {
			return unaryTest{}, fmt.Errorf("not( is missing its closing parenthesis")
		}
		if t := p.peek(); t.kind != tEOF {
			return unaryTest{}, fmt.Errorf("unexpected %s after not(...); put all values inside the parentheses", t.describe())
		}
		return u, nil
	}
	if u.tests, err = p.positives(tEOF); err != nil {
		return unaryTest{}, err
	}
	if t := p.peek(); t.kind != tEOF {
		if prev := p.toks[p.i-1]; prev.kind == tNumber && t.kind == tName && prev.pos+len(prev.text) == t.pos {
			return unaryTest{}, fmt.Errorf("%s%s is not a number; for a duration write e.g. duration(\"PT1H\")", prev.text, t.text)
		}
		return unaryTest{}, fmt.Errorf("unexpected %s; separate values with commas", t.describe())
	}
	return u, nil
}

// positives parses a comma-separated list of positive tests up to end.
func (p *parser) positives(end tokKind) ([]positive, error) {
	var out []positive
	for {
		if t := p.peek(); t.kind == end || t.kind == tComma {
			if len(out) == 0 && t.kind == end {
				return nil, fmt.Errorf("expected a value, comparison or interval but found %s", t.describe())
			}
			return nil, fmt.Errorf("empty entry in the list: remove the extra comma")
		}
		pt, err := p.positive()
		if err != nil {
			return nil, err
		}
		out = append(out, pt)
		if p.peek().kind != tComma {
			return out, nil
		}
		p.next()
	}
}

func (p *parser) positive() (positive, error) {
	t := p.peek()
	switch t.kind {
	case tLT, tLE, tGT, tGE:
		p.next()
		v, err := p.endpoint()
		if err != nil {
			return positive{}, fmt.Errorf("after %s: %w", t.text, err)
		}
		if v.k == kBool {
			return positive{}, fmt.Errorf("%s %s: booleans have no order", t.text, v)
		}
		o := opGE
		switch t.kind {
		case tLT:
			o = opLT
		case tLE:
			o = opLE
		case tGT:
			o = opGT
		}
		return positive{op: o, lo: v}, nil
	case tLBracket, tLParen, tRBracket:
		return p.interval()
	case tEQ, tNE:
		return positive{}, fmt.Errorf("%s is not allowed in a unary test: write the value alone to test equality, or not(value)", t.text)
	}
	v, err := p.literal()
	if err != nil {
		return positive{}, err
	}
	return positive{op: opEq, lo: v}, nil
}

func (p *parser) interval() (positive, error) {
	open := p.next()
	lo, err := p.endpoint()
	if err != nil {
		return positive{}, fmt.Errorf("interval start: %w", err)
	}
	if t := p.next(); t.kind != tRange {
		return positive{}, fmt.Errorf("interval needs .. between start and end, found %s", t.describe())
	}
	hi, err := p.endpoint()
	if err != nil {
		return positive{}, fmt.Errorf("interval end: %w", err)
	}
	closeTok := p.next()
	if closeTok.kind != tRBracket && closeTok.kind != tRParen && closeTok.kind != tLBracket {
		return positive{}, fmt.Errorf("interval is not closed: end it with ] (included), ) or [ (excluded)")
	}
	iv := positive{op: opIn, lo: lo, hi: hi, loOpen: open.kind != tLBracket, hiOpen: closeTok.kind != tRBracket}
	if lo.k == kBool || hi.k == kBool {
		return positive{}, fmt.Errorf("interval of booleans: booleans have no order")
	}
	c, ok := compare(&lo, &hi)
	if !ok {
		return positive{}, fmt.Errorf("interval from %s to %s: start and end must have the same type", lo, hi)
	}
	if c > 0 {
		return positive{}, fmt.Errorf("interval from %s to %s is empty: its start is after its end", lo, hi)
	}
	return iv, nil
}

// endpoint is a literal that can be compared: anything but null.
func (p *parser) endpoint() (value, error) {
	v, err := p.literal()
	if err != nil {
		return v, err
	}
	if v.k == kNull {
		return v, fmt.Errorf("null cannot be compared; write null alone to test for a missing value")
	}
	return v, nil
}

// literal parses a FEEL literal: text, number, boolean, null, or one of the
// conversion functions date(), time(), date and time(), duration().
func (p *parser) literal() (value, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return stringValue(t.text), nil
	case tNumber:
		return parseNumber(t.text, false)
	case tMinus:
		switch n := p.peek(); n.kind {
		case tNumber:
			p.next()
			return parseNumber(n.text, true)
		case tName:
			if n.text == "duration" {
				v, err := p.literal()
				if err != nil {
					return v, err
				}
				v.d.Negative = !v.d.Negative
				return v, nil
			}
		}
		return value{}, fmt.Errorf("- must be the whole entry (any value) or come right before a number")
	case tName:
		switch t.text {
		case "true":
			return boolValue(true), nil
		case "false":
			return boolValue(false), nil
		case "null":
			return value{}, nil
		}
		fn := t.text
		if fn == "date" && p.peek().kind == tName && p.peek().text == "and" && p.peekAt(1).kind == tName && p.peekAt(1).text == "time" {
			p.i += 2
			fn = "date and time"
		}
		if p.peek().kind == tLParen {
			return p.call(fn)
		}
		name := t.text
		for p.peek().kind == tDot && p.peekAt(1).kind == tName {
			name += "." + p.peekAt(1).text
			p.i += 2
		}
		return value{}, fmt.Errorf("%s is a name, not a value: write %q for text (comparing with other inputs is not supported)", name, name)
	case tEOF:
		return value{}, fmt.Errorf("expected a value but the entry ends here")
	}
	return value{}, fmt.Errorf("expected a value but found %s", t.describe())
}

// call parses fn("literal") for the supported conversion functions.
func (p *parser) call(fn string) (value, error) {
	switch fn {
	case "date", "time", "date and time", "duration":
	default:
		return value{}, fmt.Errorf("function %s() is not supported; use date(), time(), date and time() or duration()", fn)
	}
	p.next() // (
	arg := p.next()
	if arg.kind != tString {
		return value{}, fmt.Errorf("%s() needs text in double quotes, e.g. %s", fn, example(fn))
	}
	if t := p.next(); t.kind != tRParen {
		return value{}, fmt.Errorf("%s(...) is missing its closing parenthesis", fn)
	}
	switch fn {
	case "date":
		tm, err := parseDate(arg.text)
		if err != nil {
			return value{}, fmt.Errorf("date(): %w", err)
		}
		return value{k: kDate, t: tm}, nil
	case "date and time":
		tm, err := parseDateTime(arg.text)
		if err != nil {
			return value{}, fmt.Errorf("date and time(): %w", err)
		}
		return value{k: kDateTime, t: tm}, nil
	case "time":
		secs, err := parseTime(arg.text)
		if err != nil {
			return value{}, fmt.Errorf("time(): %w", err)
		}
		return value{k: kTime, n: secs}, nil
	default:
		d, err := iso8601.Parse(arg.text)
		if err != nil {
			return value{}, fmt.Errorf("duration(): %q is not an ISO 8601 duration (expected e.g. P1D, PT1H, P1M)", arg.text)
		}
		return durationValue(d), nil
	}
}

func example(fn string) string {
	switch fn {
	case "date":
		return `date("2026-01-31")`
	case "time":
		return `time("10:30:00")`
	case "date and time":
		return `date and time("2026-01-31T10:30:00Z")`
	}
	return `duration("P1D")`
}

func parseNumber(text string, neg bool) (value, error) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return value{}, fmt.Errorf("%s is not a number", text)
	}
	if neg {
		f = -f
	}
	return numberValue(f), nil
}
