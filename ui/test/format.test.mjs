// Unit tests of the pure helpers the pages use: duration formatting, the
// heat classification against thresholds, and process KPIs from statistics.
// Run with `npm test` (node's built-in test runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dur, durShort, esc } from '../src/util.js';
import { heat, processKpis } from '../src/kpis.js';

test('dur formats durations the way people read them', () => {
  const cases = [
    [null, '–'], [0, '0 ms'], [850, '850 ms'], [4200, '4.2 s'], [42000, '42 s'],
    [190000, '3 m 10 s'], [539600, '9 m 0 s'], [7500000, '2 h 5 m'], [273600000, '3 d 4 h'],
  ];
  for (const [ms, want] of cases) assert.equal(dur(ms), want, `dur(${ms})`);
});

test('durShort keeps one unit', () => {
  const cases = [[850, '850 ms'], [4200, '4.2 s'], [480000, '8 m'], [9000000, '2.5 h'], [112320000, '1.3 d'], [3600000, '1 h']];
  for (const [ms, want] of cases) assert.equal(durShort(ms), want, `durShort(${ms})`);
});

test('esc escapes markup', () => {
  assert.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.equal(esc(0), '0');
  assert.equal(esc(undefined), '');
});

test('heat compares p95 with the threshold', () => {
  const stat = (p95, count = 10) => ({ durationMs: { count, p95 } });
  const thr = { afterMs: 1000 };
  const cases = [
    ['well within', stat(500), thr, 'ok'], ['at 80 %', stat(800), thr, 'warn'], ['at the limit', stat(1000), thr, 'warn'],
    ['over', stat(1001), thr, 'bad'],
  ];
  for (const [name, s, t, want] of cases) assert.equal(heat(s, t).level, want, name);
  assert.equal(heat(stat(500), null), null, 'no threshold, no heat');
  assert.equal(heat(stat(500, 0), thr), null, 'no samples, no heat');
});

test('processKpis derives instance counts from the statistics fixture', async () => {
  const model = JSON.parse(await readFile(new URL('./testdata/model.json', import.meta.url)));
  const stats = JSON.parse(await readFile(new URL('./testdata/statistics.json', import.meta.url)));
  const k = processKpis(model, stats);
  // Started: OrderPlaced completions (FulfilStart is inside the sub-process);
  // active: tokens at top-level elements (FulfilOrder); the end event of the
  // delay-notice branch (CustomerInformed) ends no instance; the
  // sub-process's own stuck count is left out of stuck.
  assert.deepEqual(k, { started: 280, ended: 32, active: 248, stuck: 26, incidents: 1, skipped: 5 });
});
