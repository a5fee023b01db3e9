package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/feel"
	"github.com/tracker-dev/tracker/iso8601"
)

// DefaultMaxBytes is the largest model file accepted unless [Options] says otherwise.
const DefaultMaxBytes = 4 << 20

// Options tune parsing. The zero value is ready to use.
type Options struct {
	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// Definitions is one parsed BPMN file.
type Definitions struct {
	ID         string     // the <definitions> id
	File       string     // as given to Parse
	XML        []byte     // the file as-is, diagram included, for rendering
	Hash       string     // sha256 of XML, hex
	HasDiagram bool       // the file has a BPMNDI diagram
	Processes  []*Process // executable processes in document order; nil when there are errors
}

// Parse decodes and validates one BPMN file. It returns every problem it
// finds, sorted by line, each with File set to file. Definitions.Processes is
// filled only when no problem is an error; warnings do not prevent it. Parse
// never panics on any input.
func Parse(file string, data []byte, opts Options) (*Definitions, []Problem) {
	sum := sha256.Sum256(data)
	defs := &Definitions{File: file, XML: data, Hash: hex.EncodeToString(sum[:])}
	if int64(len(data)) > opts.maxBytes() {
		return defs, []Problem{{File: file, Element: "-", Message: fmt.Sprintf(
			"the file is %d bytes, more than the limit of %d bytes", len(data), opts.maxBytes())}}
	}
	doc, line, err := decodeXML(data)
	if err != nil {
		return defs, []Problem{{File: file, Line: line, Element: "-", Message: err.Error()}}
	}
	defs.HasDiagram = doc.hasDiagram
	b := &builder{ids: map[string]int{}, messages: map[string]*messageDef{}}
	procs := b.definitions(doc.root, defs)
	if !doc.hasDiagram && doc.root.is(NamespaceBPMN, "definitions") {
		b.warn(doc.root.line, "", "", "the file has no diagram (BPMNDI), so dashboards will show no picture")
	}
	for _, p := range procs {
		p.HasDiagram = doc.hasDiagram
		p.Hash = defs.Hash
		p.File = file
	}
	problems := sortProblems(b.problems)
	for i := range problems {
		problems[i] = problems[i].withFile(file)
	}
	if !HasErrors(problems) {
		defs.Processes = procs
	}
	return defs, problems
}

type messageDef struct {
	id, name string
	line     int
	msg      *Message
	keySrc   string
	hasKey   bool
	keyErr   error
}

type builder struct {
	problems []Problem
	ids      map[string]int // every id seen, with its line
	messages map[string]*messageDef
}

func (b *builder) errorf(line int, el, name, format string, args ...any) {
	b.problems = append(b.problems, problemf(line, el, name, false, format, args...))
}

func (b *builder) warn(line int, el, name, format string, args ...any) {
	b.problems = append(b.problems, problemf(line, el, name, true, format, args...))
}

func (b *builder) elErr(e *Element, format string, args ...any) {
	b.errorf(e.Line, e.ID, e.Name, format, args...)
}

func (b *builder) definitions(root *xnode, defs *Definitions) []*Process {
	if !root.is(NamespaceBPMN, "definitions") {
		b.errorf(root.line, "", "", "not a BPMN 2.0 file: the root element is <%s> in namespace %q, expected <definitions> in %q",
			root.name.Local, root.name.Space, NamespaceBPMN)
		return nil
	}
	defs.ID = root.get("id")
	// Messages first: processes refer to them.
	for _, c := range root.children {
		if c.is(NamespaceBPMN, "message") {
			b.message(c)
		}
	}
	var procs []*Process
	var skipped []*xnode
	for _, c := range root.children {
		if !c.is(NamespaceBPMN, "process") {
			continue
		}
		if c.get("isExecutable") == "false" {
			skipped = append(skipped, c)
			continue
		}
		if p := b.process(c); p != nil {
			procs = append(procs, p)
		}
	}
	for _, c := range skipped {
		if len(procs) > 0 {
			b.warn(c.line, c.get("id"), c.get("name"), "the process is not executable (isExecutable=\"false\") and is not deployed")
		} else {
			// Modelers mark processes non-executable by default; with nothing
			// else to deploy, deploy it anyway.
			if p := b.process(c); p != nil {
				procs = append(procs, p)
			}
		}
	}
	if len(procs) == 0 && len(skipped) == 0 {
		b.errorf(root.line, defs.ID, "", "the file has no <process>")
	}
	return procs
}

func (b *builder) message(n *xnode) {
	id := n.get("id")
	if id == "" {
		b.errorf(n.line, "", "", "a <message> has no id")
		return
	}
	b.claimID(id, n)
	m := &messageDef{id: id, name: n.get("name"), line: n.line}
	for _, ext := range n.children {
		if !ext.is(NamespaceBPMN, "extensionElements") {
			continue
		}
		for _, s := range ext.children {
			if s.is(NamespaceZeebe, "subscription") {
				m.keySrc, m.hasKey = s.attr("correlationKey")
				m.keySrc = strings.TrimSpace(m.keySrc)
			}
		}
	}
	m.msg = &Message{ID: id, Name: m.name}
	if m.hasKey && m.keySrc != "" {
		m.msg.CorrelationKey, m.keyErr = feel.Compile(m.keySrc)
	}
	b.messages[id] = m
}

func (b *builder) claimID(id string, n *xnode) bool {
	if first, dup := b.ids[id]; dup {
		b.errorf(n.line, id, n.get("name"), "the id %q is used twice (first on line %d)", id, first)
		return false
	}
	b.ids[id] = n.line
	return true
}

// procBuild holds what is needed while building one process.
type procBuild struct {
	p        *Process
	line     int
	rejected map[string]bool // ids of unsupported elements, reported already
	flows    []*flowDef
	elems    []*elemDef
}

type flowDef struct {
	f              *Flow
	source, target string
	cond           string
	hasCond        bool
	scope          *Element
	condLine       int
}

type elemDef struct {
	e                       *Element
	attachedRef, defaultRef string
	messageRef              string
	hasMessageRef           bool
	eventDefs               int
	unsupported             bool // an unsupported event definition, reported already
}

func (b *builder) process(n *xnode) *Process {
	id := n.get("id")
	if id == "" {
		b.errorf(n.line, "", n.get("name"), "a <process> has no id")
		return nil
	}
	b.claimID(id, n)
	p := &Process{
		ID: id, Name: n.get("name"), Conformance: Lenient, Executable: n.get("isExecutable") != "false",
		Elements: map[string]*Element{}, Flows: map[string]*Flow{}, Messages: map[string]*Message{},
		starts: map[string][]*Element{}, catches: map[string][]*Element{},
	}
	pb := &procBuild{p: p, line: n.line, rejected: map[string]bool{}}
	for _, c := range n.children {
		if c.is(NamespaceBPMN, "extensionElements") {
			ext := b.extensions(c, n.line, id, p.Name)
			p.Properties = ext.props
			p.SLA, p.StuckAfter = ext.sla, ext.stuck
			if ext.conformance != "" {
				p.Conformance = ext.conformance
			}
		}
	}
	p.Scope = b.scope(pb, n, nil)
	b.link(pb)
	b.validate(pb)
	return p
}

// Flow node element names and what to do with the BPMN elements we do not support.
var (
	kinds = map[string]Kind{
		"startEvent": StartEvent, "endEvent": EndEvent, "intermediateCatchEvent": IntermediateCatchEvent,
		"intermediateThrowEvent": IntermediateThrowEvent, "boundaryEvent": BoundaryEvent,
		"receiveTask": ReceiveTask, "sendTask": SendTask, "serviceTask": ServiceTask, "task": Task,
		"manualTask": ManualTask, "userTask": UserTask, "subProcess": SubProcess,
		"exclusiveGateway": ExclusiveGateway, "parallelGateway": ParallelGateway,
		"inclusiveGateway": InclusiveGateway, "eventBasedGateway": EventBasedGateway,
	}
	unsupportedNodes = map[string]string{
		"callActivity":     "call activities are not supported; model the called process's steps inline or track it as its own process",
		"businessRuleTask": "business rule tasks are not supported; use a service task with a task type",
		"scriptTask":       "script tasks are not supported; use a task or a service task",
		"complexGateway":   "complex gateways are not supported; use an exclusive, parallel, inclusive or event-based gateway",
		"transaction":      "transactions are not supported; use an embedded sub-process",
		"adHocSubProcess":  "ad-hoc sub-processes are not supported; use an embedded sub-process",
		"choreographyTask": "choreography tasks are not supported",
		"subChoreography":  "sub-choreographies are not supported",
		"callChoreography": "call choreographies are not supported",
	}
	ignoredInScope = map[string]bool{
		"laneSet": true, "textAnnotation": true, "association": true, "dataObject": true,
		"dataObjectReference": true, "dataStoreReference": true, "group": true, "documentation": true,
		"extensionElements": true, "ioSpecification": true, "property": true, "auditing": true,
		"monitoring": true, "category": true,
		// children of a sub-process element that belong to the element itself
		"incoming": true, "outgoing": true, "multiInstanceLoopCharacteristics": true,
		"standardLoopCharacteristics": true,
	}
	eventDefs = map[string]EventType{
		"messageEventDefinition": MessageEvent, "timerEventDefinition": TimerEvent, "terminateEventDefinition": TerminateEvent,
	}
	unsupportedEventDefs = map[string]string{
		"signalEventDefinition":      "signal events are not supported; use a message event",
		"errorEventDefinition":       "error events are not supported",
		"escalationEventDefinition":  "escalation events are not supported",
		"compensateEventDefinition":  "compensation events are not supported",
		"conditionalEventDefinition": "conditional events are not supported",
		"linkEventDefinition":        "link events are not supported; connect the elements with a sequence flow",
		"cancelEventDefinition":      "cancel events are not supported",
		"eventDefinitionRef":         "event definitions by reference (eventDefinitionRef) are not supported",
	}
)

func (b *builder) scope(pb *procBuild, n *xnode, owner *Element) *Scope {
	s := &Scope{Owner: owner}
	pb.p.scopes = append(pb.p.scopes, s)
	for _, c := range n.children {
		if c.name.Space != NamespaceBPMN {
			continue // other namespaces at scope level: extensions, ignored
		}
		local := c.name.Local
		if kind, ok := kinds[local]; ok {
			if e := b.element(pb, c, kind, owner); e != nil {
				s.Elements = append(s.Elements, e)
			}
			continue
		}
		switch {
		case local == "sequenceFlow":
			b.flow(pb, c, owner)
		case unsupportedNodes[local] != "":
			id := c.get("id")
			if id != "" && b.claimID(id, c) {
				pb.rejected[id] = true
			}
			b.errorf(c.line, id, c.get("name"), "%s", unsupportedNodes[local])
		case ignoredInScope[local]:
		default:
			b.warn(c.line, c.get("id"), c.get("name"), "the element <%s> is not supported and is ignored", local)
		}
	}
	return s
}

func (b *builder) element(pb *procBuild, n *xnode, kind Kind, owner *Element) *Element {
	id := n.get("id")
	if id == "" {
		b.errorf(n.line, "", n.get("name"), "a <%s> has no id", n.name.Local)
		return nil
	}
	if !b.claimID(id, n) {
		return nil
	}
	e := &Element{ID: id, Name: n.get("name"), Kind: kind, Parent: owner, Line: n.line, Interrupting: true}
	d := &elemDef{e: e}
	d.attachedRef = n.get("attachedToRef")
	d.defaultRef = n.get("default")
	if v := n.get("cancelActivity"); v == "false" {
		e.Interrupting = false
	}
	if kind == StartEvent && n.get("isInterrupting") == "false" {
		e.Interrupting = false
	}
	if kind == SubProcess && n.get("triggeredByEvent") == "true" {
		e.TriggeredByEvent = true
	}
	if kind == ReceiveTask {
		e.Event = MessageEvent
		d.messageRef, d.hasMessageRef = n.attr("messageRef")
		d.messageRef = strings.TrimSpace(d.messageRef)
	}
	pb.p.Elements[id] = e
	pb.elems = append(pb.elems, d)
	for _, c := range n.children {
		if c.name.Space != NamespaceBPMN {
			continue
		}
		local := c.name.Local
		if et, ok := eventDefs[local]; ok {
			d.eventDefs++
			if d.eventDefs > 1 {
				continue
			}
			e.Event = et
			switch et {
			case MessageEvent:
				d.messageRef, d.hasMessageRef = c.attr("messageRef")
				d.messageRef = strings.TrimSpace(d.messageRef)
			case TimerEvent:
				b.timer(e, c)
			}
			continue
		}
		if msg, ok := unsupportedEventDefs[local]; ok {
			d.eventDefs++
			d.unsupported = true
			b.elErr(e, "%s", msg)
			continue
		}
		switch local {
		case "extensionElements":
			ext := b.extensions(c, e.Line, e.ID, e.Name)
			e.TaskType, e.Headers, e.Properties = ext.taskType, ext.headers, ext.props
			e.SLA, e.StuckAfter, e.Conformance = ext.sla, ext.stuck, ext.conformance
		case "multiInstanceLoopCharacteristics":
			b.elErr(e, "multi-instance activities are not supported")
		case "standardLoopCharacteristics":
			b.elErr(e, "loop activities are not supported")
		}
	}
	if d.eventDefs > 1 {
		b.elErr(e, "an event with several event definitions (a multiple event) is not supported")
	}
	if kind == SubProcess {
		e.Inner = b.scope(pb, n, e)
	}
	return e
}

// extensions holds what we read from <extensionElements>.
type extensions struct {
	taskType    string
	headers     map[string]string
	props       map[string]string
	sla, stuck  time.Duration
	conformance Conformance
}

func (b *builder) extensions(n *xnode, line int, id, name string) extensions {
	var x extensions
	for _, c := range n.children {
		if c.name.Space != NamespaceZeebe {
			continue // unknown extension elements are ignored
		}
		switch c.name.Local {
		case "taskDefinition":
			x.taskType = c.get("type")
		case "taskHeaders":
			for _, h := range c.children {
				if h.is(NamespaceZeebe, "header") {
					if x.headers == nil {
						x.headers = map[string]string{}
					}
					x.headers[h.get("key")] = h.get("value")
				}
			}
		case "properties":
			for _, p := range c.children {
				if p.is(NamespaceZeebe, "property") {
					if x.props == nil {
						x.props = map[string]string{}
					}
					x.props[p.get("name")] = p.get("value")
				}
			}
		}
	}
	for _, key := range sortedKeys(x.props) {
		v := x.props[key]
		switch key {
		case "tracker.sla", "tracker.stuckAfter":
			d, err := iso8601.Parse(v)
			switch {
			case err != nil:
				b.errorf(line, id, name, "%s %q is not an ISO 8601 duration (expected e.g. PT4H, P3D)", key, v)
			case d.Negative || d.IsZero():
				b.errorf(line, id, name, "%s %q must be a positive duration", key, v)
			case key == "tracker.sla":
				x.sla = d.Approx()
			default:
				x.stuck = d.Approx()
			}
		case "tracker.conformance":
			switch Conformance(v) {
			case Lenient, Strict:
				x.conformance = Conformance(v)
			default:
				b.errorf(line, id, name, "tracker.conformance %q is not allowed (expected lenient or strict)", v)
			}
		default:
			if strings.HasPrefix(key, "tracker.") {
				b.warn(line, id, name, "unknown property %q is ignored (known: tracker.sla, tracker.stuckAfter, tracker.conformance)", key)
			}
		}
	}
	return x
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (b *builder) flow(pb *procBuild, n *xnode, owner *Element) {
	id := n.get("id")
	if id == "" {
		b.errorf(n.line, "", n.get("name"), "a <sequenceFlow> has no id")
		return
	}
	if !b.claimID(id, n) {
		return
	}
	f := &Flow{ID: id, Name: n.get("name"), Line: n.line}
	fd := &flowDef{f: f, source: n.get("sourceRef"), target: n.get("targetRef"), scope: owner}
	for _, c := range n.children {
		if c.is(NamespaceBPMN, "conditionExpression") {
			fd.hasCond = true
			fd.cond = strings.TrimSpace(c.text.String())
			fd.condLine = c.line
		}
	}
	pb.p.Flows[id] = f
	pb.flows = append(pb.flows, fd)
}

// link resolves references: flow ends, defaults, boundary attachments, messages.
func (b *builder) link(pb *procBuild) {
	p := pb.p
	for _, fd := range pb.flows {
		f := fd.f
		ok := true
		for _, end := range []struct {
			ref, what string
			set       **Element
		}{{fd.source, "source", &f.Source}, {fd.target, "target", &f.Target}} {
			switch e := p.Elements[end.ref]; {
			case pb.rejected[end.ref]:
				ok = false
			case end.ref == "":
				b.errorf(f.Line, f.ID, f.Name, "the sequence flow has no %sRef", end.what)
				ok = false
			case e == nil:
				b.errorf(f.Line, f.ID, f.Name, "the sequence flow's %s %q is not an element of this process", end.what, end.ref)
				ok = false
			default:
				*end.set = e
			}
		}
		if !ok {
			continue
		}
		if f.Source.Parent != f.Target.Parent || f.Source.Parent != fd.scope {
			b.errorf(f.Line, f.ID, f.Name, "the sequence flow connects %q and %q, which are not in the same (sub-)process", fd.source, fd.target)
			continue
		}
		f.Source.Outgoing = append(f.Source.Outgoing, f)
		f.Target.Incoming = append(f.Target.Incoming, f)
		if fd.hasCond {
			b.condition(fd)
		}
	}
	for _, d := range pb.elems {
		e := d.e
		if d.defaultRef != "" {
			f := p.Flows[d.defaultRef]
			if f == nil || f.Source != e {
				b.elErr(e, "the default flow %q is not an outgoing sequence flow of this element", d.defaultRef)
			} else {
				e.Default, f.Default = f, true
			}
		}
		if e.Kind == BoundaryEvent {
			b.attach(p, d)
		}
		if e.Event == MessageEvent {
			b.linkMessage(p, d)
		}
	}
}

func (b *builder) condition(fd *flowDef) {
	f := fd.f
	if fd.cond == "" {
		return // an empty condition is no condition
	}
	src := f.Source
	if src.Kind != ExclusiveGateway && src.Kind != InclusiveGateway {
		b.errorf(f.Line, f.ID, f.Name, "conditions are only supported on sequence flows leaving an exclusive or inclusive gateway")
		return
	}
	expr, err := feel.Compile(fd.cond)
	switch {
	case err == nil:
		f.Condition = expr
	case errors.Is(err, feel.ErrUnsupported):
		f.Deferred = true
		b.warn(f.Line, f.ID, f.Name, "the condition %q is outside the supported FEEL subset (%v); the branch is chosen by the first event that arrives", fd.cond, feelReason(err))
	default:
		f.Deferred = true // reported as an error; no second warning about a missing condition
		b.errorf(f.Line, f.ID, f.Name, "the condition %q is not valid FEEL: %v", fd.cond, feelReason(err))
	}
}

// feelReason strips the "compile <src>: " prefix and the sentinel suffix from
// a feel error, which the problem's sentence already says.
func feelReason(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\": "); i >= 0 && strings.HasPrefix(s, "compile ") {
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, ": "+feel.ErrUnsupported.Error())
	s = strings.TrimSuffix(s, ": "+feel.ErrSyntax.Error())
	return s
}

func (b *builder) attach(p *Process, d *elemDef) {
	e := d.e
	if d.attachedRef == "" {
		b.elErr(e, "the boundary event is not attached to an activity (attachedToRef is missing)")
		return
	}
	host := p.Elements[d.attachedRef]
	switch {
	case host == nil:
		b.elErr(e, "the boundary event is attached to %q, which is not an element of this process", d.attachedRef)
	case !host.IsActivity() || host.IsEventSubProcess():
		b.elErr(e, "the boundary event is attached to %q, %s; boundary events can only sit on tasks and sub-processes", host.ID, host.Kind.phrase())
	case host.Parent != e.Parent:
		b.elErr(e, "the boundary event is attached to %q, which is in a different (sub-)process", host.ID)
	default:
		e.AttachedTo = host
		host.Boundaries = append(host.Boundaries, e)
	}
}

func (b *builder) linkMessage(p *Process, d *elemDef) {
	e := d.e
	catching := e.Kind != IntermediateThrowEvent && e.Kind != EndEvent
	if d.messageRef == "" {
		if catching {
			b.elErr(e, "the %s has no message; choose a message in its properties", describeKind(e))
		}
		return
	}
	m := b.messages[d.messageRef]
	if m == nil {
		b.elErr(e, "the %s refers to the message %q, which is not defined in this file", describeKind(e), d.messageRef)
		return
	}
	if m.name == "" {
		b.elErr(e, "the message %q has no name; give it the name of the event it waits for", m.id)
		return
	}
	e.Message = m.msg
	// A process-level start event needs no correlation key: the instance's
	// key comes from the start message. Everything that waits inside a
	// running instance does.
	needsKey := catching && !(e.Kind == StartEvent && e.Parent == nil)
	switch {
	case m.keyErr != nil && errors.Is(m.keyErr, feel.ErrUnsupported):
		b.elErr(e, "the correlation key %q of message %q is outside the supported FEEL subset: %v", m.keySrc, m.name, feelReason(m.keyErr))
	case m.keyErr != nil:
		b.elErr(e, "the correlation key %q of message %q is not valid FEEL: %v", m.keySrc, m.name, feelReason(m.keyErr))
	case needsKey && m.msg.CorrelationKey == nil:
		b.elErr(e, "the message %q has no correlation key; set zeebe:subscription correlationKey, e.g. =orderId", m.name)
	}
	if prev, ok := p.Messages[m.name]; ok && prev != m.msg {
		if prev.CorrelationKey.String() != m.msg.CorrelationKey.String() {
			b.elErr(e, "two messages named %q (%s and %s) have different correlation keys", m.name, prev.ID, m.id)
		}
		return
	}
	p.Messages[m.name] = m.msg
}

func describeKind(e *Element) string {
	switch e.Kind {
	case StartEvent:
		return "message start event"
	case IntermediateCatchEvent:
		return "message catch event"
	case BoundaryEvent:
		return "message boundary event"
	case ReceiveTask:
		return "receive task"
	case IntermediateThrowEvent:
		return "message throw event"
	case EndEvent:
		return "message end event"
	}
	return string(e.Kind)
}
