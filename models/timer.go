package models

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/feel"
	"github.com/tracker-dev/tracker/iso8601"
)

// ParseTimer reads a timer definition of the given kind as written in a model:
//
//	timeDuration  P14D, PT1H30M, P1M, =duration("P14D"), =@"PT1H", ="P3D"
//	timeDate      2026-01-01T09:00:00Z (zone required), =date and time("2026-01-01T09:00:00@Europe/Berlin")
//	timeCycle     R3/PT1H, R/P1D, R3/2026-01-01T00:00:00Z/PT1H, or those strings as FEEL literals
//
// Timer expressions that read process variables are not supported.
func ParseTimer(kind TimerKind, text string) (*Timer, error) {
	t := &Timer{Kind: kind, Text: text}
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, fmt.Errorf("the %s is empty", kind)
	}
	var lit any = s
	if strings.HasPrefix(s, "=") {
		expr, err := feel.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("the %s %q is not a supported FEEL expression: %s", kind, text, feelReason(err))
		}
		v, ok := expr.Constant()
		if !ok {
			return nil, fmt.Errorf("the %s %q reads variables; only literal timers are supported (e.g. P14D or =duration(\"P14D\"))", kind, text)
		}
		lit = v
	}
	switch kind {
	case TimerDuration:
		switch v := lit.(type) {
		case iso8601.Duration:
			t.Duration = v
		case string:
			d, err := iso8601.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("the timeDuration %q is not an ISO 8601 duration (expected e.g. P14D, PT1H, P1M)", text)
			}
			t.Duration = d
		default:
			return nil, fmt.Errorf("the timeDuration %q is not a duration", text)
		}
		if t.Duration.Negative {
			return nil, fmt.Errorf("the timeDuration %q is negative", text)
		}
	case TimerDate:
		switch v := lit.(type) {
		case time.Time:
			t.Date = v
		case string:
			d, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				if _, err2 := feel.ParseDateTime(v); err2 == nil && !strings.Contains(v, "@") {
					return nil, fmt.Errorf("the timeDate %q has no time zone; add one, e.g. 2026-01-01T09:00:00Z or +01:00", text)
				}
				return nil, fmt.Errorf("the timeDate %q is not an ISO 8601 date and time (expected e.g. 2026-01-01T09:00:00Z)", text)
			}
			t.Date = d
		default:
			return nil, fmt.Errorf("the timeDate %q is not a date and time", text)
		}
	case TimerCycle:
		v, ok := lit.(string)
		if !ok {
			if d, isDur := lit.(iso8601.Duration); isDur {
				v = "R/" + d.String() // FEEL duration as a cycle: repeat forever
			} else {
				return nil, fmt.Errorf("the timeCycle %q is not a repeating interval", text)
			}
		}
		if err := parseCycle(t, v); err != nil {
			return nil, fmt.Errorf("the timeCycle %q %w", text, err)
		}
	default:
		return nil, fmt.Errorf("unknown timer kind %q", kind)
	}
	return t, nil
}

var errCycle = errors.New("is not a repeating interval (expected e.g. R3/PT1H, R/P1D or R3/2026-01-01T00:00:00Z/PT1H)")

func parseCycle(t *Timer, s string) error {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || !strings.HasPrefix(parts[0], "R") {
		if len(strings.Fields(s)) >= 5 {
			return errors.New("looks like a cron expression; cron timers are not supported, use R/P1D-style cycles")
		}
		return errCycle
	}
	t.Repeat = -1
	if n := parts[0][1:]; n != "" {
		r, err := strconv.Atoi(n)
		if err != nil || r < 1 {
			return errCycle
		}
		t.Repeat = r
	}
	period := parts[len(parts)-1]
	if len(parts) == 3 {
		start, err := time.Parse(time.RFC3339Nano, parts[1])
		if err != nil {
			return fmt.Errorf("has a start %q that is not a date and time with zone (e.g. 2026-01-01T00:00:00Z)", parts[1])
		}
		t.Date = start
	}
	d, err := iso8601.Parse(period)
	if err != nil || d.Negative || d.IsZero() {
		return fmt.Errorf("has a period %q that is not a positive ISO 8601 duration (e.g. PT1H)", period)
	}
	t.Duration = d
	return nil
}

func (b *builder) timer(e *Element, def *xnode) {
	var found []*xnode
	for _, c := range def.children {
		if c.name.Space == NamespaceBPMN && (c.name.Local == string(TimerDuration) || c.name.Local == string(TimerDate) || c.name.Local == string(TimerCycle)) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		b.elErr(e, "the timer has no timeDuration, timeDate or timeCycle")
		return
	case 1:
	default:
		b.elErr(e, "the timer has more than one of timeDuration, timeDate and timeCycle")
		return
	}
	tm, err := ParseTimer(TimerKind(found[0].name.Local), found[0].text.String())
	if err != nil {
		b.elErr(e, "%s", feelReason(err))
		return
	}
	e.Timer = tm
}
