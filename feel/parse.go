package feel

import (
	"fmt"
	"strings"
)

type parser struct {
	lx    lexer
	toks  []token
	i     int
	depth int
}

func (p *parser) peek(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1] // EOF
}

func (p *parser) advance() token {
	t := p.peek(0)
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (t token) is(kind tokKind, text string) bool { return t.kind == kind && t.text == text }

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tTemporal:
		return fmt.Sprintf("@%q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

func (p *parser) parseAll() (node, error) {
	for {
		t, err := p.lx.next()
		if err != nil {
			return nil, err
		}
		p.toks = append(p.toks, t)
		if t.kind == tEOF {
			break
		}
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(0); t.kind != tEOF {
		prev := p.toks[p.i-1]
		if t.kind == tName && prev.kind == tName {
			return nil, p.lx.unsupported(t.pos, "names with spaces (%s %s) or unknown operator %q", prev.text, t.text, t.text)
		}
		return nil, p.lx.errorf(t.pos, "unexpected %s", t.describe())
	}
	return fold(n)
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.lx.unsupported(pos, "expression nested more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) expr() (node, error) {
	t := p.peek(0)
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if t.kind == tName {
		switch t.text {
		case "if":
			p.advance()
			c, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectName("then"); err != nil {
				return nil, err
			}
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectName("else"); err != nil {
				return nil, err
			}
			b, err := p.expr()
			if err != nil {
				return nil, err
			}
			return &ifNode{c, a, b}, nil
		case "for", "some", "every", "function":
			return nil, p.lx.unsupported(t.pos, "%q expressions", t.text)
		}
	}
	return p.or()
}

func (p *parser) expectName(word string) error {
	t := p.advance()
	if !t.is(tName, word) {
		return p.lx.errorf(t.pos, "expected %q, found %s", word, t.describe())
	}
	return nil
}

func (p *parser) or() (node, error) {
	a, err := p.and()
	for err == nil && p.peek(0).is(tName, "or") {
		p.advance()
		var b node
		if b, err = p.and(); err == nil {
			a = &logicNode{or: true, a: a, b: b}
		}
	}
	return a, err
}

func (p *parser) and() (node, error) {
	a, err := p.cmp()
	for err == nil && p.peek(0).is(tName, "and") {
		p.advance()
		var b node
		if b, err = p.cmp(); err == nil {
			a = &logicNode{a: a, b: b}
		}
	}
	return a, err
}

var cmpOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) cmp() (node, error) {
	a, err := p.add()
	if err != nil {
		return nil, err
	}
	t := p.peek(0)
	if t.kind == tOp && cmpOps[t.text] {
		p.advance()
		b, err := p.add()
		if err != nil {
			return nil, err
		}
		return &binNode{op: t.text, a: a, b: b}, nil
	}
	if t.kind == tName && (t.text == "between" || t.text == "in" || t.text == "instance") {
		return nil, p.lx.unsupported(t.pos, "the %q operator", t.text)
	}
	return a, nil
}

func (p *parser) add() (node, error) {
	a, err := p.mul()
	for err == nil && (p.peek(0).is(tOp, "+") || p.peek(0).is(tOp, "-")) {
		op := p.advance().text
		var b node
		if b, err = p.mul(); err == nil {
			a = &binNode{op: op, a: a, b: b}
		}
	}
	return a, err
}

func (p *parser) mul() (node, error) {
	a, err := p.unary()
	for err == nil {
		t := p.peek(0)
		if t.is(tOp, "**") {
			return nil, p.lx.unsupported(t.pos, "exponentiation")
		}
		if !t.is(tOp, "*") && !t.is(tOp, "/") {
			break
		}
		p.advance()
		var b node
		if b, err = p.unary(); err == nil {
			a = &binNode{op: t.text, a: a, b: b}
		}
	}
	return a, err
}

func (p *parser) unary() (node, error) {
	t := p.peek(0)
	if t.is(tOp, "-") {
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.advance()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &negNode{x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek(0)
		switch {
		case t.is(tOp, "."):
			p.advance()
			n := p.advance()
			if n.kind != tName {
				return nil, p.lx.errorf(n.pos, "expected a name after \".\", found %s", n.describe())
			}
			if pn, ok := x.(*pathNode); ok {
				x = &pathNode{names: append(append([]string(nil), pn.names...), n.text)}
			} else {
				x = &memberNode{x: x, name: n.text}
			}
		case t.is(tOp, "["):
			return nil, p.lx.unsupported(t.pos, "filters and list indexes")
		case t.is(tOp, ".."):
			return nil, p.lx.unsupported(t.pos, "ranges")
		default:
			return x, nil
		}
	}
}

// keywords that cannot be variable names.
var reserved = map[string]bool{"and": true, "or": true, "then": true, "else": true, "if": true,
	"for": true, "some": true, "every": true, "in": true, "return": true, "satisfies": true,
	"between": true, "instance": true, "of": true, "function": true, "external": true}

func (p *parser) primary() (node, error) {
	t := p.advance()
	switch t.kind {
	case tNumber:
		return &litNode{t.num}, nil
	case tString:
		return &litNode{t.text}, nil
	case tTemporal:
		v, err := temporal(t.text)
		if err != nil {
			return nil, p.lx.errorf(t.pos, "%v", err)
		}
		return &litNode{v}, nil
	case tEOF:
		return nil, p.lx.errorf(t.pos, "unexpected end of expression")
	case tOp:
		switch t.text {
		case "(":
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if c := p.advance(); !c.is(tOp, ")") {
				return nil, p.lx.errorf(c.pos, "expected \")\", found %s", c.describe())
			}
			return x, nil
		case "[":
			items, err := p.list(t, "]")
			if err != nil {
				return nil, err
			}
			return &listNode{items}, nil
		case "{":
			return nil, p.lx.unsupported(t.pos, "contexts {...}")
		}
		return nil, p.lx.errorf(t.pos, "unexpected %s", t.describe())
	}
	// A name: literal keyword, built-in call or variable.
	switch t.text {
	case "true":
		return &litNode{true}, nil
	case "false":
		return &litNode{false}, nil
	case "null":
		return &litNode{nil}, nil
	}
	p.i-- // look at the name again for multi-word built-ins
	for words := 3; words >= 1; words-- {
		parts := make([]string, 0, words)
		ok := true
		for k := range words {
			w := p.peek(k)
			if w.kind != tName {
				ok = false
				break
			}
			parts = append(parts, w.text)
		}
		if !ok || !p.peek(words).is(tOp, "(") {
			continue
		}
		name := strings.Join(parts, " ")
		fn, known := builtins[name]
		if !known {
			if words == 1 {
				return nil, p.lx.unsupported(t.pos, "function %s()", name)
			}
			continue
		}
		p.i += words
		open := p.advance()
		args, err := p.list(open, ")")
		if err != nil {
			return nil, err
		}
		if len(args) < fn.min || len(args) > fn.max {
			return nil, p.lx.errorf(t.pos, "%s() takes %s, got %d", name, fn.arity(), len(args))
		}
		return &callNode{name: name, fn: fn, args: args}, nil
	}
	p.advance()
	if reserved[t.text] {
		return nil, p.lx.errorf(t.pos, "unexpected %q", t.text)
	}
	return &pathNode{names: []string{t.text}}, nil
}

// list parses comma-separated expressions up to the closing token.
func (p *parser) list(open token, closing string) ([]node, error) {
	var items []node
	if p.peek(0).is(tOp, closing) {
		p.advance()
		return items, nil
	}
	for {
		if p.peek(0).kind == tName && p.peek(1).is(tOp, ":") {
			return nil, p.lx.unsupported(p.peek(0).pos, "named arguments")
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		t := p.advance()
		if t.is(tOp, closing) {
			return items, nil
		}
		if !t.is(tOp, ",") {
			return nil, p.lx.errorf(t.pos, "expected \",\" or %q after item of %q at offset %d, found %s", closing, open.text, open.pos, t.describe())
		}
	}
}

// fold evaluates calls of the conversion built-ins on literal arguments at
// compile time, so @"P14D", duration("P14D") and date("2026-01-01") become
// constants and a malformed literal fails Compile.
func fold(n node) (node, error) {
	var err error
	switch x := n.(type) {
	case *callNode:
		all := true
		for i, a := range x.args {
			if x.args[i], err = fold(a); err != nil {
				return nil, err
			}
			if _, ok := x.args[i].(*litNode); !ok {
				all = false
			}
		}
		if !all || !x.fn.strictLiteral {
			return x, nil
		}
		args := make([]any, len(x.args))
		for i, a := range x.args {
			args[i] = a.(*litNode).v
		}
		v, ferr := x.fn.literal(args)
		if ferr != nil {
			return nil, fmt.Errorf("%s(): %v: %w", x.name, ferr, ErrSyntax)
		}
		return &litNode{v}, nil
	case *binNode:
		if x.a, err = fold(x.a); err == nil {
			x.b, err = fold(x.b)
		}
	case *logicNode:
		if x.a, err = fold(x.a); err == nil {
			x.b, err = fold(x.b)
		}
	case *negNode:
		x.x, err = fold(x.x)
	case *ifNode:
		if x.c, err = fold(x.c); err == nil {
			if x.a, err = fold(x.a); err == nil {
				x.b, err = fold(x.b)
			}
		}
	case *memberNode:
		x.x, err = fold(x.x)
	case *listNode:
		for i, a := range x.items {
			if x.items[i], err = fold(a); err != nil {
				break
			}
		}
	}
	return n, err
}
