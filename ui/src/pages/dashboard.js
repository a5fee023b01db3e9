// Process dashboard: the BPMN diagram with per-element overlays and a heat
// colouring of p95 durations against each element's threshold, KPIs, charts
// and the element table. Refreshes every 10 s.
import { Chart, BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Tooltip, Legend } from 'chart.js';
import { api } from '../api.js';
import { showDiagram, noDiagram, zoomControls, wireZoom } from '../diagram.js';
import { processKpis, heat } from '../kpis.js';
import { esc, num, dur, durShort, time, kpi, empty } from '../util.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Tooltip, Legend);
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = '#5b6775';

const REFRESH_MS = 10000;
const CONTAINER_KINDS = new Set(['subProcess']);

export async function dashboardPage(app, { params, query }) {
  const [processId] = params;
  const pid = encodeURIComponent(processId);
  const model = await api.get(`/models/${pid}`, { version: query.get('version') || '' });
  const versions = model.versions || [model.version];
  const names = new Map((model.elements || []).map((e) => [e.id, e.name || e.id]));
  app.innerHTML = `<div class="page">
    <div class="crumbs"><a href="/">Processes</a> / <span>${esc(model.name || processId)}</span></div>
    <div class="page-head">
      <div><h1>${esc(model.name || processId)} ${versions.length > 1
        ? `<select class="version" id="version" aria-label="Version">${versions.slice().reverse().map((v) => `<option value="${esc(v)}"${v === model.version ? ' selected' : ''}>v${esc(v)}</option>`).join('')}</select>`
        : `<span class="pill pill-grey">v${esc(model.version)}</span>`}</h1>
        <p class="muted">${esc(processId)} · deployed ${time(model.deployedAt)}${model.sla ? ` · end-to-end SLA ${esc(model.sla)}` : ''} · <span id="updated">updating…</span></p></div>
      <div class="actions"><a class="btn" href="/instances?processId=${pid}&state=active">Active instances</a><a class="btn btn-warn" href="/instances?processId=${pid}&stuck=true">Stuck instances</a></div>
    </div>
    <div class="kpis" id="kpis"></div>
    <div class="grid-dash">
      <section class="card diagram-card"><div class="card-head"><div class="card-title">Diagram <label class="toggle"><input type="checkbox" id="show-done"> show completed</label></div>
        <div class="legend"><span><i class="sw sw-active"></i>active</span><span><i class="sw sw-stuck"></i>stuck</span><span><i class="sw sw-incident"></i>incidents</span><span><i class="sw sw-skipped"></i>skipped</span>
        <span class="sep"></span><span><i class="sw heat-ok-sw"></i>p95 &lt; 80 % of SLA</span><span><i class="sw heat-warn-sw"></i>≥ 80 %</span><span><i class="sw heat-bad-sw"></i>over SLA</span></div></div>
        <div class="diagram" id="diagram">${zoomControls()}</div></section>
      <aside class="card side" id="side"></aside>
    </div>
    <section class="card"><div class="card-head"><div class="card-title">Throughput: instances started and completed</div>
      <div class="seg" id="period"><button type="button" data-period="1h">1 h</button><button type="button" data-period="24h" class="on">24 h</button><button type="button" data-period="7d">7 d</button><button type="button" data-period="30d">30 d</button></div></div>
      <div class="chart chart-short"><canvas id="chart-tp"></canvas></div></section>
    <div class="grid-2">
      <section class="card"><div class="card-head"><div class="card-title">Instances waiting, by element</div></div><div class="chart"><canvas id="chart-active"></canvas></div></section>
      <section class="card"><div class="card-head"><div class="card-title">Duration by element (p50 / p95) vs threshold</div></div><div class="chart"><canvas id="chart-dur"></canvas></div></section>
    </div>
    <section class="card"><div class="card-head"><div class="card-title">Elements</div></div><div class="table-wrap" id="table"></div></section>
  </div>`;

  const vsel = app.querySelector('#version');
  if (vsel) vsel.addEventListener('change', () => window.trackerNavigate(`/processes/${pid}?version=${vsel.value}`));
  const kindOf = (id) => ((model.elements || []).find((e) => e.id === id) || {}).kind;
  app.querySelector('#show-done').addEventListener('change', () => refresh());
  let selected = null;
  let last = null;
  let d;
  try {
    if (model.hasDiagram === false) throw new Error('the deployed file has no diagram (BPMNDI); save it from Camunda Modeler to get one');
    d = await showDiagram(app.querySelector('#diagram'), processId, model.version, (id) => { selected = id; side(); });
    wireZoom(app, d);
  } catch (err) {
    // A model deployed without diagram interchange still has its figures.
    d = noDiagram();
    const el = app.querySelector('#diagram');
    el.style.height = 'auto';
    el.innerHTML = empty(`No picture: ${err.message}. The figures below still apply.`);
  }
  let chartA = null;
  let chartD = null;
  let chartT = null;
  let period = '24h';

  const side = () => {
    const el = app.querySelector('#side');
    if (!last) return;
    const s = last.byId.get(selected);
    if (!selected || !s) {
      el.innerHTML = `<div class="card-title">Element details</div><p class="muted">Click an element on the diagram to see its figures and instances.</p>
        <div class="card-title mt">Needs attention</div>${attention(last)}`;
      return;
    }
    const t = last.thr.get(selected);
    const h = heat(s, t);
    el.innerHTML = `<div class="card-title">${esc(names.get(selected) || selected)}</div><div class="muted small">${esc(selected)}</div>
      <dl class="facts">
        <dt>Active</dt><dd>${num(s.active)}</dd><dt>Stuck</dt><dd>${num(s.stuck)}</dd>
        <dt>Completed</dt><dd>${num(s.completed)}</dd><dt>Skipped</dt><dd>${num(s.skipped)}</dd>
        <dt>Terminated</dt><dd>${num(s.terminated)}</dd><dt>Incidents</dt><dd>${num(s.incidents)}</dd>
        <dt>p50</dt><dd>${s.durationMs.count ? dur(s.durationMs.p50) : '–'}</dd><dt>p95</dt><dd>${s.durationMs.count ? dur(s.durationMs.p95) : '–'}</dd>
        <dt>Average</dt><dd>${s.durationMs.count ? dur(s.durationMs.avg) : '–'}</dd><dt>Threshold</dt><dd>${t ? `${dur(t.afterMs)} <span class="muted small">(${esc(t.source)})</span>` : '–'}</dd>
      </dl>
      ${h ? `<div class="heatbar heat-${h.level}"><div style="width:${Math.min(100, h.ratio * 100).toFixed(0)}%"></div></div><p class="small muted">p95 is ${(h.ratio * 100).toFixed(0)} % of the threshold</p>` : ''}
      <div class="stack"><a class="btn" href="/instances?processId=${pid}&element=${encodeURIComponent(selected)}&state=active">Instances here</a>
      ${s.stuck ? `<a class="btn btn-warn" href="/instances?processId=${pid}&element=${encodeURIComponent(selected)}&stuck=true">Stuck here</a>` : ''}</div>
      <p class="small"><a href="#" data-clear>← all elements</a></p>`;
    el.querySelector('[data-clear]').addEventListener('click', (ev) => { ev.preventDefault(); selected = null; side(); });
  };

  const attention = (st) => {
    const rows = st.stats.elements.filter((s) => s.stuck || s.incidents || (heat(s, st.thr.get(s.elementId)) || {}).level === 'bad')
      .sort((a, b) => (b.stuck + b.incidents) - (a.stuck + a.incidents)).slice(0, 6);
    if (!rows.length) return '<p class="muted small">Nothing stuck, no incidents, every element within its threshold.</p>';
    return `<ul class="attention">${rows.map((s) => `<li><a href="#" data-pick="${esc(s.elementId)}">${esc(names.get(s.elementId) || s.elementId)}</a>
      ${s.stuck ? `<span class="pill pill-purple">${num(s.stuck)} stuck</span>` : ''}${s.incidents ? `<span class="pill pill-red">${num(s.incidents)} incidents</span>` : ''}
      ${(heat(s, st.thr.get(s.elementId)) || {}).level === 'bad' ? '<span class="pill pill-red">over SLA</span>' : ''}</li>`).join('')}</ul>`;
  };
  app.querySelector('#side').addEventListener('click', (ev) => {
    const a = ev.target.closest('[data-pick]');
    if (a) { ev.preventDefault(); selected = a.dataset.pick; side(); }
  });

  const refresh = async () => {
    let stats;
    try {
      stats = await api.get(`/models/${pid}/statistics`, { version: model.version });
    } catch (err) {
      app.querySelector('#updated').innerHTML = `<span class="text-red">refresh failed: ${esc(err.message)}</span>`;
      return;
    }
    const byId = new Map(stats.elements.map((s) => [s.elementId, s]));
    const thr = new Map((stats.thresholds || []).map((t) => [t.elementId, t]));
    last = { stats, byId, thr };
    const k = processKpis(model, stats);
    app.querySelector('#kpis').innerHTML = `
      ${kpi('Started', num(k.started))}
      ${kpi('Active', num(k.active), 'kpi-blue', '', `/instances?processId=${pid}&state=active`)}
      ${kpi('Finished', num(k.ended), 'kpi-green', 'completed or cancelled', `/instances?processId=${pid}&state=completed`)}
      ${kpi('Stuck', num(k.stuck), k.stuck ? 'kpi-purple' : '', 'waiting past the threshold', `/instances?processId=${pid}&stuck=true`)}
      ${kpi('Incidents', num(k.incidents), k.incidents ? 'kpi-red' : '', 'open, at an element', '/incidents')}
      ${kpi('Skipped steps', num(k.skipped), k.skipped ? 'kpi-amber' : '', 'events that arrived out of order')}`;
    app.querySelector('#updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;

    d.clearOverlays();
    for (const e of d.elements()) for (const c of ['heat-ok', 'heat-warn', 'heat-bad', 'heat-c-ok', 'heat-c-warn', 'heat-c-bad']) d.unmarker(e.id, c);
    const showDone = app.querySelector('#show-done').checked;
    for (const s of stats.elements) {
      if (!d.has(s.elementId)) continue;
      const shape = d.element(s.elementId);
      const container = CONTAINER_KINDS.has(kindOf(s.elementId));
      const small = shape.width < 60; // events and gateways: badges go above, clear of the label below
      const badge = (n, kind, title) => (n ? `<span class="ov ov-${kind}" data-element="${esc(s.elementId)}" data-kind="${kind}" title="${title}">${num(n)}</span>` : '');
      const badges = [badge(s.active - s.stuck, 'active', 'active, on time'), badge(s.stuck, 'stuck', 'stuck'), badge(s.incidents, 'incident', 'open incidents'),
        badge(s.skipped, 'skipped', 'skipped'), showDone ? badge(s.completed, 'done', 'completed') : ''].join('');
      if (badges) d.overlay(s.elementId, container ? { top: -11, left: 12 } : small ? { top: -12, left: -14 } : { bottom: 12, left: -10 }, `<div class="ov-row">${badges}</div>`);
      const h = heat(s, thr.get(s.elementId));
      if (h) {
        d.marker(s.elementId, container ? `heat-c-${h.level}` : `heat-${h.level}`);
        const pos = container ? { top: -11, right: 110 } : small ? { top: -32, left: -14 } : { top: -22, left: 0 };
        d.overlay(s.elementId, pos, `<span class="ov-label heat-label-${h.level}" title="p95 ${dur(s.durationMs.p95)} against a threshold of ${dur(thr.get(s.elementId).afterMs)} (${esc(thr.get(s.elementId).source)})">p95 ${durShort(s.durationMs.p95)}</span>`);
      }
    }
    side();
    charts(stats, thr);
    table(stats, thr);
  };

  const charts = (stats, thr) => {
    const waiting = stats.elements.filter((s) => (s.active || s.stuck) && !CONTAINER_KINDS.has(kindOf(s.elementId)));
    const labels = waiting.map((s) => names.get(s.elementId) || s.elementId);
    const dataA = {
      labels,
      datasets: [
        { label: 'Active, on time', data: waiting.map((s) => s.active - s.stuck), backgroundColor: '#3b82f6', borderRadius: 3, stack: 'a' },
        { label: 'Stuck', data: waiting.map((s) => s.stuck), backgroundColor: '#8b5cf6', borderRadius: 3, stack: 'a' },
      ],
    };
    const timed = stats.elements.filter((s) => s.durationMs.count && s.durationMs.p95 > 0);
    const dataD = {
      labels: timed.map((s) => names.get(s.elementId) || s.elementId),
      datasets: [
        { label: 'p50', data: timed.map((s) => Math.max(0.001, s.durationMs.p50 / 1000)), backgroundColor: '#93c5fd', borderRadius: 3 },
        { label: 'p95', data: timed.map((s) => s.durationMs.p95 / 1000), borderRadius: 3,
          backgroundColor: timed.map((s) => ({ ok: '#22a06b', warn: '#f59e0b', bad: '#e5484d' })[(heat(s, thr.get(s.elementId)) || {}).level] || '#2563eb') },
        { label: 'threshold', data: timed.map((s) => (thr.get(s.elementId) ? thr.get(s.elementId).afterMs / 1000 : null)), backgroundColor: '#cbd2d9', borderRadius: 3 },
      ],
    };
    const base = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } };
    if (!chartA) {
      chartA = new Chart(app.querySelector('#chart-active'), { type: 'bar', data: dataA, options: { ...base, indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } } });
      chartD = new Chart(app.querySelector('#chart-dur'), { type: 'bar', data: dataD, options: { ...base, indexAxis: 'y',
        scales: { x: { type: 'logarithmic', title: { display: true, text: 'log scale' }, ticks: { callback: (v) => (Math.log10(v) % 1 === 0 ? durShort(v * 1000) : '') } } },
        plugins: { ...base.plugins, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${dur(c.raw * 1000)}` } } } } });
    } else {
      chartA.data = dataA; chartA.update();
      chartD.data = dataD; chartD.update();
    }
  };

  const table = (stats, thr) => {
    const rows = stats.elements.slice().sort((a, b) => (b.active - a.active) || a.elementId.localeCompare(b.elementId));
    app.querySelector('#table').innerHTML = rows.length ? `<table class="table"><thead><tr><th>Element</th><th class="num">Active</th><th class="num">Stuck</th><th class="num">Completed</th><th class="num">Skipped</th><th class="num">Incidents</th><th class="num">p50</th><th class="num">p95</th><th class="num">Threshold</th><th>Status</th></tr></thead><tbody>
      ${rows.map((s) => {
        const t = thr.get(s.elementId);
        const h = heat(s, t);
        return `<tr data-pick-row="${esc(s.elementId)}"><td><strong>${esc(names.get(s.elementId) || s.elementId)}</strong> <span class="muted small">${esc(s.elementId)}</span></td>
        <td class="num">${num(s.active)}</td><td class="num">${s.stuck ? `<span class="text-purple">${num(s.stuck)}</span>` : '0'}</td><td class="num">${num(s.completed)}</td><td class="num">${num(s.skipped)}</td>
        <td class="num">${s.incidents ? `<span class="text-red">${num(s.incidents)}</span>` : '0'}</td>
        <td class="num">${s.durationMs.count ? dur(s.durationMs.p50) : '–'}</td><td class="num">${s.durationMs.count ? dur(s.durationMs.p95) : '–'}</td>
        <td class="num">${t ? `${dur(t.afterMs)} <span class="muted small">${esc(t.source)}</span>` : '–'}</td>
        <td>${h ? `<span class="pill pill-${({ ok: 'green', warn: 'amber', bad: 'red' })[h.level]}">${({ ok: 'within SLA', warn: 'at risk', bad: 'over SLA' })[h.level]}</span>` : ''}</td></tr>`;
      }).join('')}</tbody></table>` : empty('No statistics yet: no instance has reached this model.');
  };
  app.querySelector('#table').addEventListener('click', (ev) => {
    const tr = ev.target.closest('[data-pick-row]');
    if (tr) { selected = tr.dataset.pickRow; side(); app.querySelector('#side').scrollIntoView({ behavior: 'smooth', block: 'nearest' }); }
  });

  // Throughput: the statistics endpoint counts element instances entered in
  // [from, to); completions of top-level start events are instances started,
  // of top-level end events instances completed.
  const PERIODS = { '1h': [12, 5 * 60e3], '24h': [24, 3600e3], '7d': [7, 86400e3], '30d': [30, 86400e3] };
  const starts = new Set((model.elements || []).filter((e) => !e.parent && e.kind === 'startEvent').map((e) => e.id));
  const ends = new Set((model.elements || []).filter((e) => !e.parent && e.kind === 'endEvent').map((e) => e.id));
  const throughput = async () => {
    const [n, step] = PERIODS[period];
    const now = Date.now();
    const top = Math.ceil(now / step) * step;
    const buckets = Array.from({ length: n }, (_, i) => [top - (n - i) * step, top - (n - i - 1) * step]);
    const counts = [];
    for (let i = 0; i < buckets.length; i += 6) { // at most six requests at a time
      counts.push(...await Promise.all(buckets.slice(i, i + 6).map(async ([from, to]) => {
        const s = await api.get(`/models/${pid}/statistics`, { version: model.version, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
        let st = 0;
        let en = 0;
        for (const e of s.elements) { if (starts.has(e.elementId)) st += e.completed; if (ends.has(e.elementId)) en += e.completed; }
        return [st, en];
      })));
    }
    const fmt = step < 86400e3 ? { hour: '2-digit', minute: '2-digit' } : { day: '2-digit', month: 'short' };
    const data = {
      labels: buckets.map(([from]) => new Date(from).toLocaleString('en-GB', fmt)),
      datasets: [
        { label: 'Started', data: counts.map((c) => c[0]), backgroundColor: '#3b82f6', borderRadius: 3 },
        { label: 'Completed', data: counts.map((c) => c[1]), backgroundColor: '#22a06b', borderRadius: 3 },
      ],
    };
    if (!chartT) {
      chartT = new Chart(app.querySelector('#chart-tp'), { type: 'bar', data, options: { responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } } } });
    } else { chartT.data = data; chartT.update(); }
  };
  app.querySelector('#period').addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-period]');
    if (!b) return;
    period = b.dataset.period;
    app.querySelectorAll('#period button').forEach((x) => x.classList.toggle('on', x === b));
    throughput().catch((err) => console.error(err));
  });

  await refresh();
  throughput().catch((err) => console.error('throughput', err));
  const timer = setInterval(refresh, REFRESH_MS);
  const tpTimer = setInterval(() => throughput().catch(() => {}), 6 * REFRESH_MS);
  return () => {
    clearInterval(timer);
    clearInterval(tpTimer);
    if (chartT) chartT.destroy();
    if (chartA) chartA.destroy();
    if (chartD) chartD.destroy();
    d.destroy();
  };
}

