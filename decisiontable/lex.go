package decisiontable

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a FEEL token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tString
	tNumber
	tName
	tLParen
	tRParen
	tLBracket
	tRBracket
	tComma
	tRange // ..
	tDot
	tLT
	tLE
	tGT
	tGE
	tEQ
	tNE
	tMinus
)

type token struct {
	kind tokKind
	text string // source text; for tString the unescaped value
	pos  int
}

// describe names the token the way an analyst sees it in the cell.
func (t token) describe() string {
	if t.kind == tEOF {
		return "the end of the text"
	}
	return strconv.Quote(t.text)
}

// lex splits FEEL source into tokens. The whole input is scanned at once:
// tables are parsed once at load time.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case isSpace(src[i:]):
			_, n := utf8.DecodeRuneInString(src[i:])
			i += n
		case c == '"':
			s, n, err := lexString(src[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, i})
			i += n
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			// A dot starts a fraction unless it is the ".." of an interval.
			if j < len(src) && src[j] == '.' && !(j+1 < len(src) && src[j+1] == '.') {
				j++
				for j < len(src) && src[j] >= '0' && src[j] <= '9' {
					j++
				}
			}
			toks = append(toks, token{tNumber, src[i:j], i})
			i = j
		case isNameStart(src[i:]):
			j := i
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if !(r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				j += n
			}
			toks = append(toks, token{tName, src[i:j], i})
			i = j
		default:
			k, n := punct(src[i:])
			if n == 0 {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, fmt.Errorf("unexpected character %q", r)
			}
			toks = append(toks, token{k, src[i : i+n], i})
			i += n
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

func isSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

func isNameStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || r == '$' || unicode.IsLetter(r)
}

func punct(s string) (tokKind, int) {
	two := ""
	if len(s) >= 2 {
		two = s[:2]
	}
	switch two {
	case "..":
		return tRange, 2
	case "<=":
		return tLE, 2
	case ">=":
		return tGE, 2
	case "!=":
		return tNE, 2
	}
	switch s[0] {
	case '(':
		return tLParen, 1
	case ')':
		return tRParen, 1
	case '[':
		return tLBracket, 1
	case ']':
		return tRBracket, 1
	case ',':
		return tComma, 1
	case '.':
		return tDot, 1
	case '<':
		return tLT, 1
	case '>':
		return tGT, 1
	case '=':
		return tEQ, 1
	case '-':
		return tMinus, 1
	}
	return tEOF, 0
}

var errUnclosedString = errors.New(`text is missing its closing double quote (")`)

// lexString reads a FEEL string literal at the start of s and returns its
// value and length.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, errUnclosedString
			}
			i++
			switch e := s[i]; e {
			case '"', '\\', '\'', '/':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, fmt.Errorf(`escape \u needs four hex digits`)
				}
				r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil {
					return "", 0, fmt.Errorf(`escape \u%s needs four hex digits`, s[i+1:i+5])
				}
				b.WriteRune(rune(r))
				i += 4
			default:
				return "", 0, fmt.Errorf(`unknown escape \%c in text (use \" for a quote, \\ for a backslash)`, e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errUnclosedString
}
