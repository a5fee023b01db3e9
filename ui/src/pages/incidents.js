// Incidents: uncorrelated events and failures the decision table sent to
// operations, with retry and resolve.
import { api } from '../api.js';
import { esc, num, time, ago, badge, json, errorBox, empty, toast } from '../util.js';

const PAGE = 50;

export async function incidentsPage(app, { query }) {
  const f = {
    state: query.has('state') ? query.get('state') : 'open', reason: query.get('reason') || '', severity: query.get('severity') || '',
    messageName: query.get('messageName') || '', correlationKey: query.get('correlationKey') || '',
  };
  const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  app.innerHTML = `<div class="page">
    <div class="page-head"><div><h1>Incidents</h1><p class="muted">Events the tracker could not place, and actions that failed. Retry correlates the original event again; resolve closes it with a comment.</p></div></div>
    <form class="card filters" id="filters">
      <label>State<select name="state">${opt('open', 'Open', f.state)}${opt('resolved', 'Resolved', f.state)}${opt('', 'Any', f.state)}</select></label>
      <label>Reason<input name="reason" value="${esc(f.reason)}" placeholder="e.g. NO_INSTANCE"></label>
      <label>Severity<select name="severity">${opt('', 'Any', f.severity)}${['high', 'medium', 'low'].map((s) => opt(s, s, f.severity)).join('')}</select></label>
      <label>Message<input name="messageName" value="${esc(f.messageName)}" placeholder="message name"></label>
      <label>Correlation key<input name="correlationKey" value="${esc(f.correlationKey)}"></label>
      <div class="filter-actions"><button class="btn btn-primary" type="submit">Apply</button><a class="btn btn-ghost" href="/incidents">Reset</a></div>
    </form>
    <div class="reasons" id="reasons"></div>
    <section class="card"><div class="table-wrap"><table class="table" id="list"><thead><tr>
      <th>Opened</th><th>Reason</th><th>Severity</th><th>Message</th><th>Correlation key</th><th>Source</th><th>State</th><th class="num">Attempts</th><th></th>
    </tr></thead><tbody></tbody></table></div>
    <div class="list-foot"><span class="muted small" id="count"></span><button class="btn" id="more" hidden>Load more</button></div></section>
  </div>
  <dialog id="resolve" class="dialog"><form method="dialog" id="resolve-form"><h2>Resolve incident</h2><p class="muted small" id="resolve-what"></p>
    <label>Comment (required)<textarea name="comment" rows="3" required placeholder="What was done, e.g. 'order cancelled by hand in ERP'"></textarea></label>
    <div class="dialog-actions"><button class="btn btn-ghost" value="cancel" formnovalidate>Cancel</button><button class="btn btn-primary" value="ok">Resolve</button></div></form></dialog>`;
  const form = app.querySelector('#filters');
  form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT') form.requestSubmit(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v || k === 'state') p.set(k, v);
    window.trackerNavigate('/incidents?' + p);
  });

  const tbody = app.querySelector('#list tbody');
  let cursor = '';
  let shown = 0;
  const row = (i) => {
    const tr = document.createElement('tr');
    tr.dataset.id = i.id;
    tr.innerHTML = `<td title="${esc(time(i.openedAt))}">${ago(i.openedAt)}</td>
      <td><strong>${esc(i.reason)}</strong><div class="muted small">${esc(i.note || i.decision || '')}</div></td>
      <td>${badge(i.severity)}</td><td>${esc(i.messageName || '–')}</td>
      <td>${i.instanceKey ? `<a href="/instances/${esc(i.instanceKey)}">${esc(i.correlationKey || i.instanceKey)}</a>` : esc(i.correlationKey || '–')}</td>
      <td class="muted small">${esc(i.source || '')}${i.event && i.event.topic ? `<br>${esc(i.event.topic)}/${esc(i.event.partition ?? 0)}@${esc(i.event.offset)}` : ''}</td>
      <td>${badge(i.state)}${i.pendingRetry ? ' <span class="pill pill-amber">retry buffered</span>' : ''}</td><td class="num">${num(i.attempts)}</td>
      <td class="row-actions">${i.state === 'open' ? `<button class="btn btn-sm" data-retry${!i.messageId && !i.actionId ? ' disabled title="The incident has no original event to correlate again."' : i.actionId ? ' title="Puts the action back in the outbox for delivery"' : i.reason === 'DECODE_ERROR' ? ' title="Decodes the stored record again with the source mapping in force now"' : ''}>Retry</button><button class="btn btn-sm btn-primary" data-resolve>Resolve</button>` : ''}<button class="btn btn-sm btn-ghost" data-details>Details</button></td>`;
    const det = document.createElement('tr');
    det.className = 'details-row';
    det.hidden = true;
    det.innerHTML = `<td colspan="9"><div class="grid-2 tight"><div><div class="card-title">Detail</div><p>${esc(i.detail || '–')}</p>
      <dl class="facts"><dt>Decision</dt><dd>${esc(i.decision)}${i.ruleId ? ` (rule ${esc(i.ruleId)})` : ''}</dd><dt>Message id</dt><dd class="mono">${esc(i.messageId || '–')}</dd>
      <dt>Event time</dt><dd>${time(i.eventTime)}</dd><dt>Updated</dt><dd>${time(i.updatedAt)}</dd>${i.resolvedAt ? `<dt>Resolved</dt><dd>${time(i.resolvedAt)}</dd>` : ''}</dl></div>
      <div><div class="card-title">Original event</div>${i.event && i.event.raw !== undefined ? json(i.event.raw) : json(i.event || {})}</div></div></td>`;
    tr.after(det);
    return [tr, det];
  };
  const byReason = new Map();
  const reasons = () => {
    const chips = [...byReason.entries()].sort((a, b) => b[1] - a[1]).map(([r, n]) =>
      `<a class="reason-chip${f.reason === r ? ' on' : ''}" href="/incidents?state=${encodeURIComponent(f.state)}&reason=${encodeURIComponent(f.reason === r ? '' : r)}">${esc(r)} <b>${num(n)}</b></a>`);
    app.querySelector('#reasons').innerHTML = chips.length ? `<span class="muted small">By reason (loaded):</span> ${chips.join('')}` : '';
  };
  const load = async () => {
    let page;
    try {
      page = await api.get('/incidents', { ...f, limit: PAGE, cursor });
      for (const i of page.items || []) byReason.set(i.reason, (byReason.get(i.reason) || 0) + 1);
      reasons();
    } catch (err) {
      tbody.innerHTML = `<tr><td colspan="9">${errorBox(err)}</td></tr>`;
      return;
    }
    for (const i of page.items || []) tbody.append(...row(i));
    shown += (page.items || []).length;
    if (!shown) tbody.innerHTML = `<tr><td colspan="9">${empty(f.state === 'open' ? 'No open incidents. Everything that arrived found its place.' : 'No incidents match these filters.')}</td></tr>`;
    cursor = page.next || '';
    app.querySelector('#more').hidden = !cursor;
    app.querySelector('#count').textContent = `${num(shown)} shown${cursor ? ', more available' : ''}`;
  };
  app.querySelector('#more').addEventListener('click', load);

  const dialog = app.querySelector('#resolve');
  tbody.addEventListener('click', async (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (!tr) return;
    const id = tr.dataset.id;
    if (ev.target.closest('[data-details]')) { tr.nextElementSibling.hidden = !tr.nextElementSibling.hidden; return; }
    if (ev.target.closest('[data-retry]')) {
      ev.target.disabled = true;
      try {
        const r = await api.post(`/incidents/${encodeURIComponent(id)}/retry`, { comment: 'retried from the UI' });
        const outcome = r.outcome || (r.incident && r.incident.state) || 'done';
        toast(`Retried: ${outcome}${r.reason ? ` (${r.reason})` : ''}`, ['correlated', 'started', 'buffered'].includes(outcome) ? 'ok' : 'warn');
        replace(tr, r.incident);
      } catch (err) {
        toast(`Retry failed: ${err.message}`, 'error');
        ev.target.disabled = false;
      }
      return;
    }
    if (ev.target.closest('[data-resolve]')) {
      app.querySelector('#resolve-what').textContent = `${tr.children[1].querySelector('strong').textContent} · ${id}`;
      dialog.querySelector('textarea').value = '';
      dialog.showModal();
      dialog.onclose = async () => {
        if (dialog.returnValue !== 'ok') return;
        const comment = dialog.querySelector('textarea').value.trim();
        try {
          const inc = await api.post(`/incidents/${encodeURIComponent(id)}/resolve`, { comment });
          toast('Incident resolved');
          replace(tr, inc);
        } catch (err) {
          toast(`Resolve failed: ${err.message}`, 'error');
        }
      };
    }
  });
  const replace = (tr, inc) => {
    if (!inc || !inc.id) return;
    const det = tr.nextElementSibling;
    const [ntr, ndet] = row(inc);
    tr.replaceWith(ntr);
    det.remove();
    ntr.after(ndet);
  };
  await load();
}
