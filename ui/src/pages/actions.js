// Actions: commands and notifications the tracker raised (timeouts, send
// tasks, dead letters) and how their delivery went.
import { api } from '../api.js';
import { esc, num, time, ago, badge, json, errorBox, empty } from '../util.js';

const PAGE = 50;

export async function actionsPage(app, { query }) {
  const f = {
    state: query.get('state') || '', type: query.get('type') || '', target: query.get('target') || '', instanceKey: query.get('instanceKey') || '',
  };
  const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  app.innerHTML = `<div class="page">
    <div class="page-head"><div><h1>Actions</h1><p class="muted">Commands and notifications raised by timers, send tasks and the decision table, with their delivery state.</p></div></div>
    <form class="card filters" id="filters">
      <label>Delivery<select name="state">${opt('', 'Any', f.state)}${['pending', 'delivered', 'failed'].map((s) => opt(s, s, f.state)).join('')}</select></label>
      <label>Type<input name="type" value="${esc(f.type)}" placeholder="e.g. CancelOrderCommand"></label>
      <label>Target<input name="target" value="${esc(f.target)}" placeholder="e.g. commands"></label>
      <label>Instance key<input name="instanceKey" value="${esc(f.instanceKey)}"></label>
      <div class="filter-actions"><button class="btn btn-primary" type="submit">Apply</button><a class="btn btn-ghost" href="/actions">Reset</a></div>
    </form>
    <section class="card"><div class="table-wrap"><table class="table" id="list"><thead><tr><th>Raised</th><th>Type</th><th>Target</th><th>Instance</th><th>Element</th><th>Delivery</th><th class="num">Attempts</th><th></th></tr></thead><tbody></tbody></table></div>
    <div class="list-foot"><span class="muted small" id="count"></span><button class="btn" id="more" hidden>Load more</button></div></section></div>`;
  const form = app.querySelector('#filters');
  form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT') form.requestSubmit(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    window.trackerNavigate('/actions' + (p.toString() ? '?' + p : ''));
  });
  const tbody = app.querySelector('#list tbody');
  let cursor = '';
  let shown = 0;
  const load = async () => {
    let page;
    try {
      page = await api.get('/actions', { ...f, limit: PAGE, cursor });
    } catch (err) {
      tbody.innerHTML = `<tr><td colspan="8">${errorBox(err)}</td></tr>`;
      return;
    }
    for (const a of page.items || []) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td title="${esc(time(a.raisedAt))}">${ago(a.raisedAt)}${a.dueAt && a.dueAt !== a.raisedAt ? `<div class="muted small">due ${time(a.dueAt)}</div>` : ''}</td>
        <td><strong>${esc(a.type)}</strong></td><td>${esc(a.target || '–')}</td>
        <td>${a.instanceKey ? `<a href="/instances/${esc(a.instanceKey)}">${esc(a.correlationKey || a.instanceKey)}</a>` : '<span class="muted small">none</span>'}</td>
        <td>${esc(a.elementId || '–')}</td>
        <td>${badge(a.state)}${a.lastError ? `<div class="small text-red">${esc(a.lastError)}</div>` : ''}</td>
        <td class="num">${num(a.attempts)}</td>
        <td><details><summary>Record</summary>${json({ actionId: a.id, type: a.type, processId: a.processId, version: a.version, instanceKey: a.instanceKey, correlationKey: a.correlationKey, elementId: a.elementId, raisedAt: a.raisedAt, dueAt: a.dueAt, headers: a.headers, variables: a.variables })}</details></td>`;
      tbody.appendChild(tr);
    }
    shown += (page.items || []).length;
    if (!shown) tbody.innerHTML = `<tr><td colspan="8">${empty('No actions match these filters.')}</td></tr>`;
    cursor = page.next || '';
    app.querySelector('#more').hidden = !cursor;
    app.querySelector('#count').textContent = `${num(shown)} shown${cursor ? ', more available' : ''}`;
  };
  app.querySelector('#more').addEventListener('click', load);
  await load();
}
