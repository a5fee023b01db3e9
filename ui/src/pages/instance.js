// Instance page: the path drawn on the diagram, the event timeline with
// payloads, variables, open subscriptions, pending timers, actions, incidents.
import { api } from '../api.js';
import { showDiagram, zoomControls, wireZoom } from '../diagram.js';
import { esc, dur, time, ago, badge, json, empty } from '../util.js';

const PATH_STATES = ['completed', 'active', 'skipped', 'terminated'];

export async function instancePage(app, { params }) {
  const [key] = params;
  let inst;
  try {
    inst = await api.get(`/instances/${key}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    app.innerHTML = `<div class="page"><div class="crumbs"><a href="/instances">Instances</a> / ${esc(key)}</div>
      <h1>Instance ${esc(key)} not found</h1><p>No instance has this key. <a href="/instances?q=${encodeURIComponent(key)}">Search for “${esc(key)}”</a> as a correlation key instead.</p></div>`;
    return null;
  }
  const model = await api.get(`/models/${encodeURIComponent(inst.processId)}`, { version: inst.version }).catch(() => ({ elements: [] }));
  const names = new Map((model.elements || []).map((e) => [e.id, e.name || e.id]));
  const nm = (id) => esc(names.get(id) || id);
  const ended = inst.endedAt ? new Date(inst.endedAt) : new Date();
  const stuck = (inst.activeElements || []).filter((a) => a.stuck);

  app.innerHTML = `<div class="page">
    <div class="crumbs"><a href="/">Processes</a> / <a href="/processes/${encodeURIComponent(inst.processId)}">${esc(model.name || inst.processId)}</a> / <a href="/instances?processId=${encodeURIComponent(inst.processId)}">Instances</a> / <span>${esc(inst.key)}</span></div>
    <div class="page-head">
      <div><h1>${esc(inst.correlationKey || inst.key)} ${badge(inst.state)} ${stuck.length ? badge('stuck') : ''} ${inst.slaState && inst.slaState !== 'ok' ? badge(inst.slaState, `SLA ${inst.slaState}`) : ''}</h1>
        <p class="muted">Instance <span class="mono">${esc(inst.key)}</span> of ${esc(inst.processId)} v${esc(inst.version)} · started ${time(inst.startedAt)} · ${inst.endedAt ? `ended ${time(inst.endedAt)}${inst.endElement ? ` at ${nm(inst.endElement)}` : ''} · took` : 'running for'} ${dur(ended - new Date(inst.startedAt))}
        ${inst.indexed === false ? ' · <span class="text-amber">history has not indexed it yet: live view from the engine</span>' : ''}</p></div>
    </div>
    <section class="card diagram-card"><div class="card-head"><div class="card-title">Path</div>
      <div class="legend"><span><i class="sw path-completed-sw"></i>completed</span><span><i class="sw path-active-sw"></i>active</span><span><i class="sw path-stuck-sw"></i>stuck</span><span><i class="sw path-skipped-sw"></i>skipped</span><span><i class="sw path-terminated-sw"></i>terminated</span><span><i class="sw sw-incident"></i>incident</span></div></div>
      <div class="diagram diagram-short" id="diagram">${zoomControls()}</div></section>
    <div class="grid-inst">
      <div>
        <section class="card"><div class="card-head"><div class="card-title">Timeline</div><span class="muted small">${esc(inst.events.length)} event${inst.events.length === 1 ? '' : 's'}${inst.truncated ? ' (truncated)' : ''}</span></div>${timeline(inst, nm)}</section>
        <section class="card"><div class="card-head"><div class="card-title">Element instances</div></div>${pathTable(inst, nm)}</section>
      </div>
      <div>
        <section class="card"><div class="card-head"><div class="card-title">Variables</div></div>${json(inst.variables)}</section>
        <section class="card"><div class="card-head"><div class="card-title">Waiting for</div></div>${waiting(inst, nm)}</section>
        <section class="card"><div class="card-head"><div class="card-title">Actions</div></div>${actions(inst, nm)}</section>
        <section class="card"><div class="card-head"><div class="card-title">Incidents</div></div>${incidents(inst, nm)}</section>
      </div>
    </div>
  </div>`;

  let d;
  try {
    d = await showDiagram(app.querySelector('#diagram'), inst.processId, inst.version);
  } catch (err) {
    app.querySelector('#diagram').innerHTML = empty(`No diagram: ${err.message}`);
    return null;
  }
  wireZoom(app, d);
  const seen = new Set();
  const skipped = new Set(inst.path.filter((p) => p.state === 'skipped').map((p) => p.elementId));
  // Later entries win: a loop that re-entered an element shows its latest state.
  for (const p of inst.path) {
    if (!PATH_STATES.includes(p.state)) continue;
    for (const s of PATH_STATES) { d.unmarker(p.elementId, `path-${s}`); d.unmarker(p.elementId, `path-c-${s}`); }
    d.marker(p.elementId, p.kind === 'subProcess' ? `path-c-${p.state}` : `path-${p.state}`);
    seen.add(p.elementId);
  }
  for (const e of d.elements()) {
    const bo = e.businessObject;
    if (e.type === 'bpmn:SequenceFlow' && bo.sourceRef && bo.targetRef && seen.has(bo.sourceRef.id) && seen.has(bo.targetRef.id)) {
      d.marker(e.id, skipped.has(bo.sourceRef.id) || skipped.has(bo.targetRef.id) ? 'flow-skipped' : 'flow-taken');
    }
  }
  for (const a of inst.activeElements || []) {
    if (a.stuck) d.marker(a.elementId, 'path-stuck');
    d.overlay(a.elementId, { top: -26, left: 0 }, `<span class="ov-label ${a.stuck ? 'ov-label-stuck' : 'ov-label-active'}" data-element="${esc(a.elementId)}" data-kind="waiting">${a.stuck ? 'stuck · ' : 'waiting · '}${dur(Date.now() - new Date(a.since))}</span>`);
  }
  for (const i of inst.incidents || []) {
    if (i.elementId && i.state === 'open') { d.marker(i.elementId, 'path-incident'); d.overlay(i.elementId, { top: -10, right: 10 }, '<span class="ov ov-incident" title="open incident">!</span>'); }
  }
  for (const p of inst.path) {
    if (p.state === 'skipped') d.overlay(p.elementId, d.element(p.elementId).width < 60 ? { top: -22, left: -10 } : { bottom: 10, left: -8 }, '<span class="ov ov-skipped" title="skipped: a later event arrived first">skipped</span>');
  }
  return () => d.destroy();
}

function timeline(inst, nm) {
  const evs = inst.events.slice().sort((a, b) => new Date(a.eventTime) - new Date(b.eventTime));
  if (!evs.length) return empty('No events recorded for this instance.');
  return `<ol class="timeline">${evs.map((e) => `<li class="tl tl-${esc(e.outcome)}">
    <div class="tl-head"><strong>${esc(e.messageName || '(no name)')}</strong> ${badge(e.outcome)} ${e.reason ? `<span class="muted small">${esc(e.reason)}</span>` : ''}
      <span class="tl-time" title="read ${esc(time(e.readAt))}">${time(e.eventTime)}</span></div>
    <div class="muted small">${esc(e.source || '')}${e.topic ? ` · ${esc(e.topic)}/${esc(e.partition ?? 0)}@${esc(e.offset)}` : ''} · message id <span class="mono">${esc(e.messageId)}</span>${e.elementId ? ` · at ${nm(e.elementId)}` : ''}</div>
    <details><summary>Payload</summary>${json(e.payload ?? {})}</details></li>`).join('')}</ol>`;
}

function pathTable(inst, nm) {
  if (!inst.path.length) return empty('No element instances yet.');
  return `<div class="table-wrap"><table class="table"><thead><tr><th>Element</th><th>Kind</th><th>State</th><th>Entered</th><th class="num">Duration</th></tr></thead><tbody>
    ${inst.path.map((p) => `<tr><td>${p.scopeKey ? '<span class="indent"></span>' : ''}${nm(p.elementId)} <span class="muted small">${esc(p.elementId)}</span></td><td class="muted small">${esc(p.kind || '')}</td>
      <td>${badge(p.state)}</td><td>${time(p.startedAt)}</td><td class="num">${p.endedAt ? dur(new Date(p.endedAt) - new Date(p.startedAt)) : p.state === 'active' ? dur(Date.now() - new Date(p.startedAt)) : '–'}</td></tr>`).join('')}
  </tbody></table></div>`;
}

function waiting(inst, nm) {
  const subs = inst.subscriptions || [];
  const timers = inst.timers || [];
  if (!subs.length && !timers.length) return empty(inst.state === 'active' ? 'No open subscriptions or timers.' : 'The instance has ended.');
  return `<table class="table"><tbody>
    ${subs.map((s) => `<tr><td><span class="pill pill-blue">message</span></td><td><strong>${esc(s.messageName)}</strong><div class="muted small">at ${nm(s.elementId)} · key ${esc(s.correlationKey)}</div></td></tr>`).join('')}
    ${timers.map((t) => `<tr><td><span class="pill pill-amber">timer</span></td><td><strong>${nm(t.elementId)}</strong><div class="muted small">due ${time(t.due)} (${ago(t.due)})</div></td></tr>`).join('')}
  </tbody></table>`;
}

function actions(inst, nm) {
  const acts = inst.actions || [];
  if (!acts.length) return empty('No actions raised.');
  return `<table class="table"><tbody>${acts.map((a) => `<tr><td><strong>${esc(a.type)}</strong> ${badge(a.state)}
    <div class="muted small">${a.elementId ? `${nm(a.elementId)} · ` : ''}to ${esc(a.target || '')} · raised ${time(a.raisedAt)}${a.attempts ? ` · ${esc(a.attempts)} attempts` : ''}</div>
    ${a.lastError ? `<div class="small text-red">${esc(a.lastError)}</div>` : ''}</td></tr>`).join('')}</tbody></table>`;
}

function incidents(inst, nm) {
  const inc = inst.incidents || [];
  if (!inc.length) return empty('No incidents.');
  return `<table class="table"><tbody>${inc.map((i) => `<tr><td><strong>${esc(i.reason)}</strong> ${badge(i.state)} ${badge(i.severity)}
    <div class="muted small">${i.elementId ? `${nm(i.elementId)} · ` : ''}opened ${time(i.openedAt)}</div>${i.detail ? `<div class="small">${esc(i.detail)}</div>` : ''}
    <a class="small" href="/incidents?state=${esc(i.state)}&correlationKey=${encodeURIComponent(inst.correlationKey)}">Open in incidents →</a></td></tr>`).join('')}</tbody></table>`;
}
