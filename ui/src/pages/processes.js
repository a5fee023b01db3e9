// Processes: every deployed model with its KPI tiles.
import { api } from '../api.js';
import { processKpis } from '../kpis.js';
import { esc, num, time, kpi, empty, errorBox } from '../util.js';

export async function processesPage(app) {
  const [models, incidents] = await Promise.all([
    api.get('/models'),
    api.get('/incidents', { state: 'open', limit: 500 }).catch(() => ({ items: [] })),
  ]);
  const items = models.items || [];
  const nOpen = (incidents.items || []).length;
  const openIncidents = num(nOpen) + (incidents.next ? '+' : '');
  app.innerHTML = `<div class="page">
    <div class="page-head"><div><h1>Processes</h1><p class="muted">Deployed BPMN models and how their instances are doing right now.</p></div></div>
    <div class="kpis" id="totals"></div>
    <div class="cards" id="cards">${items.length ? '' : empty('No process models are deployed. POST a BPMN file to /api/v1/models or list it under models: in the config.')}</div>
  </div>`;
  const cards = app.querySelector('#cards');
  const totals = { active: 0, ended: 0, stuck: 0 };
  await Promise.all(items.map(async (m) => {
    const card = document.createElement('a');
    card.className = 'card process-card';
    card.href = `/processes/${encodeURIComponent(m.processId)}`;
    card.dataset.process = m.processId;
    cards.appendChild(card);
    try {
      const [detail, stats] = await Promise.all([
        api.get(`/models/${encodeURIComponent(m.processId)}`),
        api.get(`/models/${encodeURIComponent(m.processId)}/statistics`),
      ]);
      const k = processKpis(detail, stats);
      totals.active += k.active; totals.ended += k.ended; totals.stuck += k.stuck;
      card.innerHTML = `<div class="card-head"><div><div class="card-title">${esc(m.name || m.processId)}</div>
          <div class="muted small">${esc(m.processId)} · v${esc(m.version)}${m.versions > 1 ? ` of ${esc(m.versions)}` : ''} · deployed ${time(m.deployedAt)}</div></div>
          ${detail.sla ? `<span class="pill pill-grey" title="End-to-end SLA">SLA ${esc(detail.sla)}</span>` : ''}</div>
        <div class="kpis compact">
          ${kpi('Active', num(k.active), 'kpi-blue')}
          ${kpi('Finished', num(k.ended), 'kpi-green')}
          ${kpi('Stuck', num(k.stuck), k.stuck ? 'kpi-purple' : '')}
          ${kpi('Incidents', num(k.incidents), k.incidents ? 'kpi-red' : '')}
        </div>
        <div class="card-foot muted small">${esc((detail.elements || []).length)} elements · ${esc((detail.messages || []).length)} messages · ${esc(detail.conformance || 'lenient')} conformance<span class="link">Open dashboard →</span></div>`;
    } catch (err) {
      card.innerHTML = `<div class="card-title">${esc(m.processId)}</div>${errorBox(err)}`;
    }
  }));
  app.querySelector('#totals').innerHTML = `
    ${kpi('Processes', num(items.length))}
    ${kpi('Active instances', num(totals.active), 'kpi-blue')}
    ${kpi('Finished instances', num(totals.ended), 'kpi-green', 'completed or cancelled')}
    ${kpi('Stuck instances', num(totals.stuck), totals.stuck ? 'kpi-purple' : '', 'waiting longer than the element allows', '/instances?stuck=true')}
    ${kpi('Open incidents', openIncidents, nOpen ? 'kpi-red' : '', 'uncorrelated events and failures', '/incidents')}`;
}
