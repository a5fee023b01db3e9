package feel

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

type node interface {
	eval(vars map[string]any) (any, error)
}

type litNode struct{ v any }

func (n *litNode) eval(map[string]any) (any, error) { return n.v, nil }

type pathNode struct{ names []string }

func (n *pathNode) eval(vars map[string]any) (any, error) {
	var cur any = vars
	for i, name := range n.names {
		m, ok := cur.(map[string]any)
		if !ok {
			if i > 0 {
				if ms, isStrings := cur.(map[string]string); isStrings {
					cur = ms[name]
					continue
				}
			}
			return nil, nil
		}
		cur = m[name]
	}
	v, err := normalize(cur)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", strings.Join(n.names, "."), err)
	}
	return v, nil
}

type memberNode struct {
	x    node
	name string
}

func (n *memberNode) eval(vars map[string]any) (any, error) {
	v, err := n.x.eval(vars)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	return normalize(m[n.name])
}

type listNode struct{ items []node }

func (n *listNode) eval(vars map[string]any) (any, error) {
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(vars)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type negNode struct{ x node }

func (n *negNode) eval(vars map[string]any) (any, error) {
	v, err := n.x.eval(vars)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case float64:
		return -x, nil
	case iso8601.Duration:
		return negate(x), nil
	}
	return nil, nil
}

type logicNode struct {
	or   bool
	a, b node
}

// eval applies FEEL's three-valued logic: false and x = false, true or x =
// true, otherwise null unless both sides are booleans.
func (n *logicNode) eval(vars map[string]any) (any, error) {
	av, err := n.a.eval(vars)
	if err != nil {
		return nil, err
	}
	a, aok := av.(bool)
	if aok && a == n.or { // true or ..., false and ...
		return a, nil
	}
	bv, err := n.b.eval(vars)
	if err != nil {
		return nil, err
	}
	b, bok := bv.(bool)
	if bok && b == n.or {
		return b, nil
	}
	if aok && bok {
		return !n.or, nil
	}
	return nil, nil
}

type ifNode struct{ c, a, b node }

func (n *ifNode) eval(vars map[string]any) (any, error) {
	c, err := n.c.eval(vars)
	if err != nil {
		return nil, err
	}
	if c == true {
		return n.a.eval(vars)
	}
	return n.b.eval(vars)
}

type binNode struct {
	op   string
	a, b node
}

func (n *binNode) eval(vars map[string]any) (any, error) {
	a, err := n.a.eval(vars)
	if err != nil {
		return nil, err
	}
	b, err := n.b.eval(vars)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "=":
		return Equal(a, b), nil
	case "!=":
		return !Equal(a, b), nil
	case "<", "<=", ">", ">=":
		c, ok := Compare(a, b)
		if !ok {
			return nil, nil
		}
		switch n.op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		default:
			return c >= 0, nil
		}
	}
	return arith(n.op, a, b), nil
}

func arith(op string, a, b any) any {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return nil
		}
		var r float64
		switch op {
		case "+":
			r = x + y
		case "-":
			r = x - y
		case "*":
			r = x * y
		case "/":
			if y == 0 {
				return nil
			}
			r = x / y
		}
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return nil
		}
		return r
	case string:
		if y, ok := b.(string); ok && op == "+" {
			return x + y
		}
	case time.Time:
		switch y := b.(type) {
		case iso8601.Duration:
			if op == "+" {
				return y.AddTo(x)
			}
			if op == "-" {
				return negate(y).AddTo(x)
			}
		case time.Time:
			if op == "-" {
				return iso8601.FromDuration(x.Sub(y))
			}
		}
	case iso8601.Duration:
		if y, ok := b.(time.Time); ok && op == "+" {
			return x.AddTo(y)
		}
		if y, ok := b.(iso8601.Duration); ok && (op == "+" || op == "-") {
			if op == "-" {
				y = negate(y)
			}
			return sumDurations(x, y)
		}
	}
	return nil
}

func negate(d iso8601.Duration) iso8601.Duration {
	return iso8601.Duration{Years: d.Years, Months: d.Months, Days: d.Days, Clock: d.Clock, Negative: !d.Negative}
}

// sumDurations adds two durations when the result has one sign in all parts.
func sumDurations(x, y iso8601.Duration) any {
	sx, sy := 1, 1
	if x.Negative {
		sx = -1
	}
	if y.Negative {
		sy = -1
	}
	ym := sx*(x.Years*12+x.Months) + sy*(y.Years*12+y.Months)
	days := sx*x.Days + sy*y.Days
	clock := time.Duration(sx)*x.Clock + time.Duration(sy)*y.Clock
	neg := ym < 0 || days < 0 || clock < 0
	if neg && (ym > 0 || days > 0 || clock > 0) {
		return nil
	}
	if neg {
		ym, days, clock = -ym, -days, -clock
	}
	return iso8601.Duration{Years: ym / 12, Months: ym % 12, Days: days, Clock: clock, Negative: neg}
}

// normalize maps Go values onto FEEL's value shapes.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, float64, string, bool, map[string]any, []any, time.Time, iso8601.Duration:
		return v, nil
	case int:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", x, err)
		}
		return f, nil
	case time.Duration:
		return iso8601.FromDuration(x), nil
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m, nil
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// Equal reports whether a and b are equal FEEL values. null equals only
// null; values of different types are not equal; numbers compare by value,
// dates by instant, durations by their parts.
func Equal(a, b any) bool {
	a, _ = normalize(a)
	b, _ = normalize(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case iso8601.Duration:
		y, ok := b.(iso8601.Duration)
		return ok && (x.IsZero() && y.IsZero() || x.Negative == y.Negative &&
			x.Years*12+x.Months == y.Years*12+y.Months && time.Duration(x.Days)*24*time.Hour+x.Clock == time.Duration(y.Days)*24*time.Hour+y.Clock)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// Compare orders a and b: -1, 0 or +1, and false when FEEL cannot order them
// (different types, null, booleans, lists, contexts, or a calendar duration
// against a clock duration).
func Compare(a, b any) (int, bool) {
	a, _ = normalize(a)
	b, _ = normalize(b)
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok {
			return cmp3(x < y, x > y), true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	case iso8601.Duration:
		y, ok := b.(iso8601.Duration)
		if !ok {
			return 0, false
		}
		xm, ym := signed(x, x.Years*12+x.Months), signed(y, y.Years*12+y.Months)
		xc := signed(x, int64(1)) * (int64(x.Days)*int64(24*time.Hour) + int64(x.Clock))
		yc := signed(y, int64(1)) * (int64(y.Days)*int64(24*time.Hour) + int64(y.Clock))
		switch {
		case xm == 0 && ym == 0:
			return cmp3(xc < yc, xc > yc), true
		case xc == 0 && yc == 0:
			return cmp3(xm < ym, xm > ym), true
		}
	}
	return 0, false
}

func signed[T int | int64](d iso8601.Duration, v T) T {
	if d.Negative {
		return -v
	}
	return v
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}
