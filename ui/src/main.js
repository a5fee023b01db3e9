// Entry point: a small client-side router over the pages. URLs are real paths
// (/processes/order-fulfillment, /instances/4711); the server answers them
// with index.html.
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import './style.css';
import { processesPage } from './pages/processes.js';
import { dashboardPage } from './pages/dashboard.js';
import { instancesPage } from './pages/instances.js';
import { instancePage } from './pages/instance.js';
import { incidentsPage } from './pages/incidents.js';
import { eventsPage } from './pages/events.js';
import { actionsPage } from './pages/actions.js';
import { errorBox, esc } from './util.js';

const routes = [
  [/^\/(?:processes\/?)?$/, 'processes', () => processesPage],
  [/^\/processes\/([^/]+)$/, 'processes', () => dashboardPage],
  [/^\/instances\/?$/, 'instances', () => instancesPage],
  [/^\/instances\/(\d+)$/, 'instances', () => instancePage],
  [/^\/incidents\/?$/, 'incidents', () => incidentsPage],
  [/^\/events\/?$/, 'events', () => eventsPage],
  [/^\/actions\/?$/, 'actions', () => actionsPage],
];

let cleanup = null;

async function render() {
  const app = document.getElementById('app');
  const { pathname, search } = window.location;
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  for (const [re, nav, page] of routes) {
    const m = pathname.match(re);
    if (!m) continue;
    document.querySelectorAll('.topbar nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === nav));
    app.innerHTML = '<div class="loading">Loading…</div>';
    try {
      cleanup = (await page()(app, { params: m.slice(1).map(decodeURIComponent), query: new URLSearchParams(search) })) || null;
    } catch (err) {
      console.error(err);
      app.innerHTML = errorBox(err);
    }
    return;
  }
  app.innerHTML = `<div class="page"><h1>Page not found</h1><p>No page at <code>${esc(pathname)}</code>. <a href="/">Back to processes</a>.</p></div>`;
}

/** navigate changes the URL without a reload and renders the page. */
export function navigate(url) {
  window.history.pushState({}, '', url);
  render();
  window.scrollTo(0, 0);
}
window.trackerNavigate = navigate;

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href]');
  if (!a || a.target || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/ui/')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);

document.getElementById('global-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = new FormData(ev.target).get('q').toString().trim();
  if (!q) return;
  if (/^\d+$/.test(q)) navigate('/instances/' + q);
  else navigate('/instances?q=' + encodeURIComponent(q));
});

render();
