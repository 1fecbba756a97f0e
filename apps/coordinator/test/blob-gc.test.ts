import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  echoRunner,
  referenceRunner,
  type SimRunner,
  SimulatedVolunteer,
} from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';

// Blob garbage collection against a real coordinator, SQLite file and blob directory: outputs of
// outvoted replicas are garbage once their task is decided; canonical outputs, modules, recent
// blobs and replicas still being verified are kept.
let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await c?.stop();
  c = undefined;
});

/** Echoes the input of real tasks (op `sum` here) as a blob-sized output; checks by their reference. */
const echoReal: SimRunner = (job) =>
  job.assignment.envelope?.op === 'sum' ? echoRunner(job) : referenceRunner(job);

function blobFiles(dir: string): string[] {
  const root = join(dir, 'blobs', 'sha256');
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

describe('blob garbage collection', () => {
  it('removes outvoted outputs and stale temp files; keeps results, modules and recent blobs', async () => {
    c = await startTest({ inlineOutputBytes: 16, spotCheckRate: 0 });
    const ids = ['g-100', 'g-101', 'g-102'];
    for (const [i, id] of ids.entries()) {
      const bytes = Buffer.alloc(64, i + 1).toString('base64');
      const res = await c.api('/v1/tasks', {
        method: 'POST',
        json: envelope(id, {
          inputs: [{ name: 'x', inline_bytes: bytes }],
          verification: { replicas: 2, max_replicas: 4 },
        }),
      });
      expect(res.status).toBe(201);
    }
    const liar = await SimulatedVolunteer.connect({
      url: c.url,
      run: echoReal,
      lie: (a) => a.envelope?.op === 'sum',
    });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url, run: echoReal });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url, run: echoReal });
    sims.push(liar, honest1, honest2);
    for (const id of ids) await until(async () => (await taskState(c!, id)) === 'succeeded', 20_000, id);
    const lied = liar.assignments.filter((a) => a.envelope?.op === 'sum').length;
    expect(lied).toBeGreaterThan(0);

    const module = await c.api('/v1/modules', {
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    });
    expect(module.status).toBe(201);
    writeFileSync(join(c.dataDir, 'tmp', 'interrupted-write'), 'partial');
    // One blob per distinct output: the canonical 3, the liar's (each of its replicas ran in the
    // first pair of its task, so each returned before the decision), the three workers' first
    // (known-answer) checks when too big to inline (saxpy and matmul are, reduce_sum is not); the
    // module and its fuel-instrumented form.
    const before = blobFiles(c.dataDir).length;
    expect(before).toBeGreaterThanOrEqual(3 + lied + 2);
    expect(before).toBeLessThanOrEqual(3 + lied + 3 + 2);

    // Now: everything is within the grace period, nothing goes.
    expect(await c.coordinator.collectBlobs()).toMatchObject({ deleted: 0, tempRemoved: 0 });
    // Two hours on: the liar's outputs go, the rest stays.
    const later = await c.coordinator.collectBlobs(Date.now() + 2 * 3600_000);
    expect(later).toMatchObject({ deleted: before - 5, kept: 5, tempRemoved: 1 });
    expect(blobFiles(c.dataDir).length).toBe(5);
    expect(existsSync(join(c.dataDir, 'tmp', 'interrupted-write'))).toBe(false);
    for (const [i, id] of ids.entries()) {
      const result: Json = await (await c.api(`/v1/tasks/${id}/result`)).json();
      const blob = await c.api(result.outputs[0].uri);
      expect(blob.status).toBe(200);
      expect(Buffer.from(await blob.arrayBuffer())).toEqual(Buffer.alloc(64, i + 1));
    }
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain(`flock_blobs_collected_total ${before - 5}`);
  });

  it('keeps the outputs of replicas whose task is still being verified', async () => {
    c = await startTest({ inlineOutputBytes: 16, spotCheckRate: 0 });
    await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('p-100', {
        inputs: [{ name: 'x', inline_bytes: Buffer.alloc(64, 7).toString('base64') }],
        verification: { replicas: 2 },
      }),
    });
    const only = await SimulatedVolunteer.connect({ url: c.url, run: echoReal });
    sims.push(only);
    // One worker: one replica returns, the second must come from another worker.
    await until(
      async () => {
        const v: Json = await (await c!.api('/v1/tasks/p-100')).json();
        return v.verification?.returned === 1 || undefined;
      },
      20_000,
      'first replica',
    );
    // Its output, and its check's when that was too big to inline (a default check is saxpy,
    // reduce_sum or matmul): the check's is garbage, the replica's is kept.
    const files = blobFiles(c.dataDir).length;
    expect([1, 2]).toContain(files);
    expect(await c.coordinator.collectBlobs(Date.now() + 2 * 3600_000)).toMatchObject({
      deleted: files - 1,
      kept: 1,
    });
    const second = await SimulatedVolunteer.connect({ url: c.url, run: echoReal });
    sims.push(second);
    await until(async () => (await taskState(c!, 'p-100')) === 'succeeded', 20_000, 'p-100');
    const result: Json = await (await c.api('/v1/tasks/p-100/result')).json();
    expect((await c.api(result.outputs[0].uri)).status).toBe(200);
  });

  it('retention deletes finished tasks after FLOCK_RETENTION_DAYS; their blobs go in the same round', async () => {
    c = await startTest({ inlineOutputBytes: 16, retentionDays: 2 });
    const sim = await SimulatedVolunteer.connect({ url: c.url, run: echoReal });
    sims.push(sim);
    await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('r-1', {
        inputs: [{ name: 'x', inline_bytes: Buffer.alloc(64, 3).toString('base64') }],
      }),
    });
    // Waits for a GPU no volunteer has: open, never purged.
    await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('r-2', { requirements: { min: { webgpu: true } } }),
    });
    await until(async () => (await taskState(c!, 'r-1')) === 'succeeded', 10_000, 'r-1');
    const result: Json = await (await c.api('/v1/tasks/r-1/result')).json();
    expect((await c.api(result.outputs[0].uri)).status).toBe(200);

    expect(await c.coordinator.housekeeping(Date.now() + 24 * 3600_000)).toMatchObject({ purged: 0 });
    const round = await c.coordinator.housekeeping(Date.now() + 3 * 24 * 3600_000);
    expect(round).toMatchObject({ purged: 1, blobs: { deleted: 1, kept: 0 } });
    expect((await c.api('/v1/tasks/r-1')).status).toBe(404);
    expect((await c.api(result.outputs[0].uri)).status).toBe(404);
    expect(await taskState(c, 'r-2')).toBe('queued');
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain('flock_tasks_purged_total 1');
  });
});
