// What the trust-coordinator tests share: a coordinator's verified tasks as the API shows them
// (submitted with a policy, their results, the workers, the metrics) and pinned draws for the
// trust engine.
import { expect } from 'vitest';
import { envelope, type Json, type TestCoordinator } from '../helpers.ts';

/** Calls on the coordinator `current()` returns (the test's, which a restart replaces). */
export function verifiedTasks(current: () => TestCoordinator) {
  async function submitVerified(ids: string[], verification: Json): Promise<void> {
    for (const id of ids) {
      const res = await current().api('/v1/tasks', { method: 'POST', json: envelope(id, { verification }) });
      expect(res.status).toBe(201);
    }
  }

  async function resultOf(id: string): Promise<Json> {
    return (await current().api(`/v1/tasks/${id}/result`)).json();
  }

  async function workersById(): Promise<Map<string, Json>> {
    const { workers }: Json = await (await current().api('/v1/workers')).json();
    return new Map(workers.map((w: Json) => [w.worker_id, w]));
  }

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${current().url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.slice(name.length).trim()) : 0;
  }

  const uidOf = async (id: string) => String((await current().store.getTask('a', id))!.uid);

  return { submitVerified, resultOf, workersById, metric, uidOf };
}

/**
 * Pinned draws for the trust engine, all in [0, 0.5): a worker with a streak n ≥ 2 is always
 * believed alone (draw < 1 − 1/n) and a spot-check rate of 0 or 1 means never or always; the
 * digits of the check ids still vary (a seeded LCG).
 */
export function lowDraws(): () => number {
  let x = 12345;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x / 2 ** 32) * 0.49;
  };
}
