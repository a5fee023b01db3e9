package models

import (
	"time"

	"github.com/tracker-dev/tracker/feel"
	"github.com/tracker-dev/tracker/iso8601"
)

// This file is the contract between models (which builds the graph) and
// engine (which walks it). A *Process is immutable once returned by Parse.

// Kind is the BPMN element type of an [Element].
type Kind string

// Element kinds that the tracker supports (DESIGN.md §3).
const (
	StartEvent             Kind = "startEvent"
	EndEvent               Kind = "endEvent"
	IntermediateCatchEvent Kind = "intermediateCatchEvent"
	IntermediateThrowEvent Kind = "intermediateThrowEvent"
	BoundaryEvent          Kind = "boundaryEvent"
	ReceiveTask            Kind = "receiveTask"
	SendTask               Kind = "sendTask"
	ServiceTask            Kind = "serviceTask"
	Task                   Kind = "task"
	ManualTask             Kind = "manualTask"
	UserTask               Kind = "userTask"
	SubProcess             Kind = "subProcess" // embedded; TriggeredByEvent marks an event sub-process
	ExclusiveGateway       Kind = "exclusiveGateway"
	ParallelGateway        Kind = "parallelGateway"
	InclusiveGateway       Kind = "inclusiveGateway"
	EventBasedGateway      Kind = "eventBasedGateway"
)

// EventType is the event definition of an event element (or of a receive task: Message).
type EventType string

// Event definitions the tracker supports.
const (
	NoneEvent      EventType = ""
	MessageEvent   EventType = "message"
	TimerEvent     EventType = "timer"
	TerminateEvent EventType = "terminate"
)

// Conformance says how the engine treats a message for a step further down the
// model than where the instance waits (DESIGN.md §4.5).
type Conformance string

// Conformance modes; Lenient is the default.
const (
	Lenient Conformance = "lenient"
	Strict  Conformance = "strict"
)

// Process is one deployed, validated process (a BPMN <process>).
type Process struct {
	ID      string
	Name    string
	Version int    // assigned by the repository at deploy; 0 before
	Key     int64  // deployment key; 0 before deploy
	Hash    string // sha256 of the deployed XML, hex

	Scope    *Scope              // the process body
	Elements map[string]*Element // every element of every scope, by id
	Flows    map[string]*Flow    // every sequence flow, by id
	Messages map[string]*Message // by message *name*

	SLA         time.Duration // tracker.sla on the process (end to end), 0 = none
	StuckAfter  time.Duration // tracker.stuckAfter on the process, 0 = none
	Conformance Conformance
	Properties  map[string]string // all zeebe:properties of the process

	// Added after the first contract:

	File       string    // the file name given at deploy or parse
	DeployedAt time.Time // set by the repository; zero before deploy
	HasDiagram bool      // the file has a BPMNDI diagram
	Executable bool      // isExecutable is not "false"

	starts       map[string][]*Element
	catches      map[string][]*Element
	messageNames []string
	scopes       []*Scope
}

// Scope is the body of a process or of a (event) sub-process.
type Scope struct {
	Owner             *Element   // the sub-process, nil for the process itself
	Elements          []*Element // direct children in document order (boundaries included)
	NoneStart         *Element   // the none start event, if any
	MessageStarts     []*Element // message start events
	TimerStarts       []*Element // timer start events
	EventSubProcesses []*Element // event sub-processes directly in this scope
}

// Element is one flow node.
type Element struct {
	ID    string
	Name  string
	Kind  Kind
	Event EventType // for events; MessageEvent for receive tasks

	Parent *Element // enclosing sub-process, nil at process level
	Inner  *Scope   // for SubProcess: its body

	Incoming []*Flow
	Outgoing []*Flow
	Default  *Flow // default flow of a gateway or activity, nil if none

	Message *Message // message events and receive tasks; message throw/end events when set
	Timer   *Timer   // timer events

	AttachedTo       *Element   // boundary events: the activity they sit on
	Boundaries       []*Element // activities: their boundary events
	Interrupting     bool       // boundary cancelActivity (default true); event sub-process start isInterrupting (default true)
	TriggeredByEvent bool       // SubProcess: this is an event sub-process

	TaskType   string            // zeebe:taskDefinition type
	Headers    map[string]string // zeebe:taskHeaders
	Properties map[string]string // zeebe:properties
	Action     bool              // raises an action: send/service task with a task type, message throw or end event

	SLA        time.Duration // tracker.sla, 0 = none
	StuckAfter time.Duration // tracker.stuckAfter, 0 = none

	// Added after the first contract:

	Conformance Conformance // tracker.conformance on the element; "" = the process's
	Line        int         // line of the element in the file
}

// Flow is a sequence flow.
type Flow struct {
	ID        string
	Name      string
	Source    *Element
	Target    *Element
	Condition *feel.Expression // nil: unconditional
	// Deferred is true when the condition is outside the FEEL subset: the engine
	// decides the branch by the first event that arrives (DESIGN.md §4.6).
	Deferred bool
	Default  bool

	// Added after the first contract:

	Line int // line of the flow in the file
}

// Message is a BPMN <message> with its Zeebe subscription.
type Message struct {
	ID             string
	Name           string
	CorrelationKey *feel.Expression // from zeebe:subscription correlationKey; nil for start-only use
}

// TimerKind says which of the three BPMN timer forms a timer uses.
type TimerKind string

// Timer forms.
const (
	TimerDuration TimerKind = "timeDuration"
	TimerDate     TimerKind = "timeDate"
	TimerCycle    TimerKind = "timeCycle"
)

// Timer is a parsed timer definition.
type Timer struct {
	Kind     TimerKind
	Text     string           // as written in the model
	Duration iso8601.Duration // TimerDuration; and the period of TimerCycle
	Date     time.Time        // TimerDate; and an optional cycle start
	Repeat   int              // TimerCycle: number of repetitions, -1 = unbounded (R/...)
}

// First returns when the timer is first due for an activation at the given time
// (event time of the activating message).
func (t *Timer) First(activated time.Time) time.Time {
	switch t.Kind {
	case TimerDate:
		return t.Date
	case TimerCycle:
		if !t.Date.IsZero() {
			return t.Date
		}
		return t.Duration.AddTo(activated)
	default:
		return t.Duration.AddTo(activated)
	}
}

// Next returns when a cycle timer is due again after firing at due for the
// fired-th time (1 for the first firing), and false when it does not re-arm.
func (t *Timer) Next(due time.Time, fired int) (time.Time, bool) {
	if t.Kind != TimerCycle || (t.Repeat >= 0 && fired >= t.Repeat) {
		return time.Time{}, false
	}
	return t.Duration.AddTo(due), true
}

// The declarations below were added by the models package after the first
// contract; they only extend it.

// IsActivity reports whether the element is a task or sub-process (event
// sub-processes included, though they cannot carry boundary events).
func (e *Element) IsActivity() bool {
	switch e.Kind {
	case ReceiveTask, SendTask, ServiceTask, Task, ManualTask, UserTask, SubProcess:
		return true
	}
	return false
}

// IsGateway reports whether the element is a gateway.
func (e *Element) IsGateway() bool {
	switch e.Kind {
	case ExclusiveGateway, ParallelGateway, InclusiveGateway, EventBasedGateway:
		return true
	}
	return false
}

// IsEventSubProcess reports whether the element is an event sub-process.
func (e *Element) IsEventSubProcess() bool { return e.Kind == SubProcess && e.TriggeredByEvent }

// WaitsForMessage reports whether an instance waiting at the element can be
// moved on by a message: message catch and boundary events, receive tasks and
// message start events.
func (e *Element) WaitsForMessage() bool {
	switch e.Kind {
	case IntermediateCatchEvent, BoundaryEvent, StartEvent, ReceiveTask:
		return e.Event == MessageEvent && e.Message != nil
	}
	return false
}

// StartEventsFor returns the process-level message start events that start
// an instance on the named message, in document order.
func (p *Process) StartEventsFor(messageName string) []*Element { return p.starts[messageName] }

// CatchEventsFor returns every element that a running instance can wait at
// for the named message: intermediate catch events, boundary events, receive
// tasks and message start events of event sub-processes, at any depth, in
// document order.
func (p *Process) CatchEventsFor(messageName string) []*Element { return p.catches[messageName] }

// MessageNames returns the names of the messages the process starts on or
// catches, sorted.
func (p *Process) MessageNames() []string { return p.messageNames }

// Scopes returns the process scope followed by every sub-process scope, in
// document order.
func (p *Process) Scopes() []*Scope { return p.scopes }
