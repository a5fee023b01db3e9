// Package iso8601 holds ISO 8601 durations with calendar-exact arithmetic.
//
// Timers (P14D, P1M), SLA targets, config retention values and DMN duration
// literals all use the same notation, so they share this one type. Parsing is
// delegated to github.com/sosodev/duration; the calendar arithmetic is ours and
// uses [time.Time.AddDate], so P1M from January 31 lands on the last day of
// February, as a person reading the model expects.
package iso8601

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sosodev/duration"
)

// Duration is an ISO 8601 duration split into calendar parts (years, months,
// days, which depend on the date they are added to) and an exact clock part.
type Duration struct {
	Years, Months, Days int
	Clock               time.Duration
	Negative            bool
	text                string
}

// ErrSyntax is returned (wrapped) for text that is not an ISO 8601 duration.
var ErrSyntax = errors.New("not an ISO 8601 duration")

// Parse reads an ISO 8601 duration such as P14D, PT1H30M, P1Y2M or P2W.
// Fractions are allowed only in the time part (PT0.5S).
func Parse(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Duration{}, fmt.Errorf("empty duration: %w", ErrSyntax)
	}
	d, err := duration.Parse(t)
	if err != nil || t == "P" || t == "PT" || strings.HasSuffix(t, "T") {
		return Duration{}, fmt.Errorf("%q (expected e.g. P14D, PT1H, P1M): %w", s, ErrSyntax)
	}
	for _, f := range []float64{d.Years, d.Months, d.Weeks, d.Days} {
		if f != math.Trunc(f) {
			return Duration{}, fmt.Errorf("%q: fractions are only allowed in hours, minutes and seconds: %w", s, ErrSyntax)
		}
	}
	clock := time.Duration(d.Hours*float64(time.Hour) + d.Minutes*float64(time.Minute) + d.Seconds*float64(time.Second))
	return Duration{
		Years: int(d.Years), Months: int(d.Months), Days: int(d.Days) + 7*int(d.Weeks),
		Clock: clock, Negative: d.Negative, text: t,
	}, nil
}

// MustParse is Parse for literals in code and tests; it panics on bad input.
func MustParse(s string) Duration {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// FromDuration turns an exact duration into a Duration without calendar parts.
func FromDuration(d time.Duration) Duration {
	neg := d < 0
	if neg {
		d = -d
	}
	return Duration{Clock: d, Negative: neg}
}

// AddTo returns t moved by d: calendar parts with AddDate (in t's location),
// then the clock part.
func (d Duration) AddTo(t time.Time) time.Time {
	sign := 1
	if d.Negative {
		sign = -1
	}
	if d.Years != 0 || d.Months != 0 || d.Days != 0 {
		// AddDate normalises Jan 31 + 1 month to Mar 3; clamp to the month's last day instead.
		y, m, day := t.Date()
		target := time.Date(y, m+time.Month(sign*(d.Years*12+d.Months)), 1, 0, 0, 0, 0, t.Location())
		last := time.Date(target.Year(), target.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
		if day > last {
			day = last
		}
		h, mi, s := t.Clock()
		t = time.Date(target.Year(), target.Month(), day, h, mi, s, t.Nanosecond(), t.Location())
		t = t.AddDate(0, 0, sign*d.Days)
	}
	return t.Add(time.Duration(sign) * d.Clock)
}

// Approx returns the duration as exact time, counting a month as 30 days and a
// year as 365 days. Use it only where no start date exists (config limits).
func (d Duration) Approx() time.Duration {
	day := 24 * time.Hour
	v := time.Duration(d.Years)*365*day + time.Duration(d.Months)*30*day + time.Duration(d.Days)*day + d.Clock
	if d.Negative {
		return -v
	}
	return v
}

// IsCalendar reports whether d has year or month parts, whose length depends on the date.
func (d Duration) IsCalendar() bool { return d.Years != 0 || d.Months != 0 }

// IsZero reports whether d adds nothing.
func (d Duration) IsZero() bool {
	return d.Years == 0 && d.Months == 0 && d.Days == 0 && d.Clock == 0
}

// String returns the ISO 8601 text of d.
func (d Duration) String() string {
	if d.text != "" {
		return d.text
	}
	var b strings.Builder
	if d.Negative {
		b.WriteByte('-')
	}
	b.WriteByte('P')
	if d.Years != 0 {
		fmt.Fprintf(&b, "%dY", d.Years)
	}
	if d.Months != 0 {
		fmt.Fprintf(&b, "%dM", d.Months)
	}
	if d.Days != 0 {
		fmt.Fprintf(&b, "%dD", d.Days)
	}
	if d.Clock != 0 {
		b.WriteByte('T')
		c := d.Clock
		if h := c / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			c -= h * time.Hour
		}
		if m := c / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			c -= m * time.Minute
		}
		if c > 0 {
			fmt.Fprintf(&b, "%sS", strings.TrimSuffix(fmt.Sprintf("%g", c.Seconds()), ".0"))
		}
	}
	if b.Len() == 1 || (d.Negative && b.Len() == 2) {
		b.WriteString("T0S")
	}
	return b.String()
}

// MarshalText writes the ISO 8601 text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses ISO 8601 text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
