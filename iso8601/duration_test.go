package iso8601

import (
	"errors"
	"testing"
	"time"
)

func TestParseAndAdd(t *testing.T) {
	base := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		from time.Time
		want time.Time
	}{
		{"P14D", base, time.Date(2026, 2, 14, 10, 0, 0, 0, time.UTC)},
		{"P1M", base, time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC)},
		{"P1M", time.Date(2028, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"P1Y", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2029, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"PT1H30M", base, base.Add(90 * time.Minute)},
		{"P2W", base, base.AddDate(0, 0, 14)},
		{"P1DT12H", base, base.Add(36 * time.Hour)},
		{"PT0.5S", base, base.Add(500 * time.Millisecond)},
		{"-P1D", base, base.AddDate(0, 0, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.AddTo(tt.from); !got.Equal(tt.want) {
				t.Fatalf("%s + %s = %s, want %s", tt.from, tt.in, got, tt.want)
			}
			if d.String() != tt.in {
				t.Fatalf("String() = %q, want %q", d.String(), tt.in)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "P", "PT", "14D", "P1.5D", "PXD", "1h"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) err = %v, want ErrSyntax", in, err)
		}
	}
}

func TestStringBuilt(t *testing.T) {
	d := Duration{Days: 3, Clock: 90 * time.Minute}
	if d.String() != "P3DT1H30M" {
		t.Fatal(d.String())
	}
	if FromDuration(0).String() != "PT0S" {
		t.Fatal(FromDuration(0).String())
	}
	if got := (Duration{Months: 1, Days: 1}).Approx(); got != 31*24*time.Hour {
		t.Fatal(got)
	}
}
