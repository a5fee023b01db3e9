package feel

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tNumber
	tString
	tTemporal // @"..."
	tOp       // punctuation and operators
)

type token struct {
	kind tokKind
	text string // name, operator, or the decoded string literal
	num  float64
	pos  int // byte offset in the source
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s: %w", pos, fmt.Sprintf(format, args...), ErrSyntax)
}

func (l *lexer) unsupported(pos int, format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s: %w", pos, fmt.Sprintf(format, args...), ErrUnsupported)
}

func isNameStart(r rune) bool { return r == '_' || r == '?' || unicode.IsLetter(r) }
func isNamePart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// next returns the next token.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		l.pos += n
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '"':
		s, err := l.stringLit()
		return token{kind: tString, text: s, pos: start}, err
	case c == '@':
		l.pos++
		if l.pos >= len(l.src) || l.src[l.pos] != '"' {
			return token{}, l.errorf(start, `expected a string after "@"`)
		}
		s, err := l.stringLit()
		return token{kind: tTemporal, text: s, pos: start}, err
	case c >= '0' && c <= '9' || c == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9':
		for l.pos < len(l.src) && (l.src[l.pos] >= '0' && l.src[l.pos] <= '9' || l.src[l.pos] == '.') {
			if l.src[l.pos] == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '.' {
				break // range "1..5"
			}
			l.pos++
		}
		text := l.src[start:l.pos]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, l.errorf(start, "bad number %q", text)
		}
		return token{kind: tNumber, text: text, num: f, pos: start}, nil
	}
	r, n := utf8.DecodeRuneInString(l.src[l.pos:])
	if r == utf8.RuneError && n <= 1 {
		return token{}, l.errorf(start, "invalid UTF-8")
	}
	if isNameStart(r) {
		l.pos += n
		for l.pos < len(l.src) {
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if !isNamePart(r) {
				break
			}
			l.pos += n
		}
		return token{kind: tName, text: l.src[start:l.pos], pos: start}, nil
	}
	for _, op := range []string{"!=", "<=", ">=", "**", "..", "(", ")", "[", "]", "{", "}", ",", ".", "=", "<", ">", "+", "-", "*", "/", ":"} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tOp, text: op, pos: start}, nil
		}
	}
	return token{}, l.errorf(start, "unexpected character %q", r)
}

func (l *lexer) stringLit() (string, error) {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return b.String(), nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return "", l.errorf(l.pos, "unfinished escape")
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case '"', '\\', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'u':
				if l.pos+4 > len(l.src) {
					return "", l.errorf(l.pos-2, `bad \u escape`)
				}
				v, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 16)
				if err != nil {
					return "", l.errorf(l.pos-2, `bad \u escape`)
				}
				b.WriteRune(rune(v))
				l.pos += 4
			default:
				return "", l.errorf(l.pos-2, "unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", l.errorf(start, "unterminated string")
}
