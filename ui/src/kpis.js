// Process-level figures derived from the per-element statistics and the
// model's element list (GET /models/:id), without paging through instances:
//   started   completions of top-level start events
//   active    active tokens at top-level elements (one per instance unless a
//             parallel split runs two branches at the top level)
//   ended     started − active: completed or cancelled
//   stuck     stuck tokens at steps (sub-process containers left out, so an
//             instance stuck inside a sub-process counts once)
// End events do not count instances: one in a non-interrupting branch ends a
// branch, not the instance.
export function processKpis(model, stats) {
  const byId = new Map((model.elements || []).map((e) => [e.id, e]));
  const k = { started: 0, ended: 0, active: 0, stuck: 0, incidents: 0, skipped: 0 };
  for (const s of stats.elements || []) {
    const el = byId.get(s.elementId);
    const top = el && !el.parent;
    if (top && el.kind === 'startEvent') k.started += s.completed;
    if (top && el.kind !== 'boundaryEvent') k.active += s.active;
    if (!el || el.kind !== 'subProcess') k.stuck += s.stuck || 0;
    k.incidents += s.incidents || 0;
    k.skipped += s.skipped || 0;
  }
  k.ended = Math.max(0, k.started - k.active);
  return k;
}

/** heat classifies an element's p95 against its threshold: ok, warn (≥ 80 %), bad (> 100 %). */
export function heat(stat, threshold) {
  if (!threshold || !threshold.afterMs || !stat || !stat.durationMs || !stat.durationMs.count) return null;
  const r = stat.durationMs.p95 / threshold.afterMs;
  return { ratio: r, level: r > 1 ? 'bad' : r >= 0.8 ? 'warn' : 'ok' };
}
