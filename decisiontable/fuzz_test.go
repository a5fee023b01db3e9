package decisiontable

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

func addFileSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

var fuzzInputs = []Input{
	{},
	{Reason: "NO_INSTANCE", MessageName: "Heartbeat", AgeSeconds: 10},
	{Reason: "BUFFER_EXPIRED", MessageName: "PaymentReceived", AgeSeconds: 4000, CorrelationKey: "4711",
		Payload: map[string]any{"amount": 1500.0, "placedOn": "2026-01-02", "customer": map[string]any{"tier": "gold"}}},
}

// FuzzParseDMN feeds arbitrary bytes to the DMN reader: it must never panic,
// and a table it accepts must evaluate without panicking.
func FuzzParseDMN(f *testing.F) {
	addFileSeeds(f, "testdata/*.dmn", "testdata/problems/*.dmn")
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := Parse("fuzz.dmn", data)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Parse error is %T, want Problems", err)
			}
			return
		}
		for _, in := range fuzzInputs {
			_, _ = tb.Decide(in)
			_, _ = tb.Evaluate(map[string]any{"reason": in.Reason, "ageSeconds": in.AgeSeconds, "payload": in.Payload})
		}
	})
}

// FuzzParseYAML is FuzzParseDMN for the YAML form.
func FuzzParseYAML(f *testing.F) {
	addFileSeeds(f, "testdata/*.yaml", "testdata/problems/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, in := range fuzzInputs {
			_, _ = tb.Decide(in)
		}
	})
}

var fuzzValues = []value{
	{}, stringValue(""), stringValue("a"), stringValue("m"), numberValue(0), numberValue(3), numberValue(-2.5),
	numberValue(10), boolValue(true), boolValue(false), value{k: kOther},
	{k: kDate, t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	{k: kDateTime, t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)},
	{k: kTime, n: 36000}, dur("P1D"), dur("PT1H"), dur("P1M"),
}

// FuzzUnaryTest parses arbitrary input entries. Properties: no panic; a
// parsed test negated with not(...) never matches where the test matches;
// quoting any text gives a test that matches exactly that text.
func FuzzUnaryTest(f *testing.F) {
	file, err := os.Open("testdata/unary-tests.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	f.Fuzz(func(t *testing.T, src string) {
		if utf8.ValidString(src) {
			q, err := parseUnaryTests(feelQuote(src))
			if err != nil {
				t.Fatalf("quoted text %q does not parse: %v", src, err)
			}
			if v := stringValue(src); !q.match(&v) {
				t.Fatalf("quoted text %q does not match itself", src)
			}
		}
		u, err := parseUnaryTests(src)
		if err != nil || u.any || u.not {
			return
		}
		neg, err := parseUnaryTests("not(" + src + ")")
		if err != nil {
			t.Fatalf("%q parses but not(%s) does not: %v", src, src, err)
		}
		for i := range fuzzValues {
			v := &fuzzValues[i]
			if u.match(v) && neg.match(v) {
				t.Fatalf("%q and not(%s) both match %s", src, src, v)
			}
		}
	})
}
