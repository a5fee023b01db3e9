package models

import (
	"slices"
)

// allowedEvents lists the event definitions each event kind supports.
var allowedEvents = map[Kind][]EventType{
	StartEvent:             {NoneEvent, MessageEvent, TimerEvent},
	EndEvent:               {NoneEvent, TerminateEvent, MessageEvent},
	IntermediateCatchEvent: {MessageEvent, TimerEvent},
	IntermediateThrowEvent: {NoneEvent, MessageEvent},
	BoundaryEvent:          {MessageEvent, TimerEvent},
}

func eventWord(t EventType) string {
	if t == NoneEvent {
		return "none"
	}
	return string(t)
}

// validate checks the linked graph and fills the derived fields and indexes.
func (b *builder) validate(pb *procBuild) {
	p := pb.p
	for _, d := range pb.elems {
		b.checkElement(d)
	}
	for _, s := range p.scopes {
		b.checkScope(p, pb.line, s)
	}
	b.reachability(p)
	b.index(p)
}

func (b *builder) checkElement(d *elemDef) {
	e := d.e
	if allowed, isEvent := allowedEvents[e.Kind]; isEvent && d.eventDefs <= 1 && !d.unsupported && !slices.Contains(allowed, e.Event) {
		if e.Event == NoneEvent {
			b.elErr(e, "%s needs a message or timer definition", e.Kind.phrase())
		} else {
			b.elErr(e, "%s with a %s definition is not supported", e.Kind.phrase(), eventWord(e.Event))
		}
	}
	switch e.Kind {
	case StartEvent:
		if len(e.Incoming) > 0 {
			b.elErr(e, "a start event cannot have incoming sequence flows")
		}
	case EndEvent:
		if len(e.Outgoing) > 0 {
			b.elErr(e, "an end event cannot have outgoing sequence flows")
		}
	case BoundaryEvent:
		if len(e.Incoming) > 0 {
			b.elErr(e, "a boundary event cannot have incoming sequence flows")
		}
		if len(e.Outgoing) == 0 {
			b.problems = append(b.problems, problemf(e.Line, e.ID, e.Name, true, "the boundary event has no outgoing sequence flow; when it fires the path just ends"))
		}
	case ExclusiveGateway, ParallelGateway, InclusiveGateway, EventBasedGateway:
		b.checkGateway(e)
	case SubProcess:
		if e.TriggeredByEvent && (len(e.Incoming) > 0 || len(e.Outgoing) > 0) {
			b.elErr(e, "an event sub-process cannot have incoming or outgoing sequence flows")
		}
	}
	if e.Default != nil && !e.IsActivity() && e.Kind != ExclusiveGateway && e.Kind != InclusiveGateway {
		b.elErr(e, "only exclusive and inclusive gateways and activities can have a default flow")
	}
	switch e.Kind {
	case SendTask, ServiceTask:
		e.Action = e.TaskType != ""
	case IntermediateThrowEvent, EndEvent:
		e.Action = e.Event == MessageEvent
	}
	if e.Kind == ServiceTask && e.TaskType == "" {
		b.problems = append(b.problems, problemf(e.Line, e.ID, e.Name, true, "the service task has no task type (zeebe:taskDefinition), so it raises no action and passes straight through"))
	}
}

func (b *builder) checkGateway(e *Element) {
	if len(e.Outgoing) == 0 {
		b.elErr(e, "the gateway has no outgoing sequence flow")
		return
	}
	switch e.Kind {
	case EventBasedGateway:
		if len(e.Outgoing) < 2 {
			b.elErr(e, "an event-based gateway needs at least two outgoing sequence flows")
		}
		for _, f := range e.Outgoing {
			t := f.Target
			ok := (t.Kind == IntermediateCatchEvent && (t.Event == MessageEvent || t.Event == TimerEvent)) || t.Kind == ReceiveTask
			if !ok {
				b.elErr(e, "the event-based gateway leads to %q, %s; it can only lead to message or timer catch events and receive tasks", t.ID, t.Kind.phrase())
			}
		}
	case ExclusiveGateway, InclusiveGateway:
		if len(e.Outgoing) < 2 {
			return // joining or pass-through gateway: conditions do not matter
		}
		for _, f := range e.Outgoing {
			if f.Condition == nil && !f.Default && !f.Deferred {
				f.Deferred = true
				b.problems = append(b.problems, problemf(f.Line, f.ID, f.Name, true,
					"the sequence flow leaves gateway %q without a condition and is not its default flow; the branch is chosen by the first event that arrives", e.ID))
			}
		}
	}
}

func (b *builder) checkScope(p *Process, line int, s *Scope) {
	var starts []*Element
	for _, e := range s.Elements {
		if e.Kind == StartEvent {
			starts = append(starts, e)
		}
		if e.IsEventSubProcess() {
			s.EventSubProcesses = append(s.EventSubProcesses, e)
		}
	}
	for _, e := range starts {
		switch e.Event {
		case NoneEvent:
			if s.NoneStart != nil {
				b.elErr(e, "there is more than one none start event here (also %q)", s.NoneStart.ID)
				continue
			}
			s.NoneStart = e
		case MessageEvent:
			s.MessageStarts = append(s.MessageStarts, e)
		case TimerEvent:
			s.TimerStarts = append(s.TimerStarts, e)
		}
	}
	switch o := s.Owner; {
	case o == nil:
		if len(starts) == 0 {
			b.errorf(line, p.ID, p.Name, "the process has no start event")
		}
	case o.TriggeredByEvent:
		if len(starts) != 1 {
			b.elErr(o, "an event sub-process needs exactly one start event, found %d", len(starts))
			return
		}
		st := starts[0]
		if st.Event != MessageEvent && st.Event != TimerEvent {
			b.elErr(st, "the start event of an event sub-process needs a message or timer definition")
		}
		o.Interrupting = st.Interrupting
	default:
		if len(starts) == 0 {
			b.elErr(o, "the sub-process has no start event")
		}
		for _, st := range starts {
			if st.Event != NoneEvent {
				b.elErr(st, "a start event inside an embedded sub-process must be a none start event")
			}
		}
	}
}

// reachability reports elements that no path from a start event reaches.
func (b *builder) reachability(p *Process) {
	seen := map[*Element]bool{}
	var visitScope func(s *Scope)
	var visit func(e *Element)
	visit = func(e *Element) {
		if seen[e] {
			return
		}
		seen[e] = true
		for _, bd := range e.Boundaries {
			visit(bd)
		}
		if e.Inner != nil {
			visitScope(e.Inner)
		}
		for _, f := range e.Outgoing {
			visit(f.Target)
		}
	}
	visitScope = func(s *Scope) {
		for _, e := range s.Elements {
			if e.Kind == StartEvent || e.IsEventSubProcess() {
				visit(e)
			}
		}
	}
	hasStart := func(s *Scope) bool {
		return slices.ContainsFunc(s.Elements, func(e *Element) bool { return e.Kind == StartEvent })
	}
	visitScope(p.Scope)
	for _, s := range p.scopes {
		if !hasStart(s) || (s.Owner != nil && !seen[s.Owner]) {
			continue // reported already: no start, or the whole sub-process is unreachable
		}
		for _, e := range s.Elements {
			if !seen[e] && !(e.Kind == BoundaryEvent && e.AttachedTo == nil) {
				b.elErr(e, "no path from a start event reaches this element")
			}
		}
	}
}

// index builds the per-message lookups of the process.
func (b *builder) index(p *Process) {
	names := map[string]bool{}
	for _, s := range p.scopes {
		for _, e := range s.Elements {
			if !e.WaitsForMessage() {
				continue
			}
			name := e.Message.Name
			names[name] = true
			if e.Kind == StartEvent && e.Parent == nil {
				p.starts[name] = append(p.starts[name], e)
			} else {
				p.catches[name] = append(p.catches[name], e)
			}
		}
	}
	for n := range names {
		p.messageNames = append(p.messageNames, n)
	}
	slices.Sort(p.messageNames)
}

// phrase names the kind the way a modeller says it, with its article.
func (k Kind) phrase() string {
	switch k {
	case StartEvent:
		return "a start event"
	case EndEvent:
		return "an end event"
	case IntermediateCatchEvent:
		return "an intermediate catch event"
	case IntermediateThrowEvent:
		return "an intermediate throw event"
	case BoundaryEvent:
		return "a boundary event"
	case ReceiveTask:
		return "a receive task"
	case SendTask:
		return "a send task"
	case ServiceTask:
		return "a service task"
	case ManualTask:
		return "a manual task"
	case UserTask:
		return "a user task"
	case SubProcess:
		return "a sub-process"
	case ExclusiveGateway:
		return "an exclusive gateway"
	case ParallelGateway:
		return "a parallel gateway"
	case InclusiveGateway:
		return "an inclusive gateway"
	case EventBasedGateway:
		return "an event-based gateway"
	}
	return "a " + string(k)
}
