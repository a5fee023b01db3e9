package models

import (
	"fmt"
	"slices"
	"strings"
)

// render writes a process graph as stable text for golden files.
func render(p *Process) string {
	var b strings.Builder
	fmt.Fprintf(&b, "process %s %q executable=%v diagram=%v conformance=%s", p.ID, p.Name, p.Executable, p.HasDiagram, p.Conformance)
	if p.SLA != 0 {
		fmt.Fprintf(&b, " sla=%s", p.SLA)
	}
	if p.StuckAfter != 0 {
		fmt.Fprintf(&b, " stuckAfter=%s", p.StuckAfter)
	}
	b.WriteString("\n")
	writeMap(&b, "  properties", p.Properties)
	b.WriteString("  messages:\n")
	for _, name := range sortedMessageNames(p) {
		m := p.Messages[name]
		fmt.Fprintf(&b, "    %s id=%s key=%q", m.Name, m.ID, m.CorrelationKey.String())
		if path, ok := m.CorrelationKey.Path(); ok {
			fmt.Fprintf(&b, " path=%s", strings.Join(path, "."))
		}
		fmt.Fprintf(&b, " starts=%s catches=%s\n", ids(p.StartEventsFor(name)), ids(p.CatchEventsFor(name)))
	}
	renderScope(&b, p.Scope, "  ")
	b.WriteString("  flows:\n")
	flowIDs := make([]string, 0, len(p.Flows))
	for id := range p.Flows {
		flowIDs = append(flowIDs, id)
	}
	slices.Sort(flowIDs)
	for _, id := range flowIDs {
		f := p.Flows[id]
		fmt.Fprintf(&b, "    %s", f.ID)
		if f.Name != "" {
			fmt.Fprintf(&b, " %q", f.Name)
		}
		fmt.Fprintf(&b, " %s -> %s", f.Source.ID, f.Target.ID)
		if f.Condition != nil {
			fmt.Fprintf(&b, " condition=%q", f.Condition.String())
		}
		if f.Default {
			b.WriteString(" default")
		}
		if f.Deferred {
			b.WriteString(" deferred")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sortedMessageNames(p *Process) []string {
	names := make([]string, 0, len(p.Messages))
	for n := range p.Messages {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func renderScope(b *strings.Builder, s *Scope, indent string) {
	owner := "process"
	if s.Owner != nil {
		owner = s.Owner.ID
	}
	fmt.Fprintf(b, "%sscope %s noneStart=%s messageStarts=%s timerStarts=%s eventSubProcesses=%s\n", indent, owner,
		idOf(s.NoneStart), ids(s.MessageStarts), ids(s.TimerStarts), ids(s.EventSubProcesses))
	for _, e := range s.Elements {
		fmt.Fprintf(b, "%s  %s %s", indent, e.Kind, e.ID)
		if e.Name != "" {
			fmt.Fprintf(b, " %q", e.Name)
		}
		if e.Event != NoneEvent {
			fmt.Fprintf(b, " event=%s", e.Event)
		}
		if e.Message != nil {
			fmt.Fprintf(b, " message=%s", e.Message.Name)
		}
		if t := e.Timer; t != nil {
			fmt.Fprintf(b, " timer=%s(%q", t.Kind, t.Text)
			if !t.Duration.IsZero() {
				fmt.Fprintf(b, " every/after=%s", t.Duration)
			}
			if !t.Date.IsZero() {
				fmt.Fprintf(b, " at=%s", t.Date.Format("2006-01-02T15:04:05Z07:00"))
			}
			if t.Kind == TimerCycle {
				fmt.Fprintf(b, " repeat=%d", t.Repeat)
			}
			b.WriteString(")")
		}
		if e.AttachedTo != nil {
			fmt.Fprintf(b, " attachedTo=%s", e.AttachedTo.ID)
		}
		if e.Kind == BoundaryEvent || e.Kind == StartEvent && e.Parent != nil && e.Parent.TriggeredByEvent || e.IsEventSubProcess() {
			fmt.Fprintf(b, " interrupting=%v", e.Interrupting)
		}
		if len(e.Boundaries) > 0 {
			fmt.Fprintf(b, " boundaries=%s", ids(e.Boundaries))
		}
		if e.TaskType != "" {
			fmt.Fprintf(b, " type=%s", e.TaskType)
		}
		if e.Action {
			b.WriteString(" action")
		}
		if e.SLA != 0 {
			fmt.Fprintf(b, " sla=%s", e.SLA)
		}
		if e.StuckAfter != 0 {
			fmt.Fprintf(b, " stuckAfter=%s", e.StuckAfter)
		}
		if e.Conformance != "" {
			fmt.Fprintf(b, " conformance=%s", e.Conformance)
		}
		fmt.Fprintf(b, " in=%s out=%s", flowIDs(e.Incoming), flowIDs(e.Outgoing))
		if e.Default != nil {
			fmt.Fprintf(b, " default=%s", e.Default.ID)
		}
		fmt.Fprintf(b, " line=%d\n", e.Line)
		writeMap(b, indent+"    headers", e.Headers)
		writeMap(b, indent+"    properties", e.Properties)
		if e.Inner != nil {
			renderScope(b, e.Inner, indent+"    ")
		}
	}
}

func writeMap(b *strings.Builder, label string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	b.WriteString(label)
	b.WriteString(":")
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(b, " %s=%q", k, m[k])
	}
	b.WriteString("\n")
}

func idOf(e *Element) string {
	if e == nil {
		return "-"
	}
	return e.ID
}

func ids(es []*Element) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.ID
	}
	return "[" + strings.Join(s, " ") + "]"
}

func flowIDs(fs []*Flow) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.ID
	}
	return "[" + strings.Join(s, " ") + "]"
}
