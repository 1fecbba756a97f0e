// What the requester intake stores: the envelope's JSON view, exactly, with the trace id it fills
// in spliced first; the content hash is the view's as sent. What it hands out before it answers.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { EngineHarness, task } from './engine-harness.ts';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

test('the stored envelope is the JSON view with the trace id first, byte for byte, non-ASCII text too', async () => {
  h = await EngineHarness.start();
  const trace = '0af7651916cd43dd8448eb211c80319c';
  await h.coordinator.submit([
    { tenant: 'a', envelope: task('t-utf8', { params: { note: 'größe ≤ 😀' } }), traceId: trace },
    { tenant: 'a', envelope: task('t-own', { correlation_id: 'mine-1' }) },
  ]);
  const view =
    '{"task_id":"t-utf8","op":"sum","module":{"kind":"builtin"},"requirements":{"min":{"wasm":true}},' +
    '"inputs":[{"name":"x","inline_bytes":"AQID"}],"params":{"note":"größe ≤ 😀"}}';
  const spliced = await h.store.getTask('a', 't-utf8');
  expect(Buffer.from(spliced!.envelope).toString('utf8')).toBe(
    `{"correlation_id":"${trace}",${view.slice(1)}`,
  );
  expect(spliced!.contentHash).toBe(createHash('sha256').update(view, 'utf8').digest('hex'));
  // A requester's own trace id is part of the content, stored as sent.
  const own = await h.store.getTask('a', 't-own');
  expect(Buffer.from(own!.envelope).toString('utf8')).toBe(
    '{"task_id":"t-own","op":"sum","module":{"kind":"builtin"},"requirements":{"min":{"wasm":true}},' +
      '"inputs":[{"name":"x","inline_bytes":"AQID"}],"correlation_id":"mine-1"}',
  );
});

test('a task that can start is leased, committed and sent before submit settles; the rest wait queued', async () => {
  h = await EngineHarness.start();
  const v = await h.connect();
  await h.submit(task('t-now'), task('t-waits'));
  // Settled: the one free slot's assignment has gone out already (not a turn of the event loop later)…
  expect(v.link.assignments.map((a) => a.task_id)).toEqual(['t-now']);
  // …after its lease committed: another connection to the file sees it running.
  const other = new Database(join(h.dir, 'flock.db'), { readonly: true });
  try {
    expect(other.prepare('SELECT task_id, state FROM tasks ORDER BY uid').all()).toEqual([
      { task_id: 't-now', state: 'running' },
      { task_id: 't-waits', state: 'queued' },
    ]);
  } finally {
    other.close();
  }
});
