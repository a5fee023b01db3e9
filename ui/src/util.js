// Small DOM and formatting helpers shared by the pages.

/** esc escapes text for HTML. */
export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** html parses a trusted template into a DocumentFragment. */
export function html(s) {
  const t = document.createElement('template');
  t.innerHTML = s;
  return t.content;
}

export const num = (n) => (n == null ? '–' : Number(n).toLocaleString('en-US'));

/** dur formats milliseconds the way people read durations: 850 ms, 4.2 s, 3 m 10 s, 2 h 5 m, 3 d 4 h. */
export function dur(ms) {
  if (ms == null || Number.isNaN(ms)) return '–';
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const total = Math.round(s); // whole seconds first, so 59.6 s never shows as "60 s"
  const m = Math.floor(total / 60);
  if (m < 60) return `${m} m ${total % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} m`;
  const d = Math.floor(h / 24);
  return `${d} d ${h % 24} h`;
}

/** durShort formats milliseconds with one unit: 850 ms, 4.2 s, 8 m, 2.5 h, 1.3 d. */
export function durShort(ms) {
  if (ms == null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const units = [[86400000, 'd'], [3600000, 'h'], [60000, 'm'], [1000, 's']];
  for (const [n, u] of units) {
    if (ms >= n) { const v = ms / n; return `${v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)} ${u}`; }
  }
  return `${Math.round(ms)} ms`;
}

/** time formats an RFC 3339 timestamp as local date and time. */
export function time(t) {
  if (!t) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return esc(t);
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** ago formats the time since t: "5 m ago", or "in 3 d" for the future. */
export function ago(t) {
  if (!t) return '–';
  const diff = Date.now() - new Date(t).getTime();
  return diff >= 0 ? `${dur(diff)} ago` : `in ${dur(-diff)}`;
}

const STATE_CLASS = {
  active: 'blue', completed: 'green', cancelled: 'grey', terminated: 'grey', skipped: 'amber',
  open: 'red', resolved: 'green', started: 'blue', correlated: 'green', buffered: 'amber', duplicate: 'grey',
  uncorrelated: 'red', pending: 'amber', delivered: 'green', failed: 'red', ok: 'green', 'at-risk': 'amber', breached: 'red',
  high: 'red', medium: 'amber', low: 'grey', stuck: 'purple',
};

/** badge renders a coloured state pill. */
export function badge(state, label) {
  if (!state) return '';
  return `<span class="pill pill-${STATE_CLASS[state] || 'grey'}">${esc(label ?? state)}</span>`;
}

/** json renders a value as indented, escaped JSON. */
export function json(v) {
  if (typeof v === 'string') {
    try { v = JSON.parse(v); } catch { return `<pre class="json">${esc(v)}</pre>`; }
  }
  return `<pre class="json">${esc(JSON.stringify(v, null, 2))}</pre>`;
}

/** toast shows a short message at the bottom of the screen. */
export function toast(msg, kind = 'ok') {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.className = `toast toast-${kind}`;
  el.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.hidden = true; }, 4000);
}

/** errorBox renders an API error for a page section. */
export function errorBox(err) {
  const problems = (err.problems || []).map((p) => `<li>${esc(p.name || p.element || '')} ${esc(p.message)}</li>`).join('');
  return `<div class="error-box"><strong>Could not load data.</strong> ${esc(err.message)}${problems ? `<ul>${problems}</ul>` : ''}</div>`;
}

/** kpi renders a KPI tile; with href it is a link. */
export function kpi(label, value, cls = '', hint = '', href = '') {
  const tag = href ? 'a' : 'div';
  return `<${tag} class="kpi ${cls}${href ? ' kpi-link' : ''}"${href ? ` href="${esc(href)}"` : ''} data-kpi="${esc(label)}"><div class="kpi-value">${esc(value)}</div><div class="kpi-label">${esc(label)}</div>${hint ? `<div class="kpi-hint">${esc(hint)}</div>` : ''}</${tag}>`;
}

export function empty(msg) {
  return `<div class="empty">${esc(msg)}</div>`;
}
