package simulator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// shareFields names each share for [ParseShares] and [Shares.String].
func (s *Shares) fields() map[string]*float64 {
	return map[string]*float64{
		"stall": &s.Stall, "missing": &s.Missing, "out-of-order": &s.OutOfOrder, "backdated": &s.Backdated,
		"duplicate": &s.Duplicate, "unknown": &s.Unknown, "malformed": &s.Malformed, "noise": &s.Noise,
	}
}

// ParseShares reads "stall=0.05,malformed=0.01" on top of [DefaultShares].
// Every value is a fraction between 0 and 1.
func ParseShares(text string) (Shares, error) {
	s := DefaultShares
	if strings.TrimSpace(text) == "" {
		return s, nil
	}
	fields := s.fields()
	for _, part := range strings.Split(text, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		p, known := fields[name]
		if !ok || !known {
			return s, fmt.Errorf("anomaly %q: expected name=fraction with name one of %s", part, strings.Join(shareNames(), ", "))
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 || f > 1 {
			return s, fmt.Errorf("anomaly %s=%s: expected a fraction between 0 and 1", name, val)
		}
		*p = f
	}
	return s, nil
}

func shareNames() []string {
	var s Shares
	names := make([]string, 0, 8)
	for n := range s.fields() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// String renders the shares in the form ParseShares reads.
func (s Shares) String() string {
	fields := s.fields()
	parts := make([]string, 0, len(fields))
	for _, n := range shareNames() {
		parts = append(parts, fmt.Sprintf("%s=%g", n, *fields[n]))
	}
	return strings.Join(parts, ",")
}
