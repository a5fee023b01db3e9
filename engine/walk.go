package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/feel"
	"github.com/tracker-dev/tracker/models"
)

// run walks one instance for one trigger (a start, a message, a timer). at is
// the logical time of the walk: the event time of the message, or the due
// time of the timer (§4.8: chained timers count from the timer's activation).
type run struct {
	t      *txn
	g      *group
	in     *instance
	p      *models.Process
	at     time.Time
	out    *Outcome
	timer  bool // started by a timer: actions carry DueAt
	queue  []activation
	qi     int // index of the activation running in drain
	checks []int64
	opened []openedSub
	incl   []activation // inclusive joins waiting for tokens
}

type activation struct {
	el    *models.Element
	scope int64
	flow  *models.Flow
}

type openedSub struct {
	ei  *elemInst
	msg string
	ck  string
}

// --- element instances ---

func (r *run) newElem(el *models.Element, scope int64, state ElementState) *elemInst {
	r.t.e.cnt.inst++
	ei := &elemInst{key: r.t.e.cnt.inst, el: el.ID, state: state, scope: scope, start: stampOf(r.at)}
	if state == ElementActive {
		if n := trigCap(el); n > 1 { // one trigger: append allocates just that
			ei.trigs = make([]trigger, 0, n)
		}
	}
	r.in.elems = append(r.in.elems, ei)
	r.t.elementChange(ChangeElementStarted, r, ei, el)
	if r.out != nil {
		r.out.Entered = append(r.out.Entered, el.ID)
	}
	if state == ElementSkipped {
		ei.end = stampOf(r.at)
		r.in.unarchived = true
		r.t.elementChange(ChangeElementSkipped, r, ei, el)
		if r.out != nil {
			r.out.Left = append(r.out.Left, el.ID)
		}
	}
	return ei
}

// trigCap is how many triggers an active element opens at most when it is
// entered (its boundary events, the branches of an event-based gateway, the
// event sub-process starts of a sub-process, its own catch), so that they
// are allocated once.
func trigCap(el *models.Element) int {
	n := len(el.Boundaries)
	switch el.Kind {
	case models.EventBasedGateway:
		n += len(el.Outgoing)
	case models.SubProcess:
		if el.Inner != nil {
			for _, esp := range el.Inner.EventSubProcesses {
				if esp.Inner != nil {
					n += len(esp.Inner.MessageStarts) + len(esp.Inner.TimerStarts)
				}
			}
		}
	case models.IntermediateCatchEvent, models.ReceiveTask:
		n++
	}
	return n
}

func (r *run) leave(ei *elemInst, state ElementState) {
	if ei.state != ElementActive {
		return
	}
	r.cancelTrigs(ei, func(trigger) bool { return true })
	ei.state = state
	ei.end = stampOf(r.at)
	if ei.root {
		return
	}
	r.in.unarchived = true
	kind := ChangeElementCompleted
	switch state {
	case ElementTerminated:
		kind = ChangeElementTerminated
	case ElementSkipped:
		kind = ChangeElementSkipped
	}
	r.t.elementChange(kind, r, ei, r.p.Elements[ei.el])
	if r.out != nil {
		r.out.Left = append(r.out.Left, ei.el)
	}
}

// terminate ends an element instance and, first, everything inside it.
func (r *run) terminate(ei *elemInst) {
	for _, c := range r.in.elems {
		if c.scope == ei.key && c.state == ElementActive {
			r.terminate(c)
		}
	}
	r.dropJoins(ei.key)
	r.leave(ei, ElementTerminated)
}

func (r *run) dropJoins(scope int64) {
	j := r.in.joins[:0]
	for _, x := range r.in.joins {
		if x.scope != scope {
			j = append(j, x)
		}
	}
	r.in.joins = j
}

// cancelTrigs removes triggers of an element instance. A cancelled timer's
// index entry is left in the store (lazy deletion): Tick finds no matching
// trigger when it comes due and deletes it then. Most timers are cancelled
// (the order is delivered before the delay notice), so this saves a store
// write on the hot path for a read at due time.
func (r *run) cancelTrigs(ei *elemInst, which func(trigger) bool) {
	keep := ei.trigs[:0]
	for _, tr := range ei.trigs {
		if !which(tr) {
			keep = append(keep, tr)
		}
	}
	ei.trigs = keep
	if len(keep) == 0 {
		ei.trigs = nil
	}
}

func (r *run) active(scope int64) bool {
	for _, c := range r.in.elems {
		if c.scope == scope && c.state == ElementActive {
			return true
		}
	}
	for _, j := range r.in.joins {
		if j.scope == scope {
			return true
		}
	}
	return false
}

// --- triggers ---

func (r *run) openSub(ei *elemInst, target *models.Element, flow string) {
	if target.Message == nil {
		return
	}
	ck := r.evalKey(target.Message.CorrelationKey)
	ei.trigs = append(ei.trigs, trigger{target: target.ID, msg: target.Message.Name, ck: ck, flow: flow})
	if ck != r.g.ck {
		r.t.addForeign(ck, r.g.ck, r.in.key)
	}
	r.opened = append(r.opened, openedSub{ei: ei, msg: target.Message.Name, ck: ck})
}

func (r *run) arm(ei *elemInst, target *models.Element, base time.Time, fired int) {
	if target.Timer == nil {
		return
	}
	var due time.Time
	if fired == 0 {
		due = target.Timer.First(base)
	} else {
		var ok bool
		if due, ok = target.Timer.Next(base, fired); !ok {
			return
		}
	}
	ei.trigs = append(ei.trigs, trigger{target: target.ID, due: stampOf(due), fired: fired})
	r.t.kbuf = appendTimerKey(r.t.kbuf, due, r.in.key, ei.key, target.ID)
	r.t.b.Set(r.t.kbuf, unsafe.Slice(unsafe.StringData(r.g.ck), len(r.g.ck)), nil) // Set copies; never written to
	r.t.lowerFloor(pTimer, due)

	if r.t.e.nextDue.IsZero() || due.Before(r.t.e.nextDue) {
		r.t.e.nextDue = due
	}
}

func (r *run) openTrigger(ei *elemInst, target *models.Element, flow string) {
	switch target.Event {
	case models.MessageEvent:
		r.openSub(ei, target, flow)
	case models.TimerEvent:
		r.arm(ei, target, r.at, 0)
	}
	if target.Kind == models.ReceiveTask && target.Event != models.MessageEvent {
		r.openSub(ei, target, flow)
	}
}

func (r *run) openBoundaries(ei *elemInst, el *models.Element) {
	for _, b := range el.Boundaries {
		r.openTrigger(ei, b, "")
	}
}

func (r *run) openEventSubs(ei *elemInst, sc *models.Scope) {
	if sc == nil {
		return
	}
	for _, esp := range sc.EventSubProcesses {
		if esp.Inner == nil {
			continue
		}
		for _, s := range esp.Inner.MessageStarts {
			r.openTrigger(ei, s, "")
		}
		for _, s := range esp.Inner.TimerStarts {
			r.openTrigger(ei, s, "")
		}
	}
}

// --- walking ---

func (r *run) enqueue(el *models.Element, scope int64, f *models.Flow) {
	r.queue = append(r.queue, activation{el: el, scope: scope, flow: f})
}

// drain runs queued activations and scope-completion checks until none are left.
func (r *run) drain() {
	for len(r.queue) > 0 || len(r.checks) > 0 || len(r.incl) > 0 {
		for r.qi = 0; r.qi < len(r.queue); r.qi++ {
			r.activate(r.queue[r.qi]) // may append to r.queue
		}
		r.queue, r.qi = r.queue[:0], 0
		if len(r.incl) > 0 {
			pending := r.incl
			r.incl = nil
			for _, a := range pending {
				r.activate(activation{el: a.el, scope: a.scope}) // re-check the join
			}
			if len(r.queue) > 0 {
				continue
			}
		}
		if len(r.checks) > 0 {
			s := r.checks[0]
			// shift, not reslice: the run keeps the capacity for reuse
			r.checks = r.checks[:copy(r.checks, r.checks[1:])]
			r.checkScope(s)
		}
	}
}

func (r *run) activate(a activation) {
	el := a.el
	switch el.Kind {
	case models.ParallelGateway:
		if len(el.Incoming) > 1 && !r.joinParallel(el, a) {
			return
		}
		ei := r.newElem(el, a.scope, ElementActive)
		r.leave(ei, ElementCompleted)
		r.takeAll(el, ei.scope, false)
	case models.InclusiveGateway:
		if len(el.Incoming) > 1 && !r.joinInclusive(el, a) {
			return
		}
		ei := r.newElem(el, a.scope, ElementActive)
		r.leave(ei, ElementCompleted)
		r.takeAll(el, ei.scope, true)
	case models.ExclusiveGateway:
		ei := r.newElem(el, a.scope, ElementActive)
		r.exclusive(el, ei)
	case models.EventBasedGateway:
		ei := r.newElem(el, a.scope, ElementActive)
		for _, f := range el.Outgoing {
			r.openTrigger(ei, f.Target, f.ID)
		}
	case models.SubProcess:
		ei := r.newElem(el, a.scope, ElementActive)
		r.openBoundaries(ei, el)
		r.openEventSubs(ei, el.Inner)
		if el.Inner != nil && el.Inner.NoneStart != nil {
			r.enqueue(el.Inner.NoneStart, ei.key, nil)
		} else {
			r.checks = append(r.checks, ei.key)
		}
	case models.IntermediateCatchEvent, models.ReceiveTask:
		ei := r.newElem(el, a.scope, ElementActive)
		if el.Kind == models.ReceiveTask {
			r.openSub(ei, el, "")
			r.openBoundaries(ei, el)
		} else {
			r.openTrigger(ei, el, "")
		}
		if len(ei.trigs) == 0 { // nothing to wait for: pass through
			r.leave(ei, ElementCompleted)
			r.takeAll(el, ei.scope, true)
		}
	case models.EndEvent:
		ei := r.newElem(el, a.scope, ElementActive)
		if el.Action {
			r.raise(el, ei)
		}
		r.leave(ei, ElementCompleted)
		if el.Event == models.TerminateEvent {
			r.terminateScope(ei.scope)
		}
		if ei.scope == r.root().key {
			r.in.endEl = el.ID
		}
		r.checks = append(r.checks, ei.scope)
	default: // start events, tasks, throw events, send and service tasks
		ei := r.newElem(el, a.scope, ElementActive)
		if el.Action {
			r.raise(el, ei)
		}
		r.leave(ei, ElementCompleted)
		r.takeAll(el, ei.scope, true)
	}
}

func (r *run) root() *elemInst { return r.in.elems[0] }

// terminateScope ends every other active element of a scope (terminate end event).
func (r *run) terminateScope(scope int64) {
	for _, c := range r.in.elems {
		if c.scope == scope && c.state == ElementActive {
			r.terminate(c)
		}
	}
	r.dropJoins(scope)
}

// takeAll leaves an element by its outgoing flows: unconditional ones always,
// conditional ones when their condition holds, the default flow when no
// conditional flow was taken. No outgoing flow ends the token (implicit end).
func (r *run) takeAll(el *models.Element, scope int64, conditions bool) {
	taken := 0
	for _, f := range el.Outgoing {
		if f.Default || f == el.Default {
			continue
		}
		if conditions && f.Condition != nil {
			if v, ok := r.cond(f); !ok || !v {
				continue
			}
		}
		r.enqueue(f.Target, scope, f)
		taken++
	}
	if taken == 0 && el.Default != nil {
		r.enqueue(el.Default.Target, scope, el.Default)
		taken++
	}
	if taken == 0 {
		if len(el.Outgoing) > 0 && el.Kind == models.InclusiveGateway {
			r.t.incident(r, el.ID, "no outgoing flow of the inclusive gateway matched")
		}
		r.checks = append(r.checks, scope)
	}
}

// exclusive takes the first flow whose condition holds, else the default. If
// a condition cannot be evaluated (outside the FEEL subset, or its variables
// are missing), the gateway waits and the branch whose event arrives first
// wins (deferred choice, §4.6).
func (r *run) exclusive(el *models.Element, ei *elemInst) {
	deferred := false
	for _, f := range el.Outgoing {
		if f.Default || f == el.Default {
			continue
		}
		if f.Condition == nil && !f.Deferred {
			r.leave(ei, ElementCompleted)
			r.enqueue(f.Target, ei.scope, f)
			return
		}
		if f.Deferred {
			deferred = true
			continue
		}
		v, ok := r.cond(f)
		if !ok {
			deferred = true
			continue
		}
		if v {
			r.leave(ei, ElementCompleted)
			r.enqueue(f.Target, ei.scope, f)
			return
		}
	}
	if deferred {
		for _, f := range el.Outgoing {
			if c := firstCatch(f.Target); c != nil {
				r.openSub(ei, c, f.ID)
			}
		}
		if len(ei.trigs) > 0 {
			return
		}
	}
	if el.Default != nil {
		r.leave(ei, ElementCompleted)
		r.enqueue(el.Default.Target, ei.scope, el.Default)
		return
	}
	r.t.incident(r, el.ID, "no outgoing flow of the exclusive gateway matched and there is no default flow")
}

// firstCatch returns the message catch element a branch waits at first,
// following pass-through elements; nil if the branch has none.
func firstCatch(el *models.Element) *models.Element {
	for range 64 {
		switch {
		case el == nil:
			return nil
		case (el.Kind == models.IntermediateCatchEvent && el.Event == models.MessageEvent) || el.Kind == models.ReceiveTask:
			return el
		case passThrough(el) && len(el.Outgoing) == 1:
			el = el.Outgoing[0].Target
		default:
			return nil
		}
	}
	return nil
}

func passThrough(el *models.Element) bool {
	switch el.Kind {
	case models.Task, models.ManualTask, models.UserTask, models.SendTask, models.ServiceTask, models.IntermediateThrowEvent:
		return true
	}
	return false
}

func (r *run) joinParallel(el *models.Element, a activation) bool {
	j := r.joinFor(a.scope, el.ID)
	if a.flow != nil {
		j.flows[a.flow.ID]++
	}
	for _, f := range el.Incoming {
		if j.flows[f.ID] == 0 {
			return false
		}
	}
	for _, f := range el.Incoming {
		j.flows[f.ID]--
	}
	r.cleanJoins()
	return true
}

// joinInclusive fires when a token arrived and no other active token of the
// scope can still reach the gateway.
func (r *run) joinInclusive(el *models.Element, a activation) bool {
	j := r.joinFor(a.scope, el.ID)
	if a.flow != nil {
		j.flows[a.flow.ID]++
	}
	total := 0
	for _, n := range j.flows {
		total += n
	}
	if total == 0 {
		r.cleanJoins()
		return false
	}
	for _, c := range r.in.elems {
		if c.scope == a.scope && c.state == ElementActive && reaches(r.p.Elements[c.el], el) {
			r.incl = append(r.incl, activation{el: el, scope: a.scope})
			return false
		}
	}
	for _, q := range r.queue[min(r.qi+1, len(r.queue)):] {
		if q.scope == a.scope && q.el != el && reaches(q.el, el) {
			r.incl = append(r.incl, activation{el: el, scope: a.scope})
			return false
		}
	}
	for f := range j.flows {
		if j.flows[f] > 0 {
			j.flows[f]--
		}
	}
	r.cleanJoins()
	return true
}

func (r *run) joinFor(scope int64, gw string) *join {
	for i := range r.in.joins {
		if r.in.joins[i].scope == scope && r.in.joins[i].gw == gw {
			return &r.in.joins[i]
		}
	}
	r.in.joins = append(r.in.joins, join{scope: scope, gw: gw, flows: map[string]int{}})
	return &r.in.joins[len(r.in.joins)-1]
}

func (r *run) cleanJoins() {
	keep := r.in.joins[:0]
	for _, j := range r.in.joins {
		for _, n := range j.flows {
			if n > 0 {
				keep = append(keep, j)
				break
			}
		}
	}
	r.in.joins = keep
}

// reaches reports whether to can be reached from from along sequence flows
// (within one scope).
func reaches(from, to *models.Element) bool {
	seen := map[*models.Element]bool{from: true}
	stack := []*models.Element{from}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, f := range x.Outgoing {
			if f.Target == to {
				return true
			}
			if !seen[f.Target] {
				seen[f.Target] = true
				stack = append(stack, f.Target)
			}
		}
	}
	return false
}

// checkScope completes a scope whose last token is gone.
func (r *run) checkScope(scope int64) {
	var sc *elemInst
	if scope == r.root().key {
		sc = r.root()
	} else {
		sc = r.in.elem(scope)
	}
	if sc == nil || sc.state != ElementActive || r.active(scope) {
		return
	}
	if sc.root {
		r.leave(sc, ElementCompleted)
		r.t.endInstance(r, InstanceCompleted)
		return
	}
	r.leave(sc, ElementCompleted)
	el := r.p.Elements[sc.el]
	if el.TriggeredByEvent {
		r.checks = append(r.checks, sc.scope)
		return
	}
	r.takeAll(el, sc.scope, true)
}

// fire runs a trigger of an active element instance. m is the message for
// message triggers (its variables are merged already), nil for timers.
func (r *run) fire(ei *elemInst, tr trigger, m *Message) {
	target := r.p.Elements[tr.target]
	if target == nil {
		r.t.incident(r, tr.target, "element is not in the deployed model")
		return
	}
	own := r.p.Elements[ei.el]
	switch {
	case tr.target == ei.el: // catch event, receive task
		r.leave(ei, ElementCompleted)
		r.takeAll(own, ei.scope, true)
	case target.Kind == models.BoundaryEvent:
		if target.Interrupting {
			r.terminate(ei)
		} else {
			r.rearm(ei, tr)
		}
		b := r.newElem(target, ei.scope, ElementActive)
		r.leave(b, ElementCompleted)
		r.takeAll(target, ei.scope, true)
	case own != nil && own.Kind == models.EventBasedGateway:
		r.leave(ei, ElementCompleted)
		c := r.newElem(target, ei.scope, ElementActive)
		r.leave(c, ElementCompleted)
		r.takeAll(target, ei.scope, true)
	case own != nil && own.Kind == models.ExclusiveGateway: // deferred choice
		r.leave(ei, ElementCompleted)
		f := r.p.Flows[tr.flow]
		if f == nil {
			return
		}
		r.enqueue(f.Target, ei.scope, f)
		r.drain()
		// deliver the message to the catch element the branch reached
		for _, c := range r.in.elems {
			if c.state == ElementActive && c.el == tr.target {
				for _, t2 := range c.trigs {
					if t2.target == tr.target && t2.msg == tr.msg {
						r.fire(c, t2, m)
						return
					}
				}
			}
		}
	case target.Kind == models.StartEvent && target.Parent != nil && target.Parent.TriggeredByEvent:
		esp := target.Parent
		if target.Interrupting {
			for _, c := range r.in.elems {
				if c.scope == ei.key && c.state == ElementActive {
					r.terminate(c)
				}
			}
			r.dropJoins(ei.key)
			r.cancelTrigs(ei, func(t trigger) bool {
				el := r.p.Elements[t.target]
				return el != nil && el.Kind == models.StartEvent
			})
		} else {
			r.rearm(ei, tr)
		}
		s := r.newElem(esp, ei.key, ElementActive)
		st := r.newElem(target, s.key, ElementActive)
		r.leave(st, ElementCompleted)
		r.takeAll(target, s.key, true)
	default:
		r.t.incident(r, tr.target, "unsupported trigger")
	}
}

// rearm handles a non-interrupting trigger after it fired: message triggers
// stay open, timers re-arm when they are cycles and are removed otherwise.
func (r *run) rearm(ei *elemInst, tr trigger) {
	if tr.msg != "" {
		return
	}
	r.cancelTrigs(ei, func(t trigger) bool { return t.target == tr.target && t.due == tr.due && t.msg == "" })
	if target := r.p.Elements[tr.target]; target != nil && target.Timer != nil {
		r.arm(ei, target, tr.due.time(), tr.fired+1)
	}
}

// --- skip ahead (lenient conformance, §4.5) ---

// skipPath finds a path from a waiting element to a catch element for the
// message downstream of it, entering and leaving embedded sub-processes.
func skipPath(from *models.Element, msg string) []*models.Element {
	type node struct {
		el   *models.Element
		prev *node
	}
	seen := map[*models.Element]bool{from: true}
	q := []*node{{el: from}}
	for len(q) > 0 {
		n := q[0]
		q = q[1:]
		var next []*models.Element
		for _, f := range n.el.Outgoing {
			next = append(next, f.Target)
		}
		if n.el.Kind == models.SubProcess && n.prev != nil && n.el.Inner != nil && n.el.Inner.NoneStart != nil {
			next = []*models.Element{n.el.Inner.NoneStart}
		}
		if len(n.el.Outgoing) == 0 && n.el.Parent != nil && !n.el.Parent.TriggeredByEvent {
			for _, f := range n.el.Parent.Outgoing {
				next = append(next, f.Target)
			}
		}
		for _, x := range next {
			if seen[x] {
				continue
			}
			seen[x] = true
			nn := &node{el: x, prev: n}
			if x.Message != nil && x.Message.Name == msg && (x.Kind == models.IntermediateCatchEvent || x.Kind == models.ReceiveTask) {
				var path []*models.Element
				for p := nn; p != nil; p = p.prev {
					path = append([]*models.Element{p.el}, path...)
				}
				return path
			}
			q = append(q, nn)
		}
	}
	return nil
}

// skipTo moves the token of ei along path (from skipPath), recording the
// elements passed over as skipped, and activates the catch element at the
// end, which the caller then fires with the message.
func (r *run) skipTo(ei *elemInst, path []*models.Element) *elemInst {
	r.leave(ei, ElementSkipped)
	scope := ei.scope
	for i := 1; i < len(path)-1; i++ {
		el := path[i]
		switch {
		case el.Kind == models.SubProcess:
			s := r.newElem(el, scope, ElementActive)
			r.openBoundaries(s, el)
			r.openEventSubs(s, el.Inner)
			scope = s.key
		default:
			r.newElem(el, scope, ElementSkipped)
			if len(el.Outgoing) == 0 && el.Parent != nil && path[i+1].Parent != el.Parent {
				// leaving a sub-process through its end
				if sc := r.in.elem(scope); sc != nil {
					r.terminateScope(scope)
					r.leave(sc, ElementCompleted)
					scope = sc.scope
				}
			}
		}
	}
	target := path[len(path)-1]
	c := r.newElem(target, scope, ElementActive)
	if target.Kind == models.ReceiveTask {
		r.openBoundaries(c, target)
	}
	return c
}

// --- variables, expressions ---

func (r *run) merge(vars []byte) {
	if len(vars) == 0 {
		return
	}
	// parsed in place: keys and values are copied only when they are new or
	// changed (events of one instance usually repeat most of their fields)
	res := gjson.Parse(unsafe.String(unsafe.SliceData(vars), len(vars)))
	if !res.IsObject() {
		return // correlate only passes objects; anything else carries no variables
	}
	// the feed gets the variables that changed: history merges them, and
	// events that repeat their fields cost the feed nothing
	changed := r.t.vbuf[:0]
	res.ForEach(func(k, v gjson.Result) bool {
		key := k.String()
		if old, ok := r.in.vars.get(key); ok && string(old) == v.Raw {
			return true
		}
		r.in.vars.set(key, json.RawMessage(v.Raw), r.t.e.varName)
		r.in.decoded, r.in.varsEnc = nil, nil
		if len(changed) == 0 {
			changed = append(changed, '{')
		} else {
			changed = append(changed, ',')
		}
		changed = append(append(append(changed, k.Raw...), ':'), v.Raw...)
		return true
	})
	if len(changed) == 0 {
		return
	}
	changed = append(changed, '}')
	r.t.vbuf = changed
	r.t.change(ChangeVariables, r.at, r.in, "", changed)
}

func (in *instance) varsMap() map[string]any {
	if in.decoded != nil {
		return in.decoded
	}
	m := make(map[string]any, len(in.vars))
	for _, kv := range in.vars {
		var x any
		if json.Unmarshal(kv.v, &x) == nil {
			m[kv.k] = x
		}
	}
	in.decoded = m
	return m
}

type evaluator interface {
	Eval(vars map[string]any) (any, error)
}

type sourcer interface{ String() string }

// evalKey evaluates a subscription's correlation key at activation. When the
// expression names a variable the instance does not have (tracking events
// often carry the key outside their variables), the instance's own
// correlation key is used.
func (r *run) evalKey(x *feel.Expression) string {
	if x == nil {
		return r.in.ck
	}
	if s, ok := any(x).(sourcer); ok {
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s.String()), "="))
		if isIdent(name) {
			raw, ok := r.in.vars.get(name)
			if !ok {
				return r.in.ck
			}
			var v any
			if json.Unmarshal(raw, &v) != nil || v == nil {
				return r.in.ck
			}
			return keyString(v)
		}
	}
	ev, ok := any(x).(evaluator)
	if !ok {
		return r.in.ck
	}
	v, err := ev.Eval(r.in.varsMap())
	if err != nil || v == nil {
		return r.in.ck
	}
	return keyString(v)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func keyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// cond evaluates a flow condition; ok is false when it cannot be evaluated.
func (r *run) cond(f *models.Flow) (value, ok bool) {
	if f.Condition == nil {
		return true, true
	}
	ev, isEv := any(f.Condition).(evaluator)
	if !isEv || f.Deferred {
		return false, false
	}
	if src, isSrc := any(f.Condition).(sourcer); isSrc {
		for _, name := range feelNames(src.String()) {
			if !r.in.vars.has(name) {
				return false, false // a variable the events never carried: cannot evaluate
			}
		}
	}
	v, err := ev.Eval(r.in.varsMap())
	if err != nil {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, v != nil
	}
	return b, true
}

// --- actions ---

func actionID(inst int64, el string, at time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d/%s/%d", inst, el, at.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// raise writes an outbox entry for an action element. Tracking continues at
// once; delivery is tracked on the outbox entry (see docs/ENGINE.md).
func (r *run) raise(el *models.Element, ei *elemInst) {
	typ := el.Headers["messageType"]
	if typ == "" && el.Message != nil {
		typ = el.Message.Name
	}
	if typ == "" {
		typ = el.ID
	}
	target := el.Headers["topic"]
	if target == "" {
		target = el.Headers["kafka-topic"]
	}
	if target == "" {
		target = el.Headers["target"]
	}
	vars, _ := json.Marshal(r.in.vars)
	a := Action{
		ID: actionID(r.in.key, el.ID, r.at), Type: typ, Target: target,
		ProcessID: r.in.pid, Version: r.in.ver, InstanceKey: r.in.key, CorrelationKey: r.in.ck,
		ElementID: el.ID, RaisedAt: r.at, Variables: vars, Headers: el.Headers, State: ActionPending,
	}
	if r.timer {
		due := r.at
		a.DueAt = &due
	}
	r.t.addAction(&a, r.at)
}

var feelKeywords = map[string]bool{
	"and": true, "or": true, "not": true, "true": true, "false": true, "null": true,
	"between": true, "in": true, "instance": true, "of": true, "if": true, "then": true, "else": true,
}

// feelNames returns the top-level variable names a FEEL expression reads:
// identifiers outside string literals that are not keywords, not function
// names (a run of words followed by "(") and not property names after ".".
func feelNames(src string) []string {
	src = strings.TrimPrefix(strings.TrimSpace(src), "=")
	var names, run []string
	flush := func(next byte) {
		if next != '(' {
			for _, w := range run {
				if !feelKeywords[w] {
					names = append(names, w)
				}
			}
		}
		run = run[:0]
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"':
			flush(c)
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			if i > 0 && src[i-1] == '.' {
				i = j // property of a path
				continue
			}
			run = append(run, src[i:j])
			i = j
		case c == ' ' || c == '\t' || c == '\n':
			i++
		default:
			flush(c)
			i++
		}
	}
	flush(0)
	return names
}
