// Events: everything the tracker read, with its outcome; defaults to the
// uncorrelated ones.
import { api } from '../api.js';
import { esc, num, time, badge, json, errorBox, empty } from '../util.js';

const PAGE = 50;

export async function eventsPage(app, { query }) {
  const f = {
    outcome: query.has('outcome') ? query.get('outcome') : 'uncorrelated', reason: query.get('reason') || '',
    messageName: query.get('messageName') || '', correlationKey: query.get('correlationKey') || '', q: query.get('q') || '',
  };
  const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  app.innerHTML = `<div class="page">
    <div class="page-head"><div><h1>Events</h1><p class="muted">Every event read from Kafka or the HTTP API, and what became of it.</p></div></div>
    <form class="card filters" id="filters">
      <label>Outcome<select name="outcome">${opt('', 'Any', f.outcome)}${['started', 'correlated', 'buffered', 'duplicate', 'uncorrelated'].map((s) => opt(s, s, f.outcome)).join('')}</select></label>
      <label>Reason<input name="reason" value="${esc(f.reason)}" placeholder="e.g. NO_SUBSCRIPTION"></label>
      <label>Message<input name="messageName" value="${esc(f.messageName)}"></label>
      <label>Correlation key<input name="correlationKey" value="${esc(f.correlationKey)}"></label>
      <label class="grow">Search<input type="search" name="q" value="${esc(f.q)}"></label>
      <div class="filter-actions"><button class="btn btn-primary" type="submit">Apply</button></div>
    </form>
    <section class="card"><div class="table-wrap"><table class="table" id="list"><thead><tr><th>Event time</th><th>Message</th><th>Correlation key</th><th>Outcome</th><th>Source</th><th>Instance</th><th></th></tr></thead><tbody></tbody></table></div>
    <div class="list-foot"><span class="muted small" id="count"></span><button class="btn" id="more" hidden>Load more</button></div></section></div>`;
  const form = app.querySelector('#filters');
  form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT') form.requestSubmit(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v || k === 'outcome') p.set(k, v);
    window.trackerNavigate('/events?' + p);
  });
  const tbody = app.querySelector('#list tbody');
  let cursor = '';
  let shown = 0;
  const load = async () => {
    let page;
    try {
      page = await api.get('/events', { ...f, limit: PAGE, cursor });
    } catch (err) {
      tbody.innerHTML = `<tr><td colspan="7">${errorBox(err)}</td></tr>`;
      return;
    }
    for (const e of page.items || []) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${time(e.eventTime)}</td><td><strong>${esc(e.messageName || '–')}</strong></td><td>${esc(e.correlationKey || '–')}</td>
        <td>${badge(e.outcome)} ${e.reason ? `<span class="muted small">${esc(e.reason)}</span>` : ''}${e.decision ? ` <span class="muted small">→ ${esc(e.decision)}</span>` : ''}</td>
        <td class="muted small">${esc(e.source || '')}${e.topic ? ` · ${esc(e.topic)}/${esc(e.partition ?? 0)}@${esc(e.offset)}` : ''}</td>
        <td>${e.instanceKey ? `<a class="mono" href="/instances/${esc(e.instanceKey)}">${esc(e.instanceKey)}</a>` : ''}</td>
        <td><details><summary>Payload</summary>${json(e.payload ?? e.raw ?? {})}</details></td>`;
      tbody.appendChild(tr);
    }
    shown += (page.items || []).length;
    if (!shown) tbody.innerHTML = `<tr><td colspan="7">${empty('No events match these filters.')}</td></tr>`;
    cursor = page.next || '';
    app.querySelector('#more').hidden = !cursor;
    app.querySelector('#count').textContent = `${num(shown)} shown${cursor ? ', more available' : ''}`;
  };
  app.querySelector('#more').addEventListener('click', load);
  await load();
}
