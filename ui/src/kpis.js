// Process-level figures derived from the per-element statistics and the
// model's element list (GET /models/:id): instances started are the
// completions of top-level start events, instances ended the completions of
// top-level end events.
export function processKpis(model, stats) {
  const kind = new Map((model.elements || []).map((e) => [e.id, e]));
  const k = { started: 0, ended: 0, active: 0, stuck: 0, incidents: 0, skipped: 0 };
  for (const s of stats.elements || []) {
    const el = kind.get(s.elementId);
    const top = el && !el.parent;
    if (top && el.kind === 'startEvent') k.started += s.completed;
    if (top && el.kind === 'endEvent') k.ended += s.completed;
    k.stuck += s.stuck || 0;
    k.incidents += s.incidents || 0;
    k.skipped += s.skipped || 0;
  }
  k.active = Math.max(0, k.started - k.ended);
  return k;
}

/** heat classifies an element's p95 against its threshold: ok, warn (≥ 80 %), bad (> 100 %). */
export function heat(stat, threshold) {
  if (!threshold || !threshold.afterMs || !stat || !stat.durationMs || !stat.durationMs.count) return null;
  const r = stat.durationMs.p95 / threshold.afterMs;
  return { ratio: r, level: r > 1 ? 'bad' : r >= 0.8 ? 'warn' : 'ok' };
}
