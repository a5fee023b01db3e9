package models

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/iso8601"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"with name", Problem{File: "a.bpmn", Element: "Task_1", Name: "Ship", Message: "boom"}, "a.bpmn: Task_1 (Ship): boom"},
		{"without name", Problem{File: "a.bpmn", Element: "Task_1", Message: "boom"}, "a.bpmn: Task_1: boom"},
		{"no element", Problem{File: "a.bpmn", Message: "boom"}, "a.bpmn: -: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	data := readTestdata(t, "valid/order-fulfillment.bpmn")
	_, problems := Parse("big.bpmn", data, Options{MaxBytes: 100})
	want := "big.bpmn: -: the file is " + strconv.Itoa(len(data)) + " bytes, more than the limit of 100 bytes"
	if len(problems) != 1 || problems[0].String() != want {
		t.Errorf("problems = %v, want %q", problems, want)
	}
	if defs, problems := Parse("ok.bpmn", data, Options{MaxBytes: int64(len(data))}); HasErrors(problems) || len(defs.Processes) != 1 {
		t.Errorf("a file exactly at the limit was refused: %v", problems)
	}
}

// TestNamespacePrefixes parses the same model with different prefixes and
// default namespaces: the graph must not change.
func TestNamespacePrefixes(t *testing.T) {
	src := string(readTestdata(t, "valid/order-fulfillment.bpmn"))
	want := render(mustParse(t, []byte(src)))
	variants := map[string]string{
		"other prefixes": strings.NewReplacer("bpmn:", "semantic:", "xmlns:bpmn=", "xmlns:semantic=", "zeebe:", "z8:", "xmlns:zeebe=", "xmlns:z8=").Replace(src),
		"default namespace": strings.NewReplacer("bpmn:", "", `xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"`,
			`xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"`, `xsi:type="tFormalExpression"`, `xsi:type="bpmn:tFormalExpression"`).Replace(src),
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			if got := render(mustParse(t, []byte(v))); got != want {
				t.Errorf("graph differs:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	// Elements with the right local names in a foreign namespace are not BPMN.
	foreign := strings.Replace(src, `xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"`, `xmlns:bpmn="urn:not-bpmn"`, 1)
	_, problems := Parse("foreign.bpmn", []byte(foreign), Options{})
	if len(problems) != 1 || !strings.Contains(problems[0].Message, `not a BPMN 2.0 file: the root element is <definitions> in namespace "urn:not-bpmn"`) {
		t.Errorf("foreign namespace problems = %v", problems)
	}
}

func mustParse(t *testing.T, data []byte) *Process {
	t.Helper()
	defs, problems := Parse("x.bpmn", data, Options{})
	if HasErrors(problems) || len(defs.Processes) != 1 {
		t.Fatalf("parse: %v", problems)
	}
	return defs.Processes[0]
}

func TestParseRejectsEntities(t *testing.T) {
	tests := []struct{ name, xml, want string }{
		{"internal entity", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>`, "DOCTYPE and entity declarations are not allowed"},
		{"external doctype", `<!DOCTYPE d SYSTEM "http://example.com/x.dtd"><d/>`, "DOCTYPE and entity declarations are not allowed"},
		{"undeclared entity", `<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol;</bpmn:definitions>`, "malformed XML: invalid character entity &lol;"},
		{"empty", ``, "the file holds no XML element"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><d/>`, "malformed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, problems := Parse("x.bpmn", []byte(tt.xml), Options{})
			if len(problems) != 1 || !strings.Contains(problems[0].Message, tt.want) || defs.Processes != nil {
				t.Errorf("problems = %v, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestParseTimer(t *testing.T) {
	jan31 := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		kind      TimerKind
		text      string
		first     time.Time
		repeat    int
		secondDue time.Time // zero: does not re-arm after the first firing
	}{
		{TimerDuration, "P14D", time.Date(2026, 2, 14, 10, 0, 0, 0, time.UTC), 0, time.Time{}},
		{TimerDuration, "P1M", time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), 0, time.Time{}},
		{TimerDuration, `=duration("PT1H")`, jan31.Add(time.Hour), 0, time.Time{}},
		{TimerDuration, `="P1D"`, jan31.AddDate(0, 0, 1), 0, time.Time{}},
		{TimerDate, "2026-03-01T09:00:00+01:00", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), 0, time.Time{}},
		{TimerDate, `=date and time("2026-03-01T09:00:00Z")`, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 0, time.Time{}},
		{TimerCycle, "R3/PT1H", jan31.Add(time.Hour), 3, jan31.Add(2 * time.Hour)},
		{TimerCycle, "R/P1M", time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), -1, time.Date(2026, 3, 28, 10, 0, 0, 0, time.UTC)},
		{TimerCycle, "R1/PT1H", jan31.Add(time.Hour), 1, time.Time{}},
		{TimerCycle, "R2/2026-05-01T00:00:00Z/P1D", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 2, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)},
		{TimerCycle, `=duration("PT5M")`, jan31.Add(5 * time.Minute), -1, jan31.Add(10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+" "+tt.text, func(t *testing.T) {
			tm, err := ParseTimer(tt.kind, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			first := tm.First(jan31)
			if !first.Equal(tt.first) {
				t.Errorf("First = %s, want %s", first, tt.first)
			}
			if tm.Kind == TimerCycle && tm.Repeat != tt.repeat {
				t.Errorf("Repeat = %d, want %d", tm.Repeat, tt.repeat)
			}
			next, ok := tm.Next(first, 1)
			if ok != !tt.secondDue.IsZero() || ok && !next.Equal(tt.secondDue) {
				t.Errorf("Next = %s, %v; want %s", next, ok, tt.secondDue)
			}
		})
	}
	if _, err := ParseTimer(TimerDuration, "-P1D"); err == nil {
		t.Error("negative duration accepted")
	}
	if tm, _ := ParseTimer(TimerDuration, "P1Y"); tm.Duration != iso8601.MustParse("P1Y") {
		t.Errorf("P1Y parsed as %v", tm.Duration)
	}
}

func TestCheckFile(t *testing.T) {
	path := filepath.Join("testdata", "invalid", "unreachable.bpmn")
	problems := CheckFile(path)
	if len(problems) != 2 || problems[0].String() != path+": Island (Forgotten step): no path from a start event reaches this element" {
		t.Errorf("CheckFile = %v", problems)
	}
	missing := CheckFile(filepath.Join(t.TempDir(), "nope.bpmn"))
	if len(missing) != 1 || !strings.Contains(missing[0].Message, "cannot read the file") {
		t.Errorf("CheckFile(missing) = %v", missing)
	}
	big := filepath.Join(t.TempDir(), "big.bpmn")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), DefaultMaxBytes+10), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := CheckFile(big); len(p) != 1 || !strings.Contains(p[0].Message, "more than the limit of 4194304 bytes") {
		t.Errorf("CheckFile(big) = %v", p)
	}
}

func TestGraphHelpers(t *testing.T) {
	p := mustParse(t, readTestdata(t, "valid/subprocesses.bpmn"))
	tests := []struct {
		id                              string
		activity, gateway, esp, waitMsg bool
	}{
		{"Transport", true, false, false, false},
		{"Cancelled", true, false, true, false},
		{"Lost", false, false, false, true},
		{"RerouteStart", false, false, false, true},
		{"Start", false, false, false, false},
	}
	for _, tt := range tests {
		e := p.Elements[tt.id]
		if e.IsActivity() != tt.activity || e.IsGateway() != tt.gateway || e.IsEventSubProcess() != tt.esp || e.WaitsForMessage() != tt.waitMsg {
			t.Errorf("%s: activity=%v gateway=%v esp=%v waits=%v", tt.id, e.IsActivity(), e.IsGateway(), e.IsEventSubProcess(), e.WaitsForMessage())
		}
	}
	if got := len(p.Scopes()); got != 5 {
		t.Errorf("Scopes() = %d, want 5 (process, Transport, Reroute, Cancelled, Audit)", got)
	}
	if got := p.Elements["Sign"].Parent; got == nil || got.ID != "Transport" {
		t.Errorf("Sign.Parent = %v", got)
	}
}

func TestDiagramHandling(t *testing.T) {
	src := string(readTestdata(t, "valid/order-fulfillment.bpmn"))
	start := strings.Index(src, "  <bpmndi:BPMNDiagram")
	end := strings.Index(src, "</bpmndi:BPMNDiagram>") + len("</bpmndi:BPMNDiagram>\n")
	diagram := src[start:end]
	withoutDiagram := src[:start] + src[end:]
	processAt := strings.Index(withoutDiagram, "  <bpmn:process")
	diagramFirst := withoutDiagram[:processAt] + diagram + withoutDiagram[processAt:]

	tests := []struct {
		name    string
		xml     string
		diagram bool
	}{
		{"diagram last", src, true},
		{"diagram first", diagramFirst, true},
		{"no diagram", withoutDiagram, false},
		{"diagram only in a comment", strings.Replace(withoutDiagram, "<bpmn:process", "<!-- <bpmndi:BPMNDiagram> was here -->\n<bpmn:process", 1), false},
		{"self-closing diagram", strings.Replace(withoutDiagram, "</bpmn:definitions>", `<bpmndi:BPMNDiagram id="D" /></bpmn:definitions>`, 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, problems := Parse("x.bpmn", []byte(tt.xml), Options{})
			if HasErrors(problems) || defs.HasDiagram != tt.diagram {
				t.Fatalf("HasDiagram = %v, problems %v; want diagram %v", defs.HasDiagram, problems, tt.diagram)
			}
			// Lines must match the text whatever was cut out.
			lines := strings.Split(tt.xml, "\n")
			for _, e := range defs.Processes[0].Elements {
				if !strings.Contains(lines[e.Line-1], `id="`+e.ID+`"`) {
					t.Errorf("%s: line %d is %q", e.ID, e.Line, lines[e.Line-1])
				}
			}
		})
	}
}
