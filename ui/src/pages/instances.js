// Instances: a searchable list with cursor paging. Filters live in the URL so
// that links from the dashboard (element, stuck) work and can be shared.
import { api } from '../api.js';
import { esc, num, dur, time, ago, badge, errorBox, empty } from '../util.js';

const PAGE = 50;

export async function instancesPage(app, { query }) {
  const f = {
    processId: query.get('processId') || '', state: query.get('state') || '', element: query.get('element') || '',
    correlationKey: query.get('correlationKey') || '', q: query.get('q') || '', stuck: query.get('stuck') === 'true',
  };
  const models = (await api.get('/models')).items || [];
  let elements = [];
  if (f.processId) {
    const m = await api.get(`/models/${encodeURIComponent(f.processId)}`).catch(() => null);
    elements = (m && m.elements) || [];
  }
  const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  app.innerHTML = `<div class="page">
    <div class="page-head"><div><h1>Instances</h1><p class="muted">Find an order by its correlation key, or list what waits where.</p></div></div>
    <form class="card filters" id="filters">
      <label>Process<select name="processId">${opt('', 'All processes', f.processId)}${models.map((m) => opt(m.processId, m.name || m.processId, f.processId)).join('')}</select></label>
      <label>State<select name="state">${opt('', 'Any state', f.state)}${['active', 'completed', 'cancelled'].map((s) => opt(s, s, f.state)).join('')}</select></label>
      <label>Waiting at${elements.length
        ? `<select name="element">${opt('', 'Any element', f.element)}${elements.map((e) => opt(e.id, e.name ? `${e.name} (${e.id})` : e.id, f.element)).join('')}</select>`
        : `<input name="element" value="${esc(f.element)}" placeholder="element id">`}</label>
      <label>Correlation key<input name="correlationKey" value="${esc(f.correlationKey)}" placeholder="e.g. A-1-000042"></label>
      <label class="grow">Search<input name="q" type="search" value="${esc(f.q)}" placeholder="key, correlation key or variable value"></label>
      <label class="check"><input type="checkbox" name="stuck" value="true"${f.stuck ? ' checked' : ''}> Stuck only</label>
      <div class="filter-actions"><button class="btn btn-primary" type="submit">Apply</button><a class="btn btn-ghost" href="/instances">Reset</a></div>
    </form>
    <section class="card"><div class="table-wrap"><table class="table clickable" id="list"><thead><tr>
      <th>Instance</th><th>Correlation key</th><th>Process</th><th>State</th><th>Waiting at</th><th>Started</th><th class="num">Duration</th><th>SLA</th><th class="num">Incidents</th>
    </tr></thead><tbody></tbody></table></div>
    <div class="list-foot"><span class="muted small" id="count"></span><button class="btn" id="more" hidden>Load more</button></div></section>
  </div>`;
  const form = app.querySelector('#filters');
  form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT' || ev.target.type === 'checkbox') form.requestSubmit(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    if (p.get('processId') !== f.processId) p.delete('element');
    window.trackerNavigate('/instances' + (p.toString() ? '?' + p : ''));
  });

  const tbody = app.querySelector('#list tbody');
  let cursor = '';
  let shown = 0;
  const load = async () => {
    const more = app.querySelector('#more');
    more.disabled = true;
    let page;
    try {
      page = await api.get('/instances', { ...f, stuck: f.stuck ? 'true' : '', limit: PAGE, cursor });
    } catch (err) {
      tbody.innerHTML = `<tr><td colspan="9">${errorBox(err)}</td></tr>`;
      return;
    }
    for (const it of page.items) {
      const tr = document.createElement('tr');
      tr.dataset.key = it.key;
      const end = it.endedAt ? new Date(it.endedAt) : new Date();
      const waiting = (it.activeElements || []).filter((a) => a.elementId !== undefined);
      tr.innerHTML = `<td><a href="/instances/${it.key}" class="mono">${it.key}</a></td>
        <td><strong>${esc(it.correlationKey)}</strong></td>
        <td>${esc(it.processId)} <span class="muted small">v${esc(it.version)}</span></td>
        <td>${badge(it.state)}</td>
        <td>${waiting.map((a) => `<span class="chip${a.stuck ? ' chip-stuck' : ''}" title="since ${esc(time(a.since))}">${esc(a.elementId)}${a.stuck ? ' · stuck' : ''}</span>`).join(' ') || (it.endElement ? `<span class="muted small">ended at ${esc(it.endElement)}</span>` : '')}</td>
        <td title="${esc(time(it.startedAt))}">${ago(it.startedAt)}</td>
        <td class="num">${dur(end - new Date(it.startedAt))}</td>
        <td>${it.slaState && it.slaState !== 'ok' ? badge(it.slaState) : it.slaState ? '<span class="muted small">ok</span>' : ''}</td>
        <td class="num">${it.incidents ? `<span class="text-red">${num(it.incidents)}</span>` : ''}</td>`;
      tbody.appendChild(tr);
    }
    shown += page.items.length;
    if (!shown) tbody.innerHTML = `<tr><td colspan="9">${empty('No instances match these filters.')}</td></tr>`;
    cursor = page.next || '';
    more.hidden = !cursor;
    more.disabled = false;
    app.querySelector('#count').textContent = `${num(shown)} shown${cursor ? ', more available' : ''}`;
  };
  app.querySelector('#more').addEventListener('click', load);
  tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-key]');
    if (tr && !ev.target.closest('a')) window.trackerNavigate(`/instances/${tr.dataset.key}`);
  });
  await load();
}
