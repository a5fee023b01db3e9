package decisiontable

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// exampleCases drives the shared example table (testdata/uncorrelated.dmn, a
// copy of shared/examples/uncorrelated.dmn) through each of its rules.
var exampleCases = []struct {
	name string
	in   Input
	want Decision
}{
	{"decode error", Input{Reason: "DECODE_ERROR", Source: "orders"},
		Decision{Action: "dead-letter", Severity: "high", Note: "Producer sent an event we cannot read", RuleID: "Rule_Decode"}},
	{"missing key wins over noise (FIRST)", Input{Reason: "MISSING_CORRELATION_KEY", MessageName: "Heartbeat"},
		Decision{Action: "dead-letter", Severity: "high", Note: "Producer sent an event we cannot read", RuleID: "Rule_Decode"}},
	{"heartbeat", Input{Reason: "UNKNOWN_MESSAGE", MessageName: "Heartbeat"},
		Decision{Action: "ignore", Severity: "none", Note: "Not part of any tracked process", RuleID: "Rule_Noise"}},
	{"stock level without instance", Input{Reason: "NO_INSTANCE", MessageName: "StockLevelChanged", AgeSeconds: 10},
		Decision{Action: "ignore", Severity: "none", Note: "Not part of any tracked process", RuleID: "Rule_Noise"}},
	{"late event", Input{Reason: "INSTANCE_ENDED", MessageName: "PaymentReceived", InstanceState: "completed"},
		Decision{Action: "ignore", Severity: "low", Note: "Late event for a finished order", RuleID: "Rule_Late"}},
	{"early event", Input{Reason: "NO_INSTANCE", MessageName: "PaymentReceived", AgeSeconds: 12.5},
		Decision{Action: "buffer", Severity: "none", Note: "Probably arrived before the event that opens its step", RuleID: "Rule_EarlyFresh"}},
	{"no subscription yet", Input{Reason: "NO_SUBSCRIPTION", MessageName: "GoodsShipped"},
		Decision{Action: "buffer", Severity: "none", Note: "Probably arrived before the event that opens its step", RuleID: "Rule_EarlyFresh"}},
	{"early event too old (< 3600 excludes 3600)", Input{Reason: "NO_INSTANCE", MessageName: "PaymentReceived", AgeSeconds: 3600},
		Decision{Action: "incident", Severity: "medium", Note: "Needs a look", RuleID: "Rule_Default"}},
	{"expired payment", Input{Reason: "BUFFER_EXPIRED", MessageName: "PaymentReceived", AgeSeconds: 3601},
		Decision{Action: "incident", Severity: "high", Note: "Money received for an order we do not know", RuleID: "Rule_Expired"}},
	{"expired other message", Input{Reason: "BUFFER_EXPIRED", MessageName: "GoodsShipped", AgeSeconds: 3601},
		Decision{Action: "incident", Severity: "medium", Note: "Needs a look", RuleID: "Rule_Default"}},
	{"unknown message", Input{Reason: "UNKNOWN_MESSAGE", MessageName: "OrderArchived"},
		Decision{Action: "incident", Severity: "medium", Note: "Needs a look", RuleID: "Rule_Default"}},
	{"nothing known", Input{},
		Decision{Action: "incident", Severity: "medium", Note: "Needs a look", RuleID: "Rule_Default"}},
}

func mustLoad(t testing.TB, path string) *Table {
	t.Helper()
	tb, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return tb
}

func checkExample(t *testing.T, tb *Table) {
	t.Helper()
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tb.Decide(tc.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got != tc.want {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestExampleTable(t *testing.T) {
	for _, file := range []string{"testdata/uncorrelated.dmn", "testdata/uncorrelated.yaml"} {
		t.Run(file, func(t *testing.T) {
			tb := mustLoad(t, file)
			if tb.ID() != "uncorrelated-events" || tb.HitPolicy() != "FIRST" || tb.Name() != "What to do with an uncorrelated event" {
				t.Errorf("table = %q %q %q", tb.ID(), tb.HitPolicy(), tb.Name())
			}
			want := []string{"Rule_Decode", "Rule_Noise", "Rule_Late", "Rule_EarlyFresh", "Rule_Expired", "Rule_Default"}
			if got := tb.RuleIDs(); !reflect.DeepEqual(got, want) {
				t.Errorf("RuleIDs = %v, want %v", got, want)
			}
			checkExample(t, tb)
		})
	}
}

// TestSharedExample checks the shared file itself when the checkout has it
// next to the repository, so a change there that breaks loading shows up.
func TestSharedExample(t *testing.T) {
	const shared = "../../shared/examples/uncorrelated.dmn"
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared examples next to the repository: %v", err)
	}
	checkExample(t, mustLoad(t, shared))
}

func TestDMNNamespaces(t *testing.T) {
	data, err := os.ReadFile("testdata/uncorrelated.dmn")
	if err != nil {
		t.Fatal(err)
	}
	const ns13 = `xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"`
	if !strings.Contains(string(data), ns13) {
		t.Fatal("example does not use the DMN 1.3 namespace")
	}
	for _, tc := range []struct{ version, ns string }{
		{"1.1", "http://www.omg.org/spec/DMN/20151101/dmn.xsd"},
		{"1.2", "http://www.omg.org/spec/DMN/20180521/MODEL/"},
		{"1.3", "https://www.omg.org/spec/DMN/20191111/MODEL/"},
		{"1.4", "https://www.omg.org/spec/DMN/20211108/MODEL/"},
		{"1.5", "https://www.omg.org/spec/DMN/20230324/MODEL/"},
	} {
		t.Run("DMN "+tc.version, func(t *testing.T) {
			src := strings.Replace(string(data), ns13, `xmlns="`+tc.ns+`"`, 1)
			tb, err := Parse("uncorrelated.dmn", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			checkExample(t, tb)
		})
	}
	t.Run("not DMN", func(t *testing.T) {
		src := strings.Replace(string(data), ns13, `xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"`, 1)
		_, err := Parse("bpmn.dmn", []byte(src))
		want := `bpmn.dmn:2: not a DMN file: the root element is <definitions> in namespace "http://www.omg.org/spec/BPMN/20100524/MODEL"; expected <definitions> in a DMN 1.1 to 1.5 namespace such as https://www.omg.org/spec/DMN/20191111/MODEL/`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant %s", err, want)
		}
	})
}

// TestYAMLEquivalence evaluates the DMN and the YAML form of the example over
// a grid of events and requires identical results, and that the grid reaches
// every rule.
func TestYAMLEquivalence(t *testing.T) {
	dmn := mustLoad(t, "testdata/uncorrelated.dmn")
	yml := mustLoad(t, "testdata/uncorrelated.yaml")
	reasons := []string{"", "DECODE_ERROR", "MISSING_CORRELATION_KEY", "UNKNOWN_MESSAGE", "INSTANCE_ENDED", "NO_INSTANCE", "NO_SUBSCRIPTION", "BUFFER_EXPIRED"}
	messages := []string{"", "Heartbeat", "PriceUpdated", "StockLevelChanged", "PaymentReceived", "GoodsShipped"}
	ages := []float64{0, 3599.9, 3600, 86400}
	seen := map[string]bool{}
	for _, r := range reasons {
		for _, m := range messages {
			for _, a := range ages {
				in := Input{Reason: r, MessageName: m, AgeSeconds: a}
				d1, err1 := dmn.Decide(in)
				d2, err2 := yml.Decide(in)
				if d1 != d2 || (err1 == nil) != (err2 == nil) {
					t.Errorf("%+v: DMN %+v (%v), YAML %+v (%v)", in, d1, err1, d2, err2)
				}
				ctx := map[string]any{"reason": r, "messageName": m, "ageSeconds": a}
				r1, err1 := dmn.Evaluate(ctx)
				r2, err2 := yml.Evaluate(ctx)
				if !reflect.DeepEqual(r1, r2) || (err1 == nil) != (err2 == nil) {
					t.Errorf("%v: DMN %+v (%v), YAML %+v (%v)", ctx, r1, err1, r2, err2)
				}
				seen[d1.RuleID] = true
			}
		}
	}
	for _, id := range dmn.RuleIDs() {
		if !seen[id] {
			t.Errorf("no event in the grid reached rule %s", id)
		}
	}
}
