package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

func (d *Duration) parseScalar(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "-P") {
		iso, err := iso8601.Parse(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: expected ISO 8601 like PT1H or P7D, or Go syntax like 500ms", s)
		}
		if iso.Negative {
			return fmt.Errorf("invalid duration %q: must not be negative", s)
		}
		d.ISO, d.Duration = iso, iso.Approx()
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: expected ISO 8601 like PT1H or P7D, or Go syntax like 500ms", s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	d.Duration, d.ISO = v, iso8601.FromDuration(v)
	return nil
}

// Dur builds a Duration from exact time (for defaults and code).
func Dur(v time.Duration) Duration { return Duration{Duration: v, ISO: iso8601.FromDuration(v)} }

// String returns the duration as written (ISO 8601 form).
func (d Duration) String() string { return d.ISO.String() }

// ByteSize is a size in bytes, written as 1048576, 512KiB, 1MiB, 4MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

func (b *ByteSize) parseScalar(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	num := s
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("invalid size %q: expected a positive number of bytes like 1048576, 512KiB or 1MiB", s)
	}
	*b = ByteSize(n * mult)
	return nil
}
