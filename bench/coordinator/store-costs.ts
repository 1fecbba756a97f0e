// What the SQLite store costs per task, phase by phase, with synchronous=NORMAL (the default)
// as the baseline and FULL in the same run: CPU µs and wall µs per task for insert (campaigns of
// 1,000), lease (passes of 50) and complete (group commits of 50), and the FULL/NORMAL ratio.
//
//   npx tsx bench/coordinator/store-costs.ts [--tasks N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqliteSync } from '../../apps/coordinator/src/config.ts';
import { SqliteStore } from '../../apps/coordinator/src/store/sqlite-store.ts';

const i = process.argv.indexOf('--tasks');
const N = i >= 0 ? Number(process.argv[i + 1]) : 20_000;
const envelope = Buffer.from(
  JSON.stringify({
    task_id: 'x',
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: 'AAECAwQFBgcICQoLDA0ODw==' }],
  }),
);
const result = Buffer.from(JSON.stringify({ task_id: 'x', outputs: [{ name: 'sum', inline_json: '120' }] }));

interface Phase {
  cpu: number;
  wall: number;
}

async function measure(sync: SqliteSync): Promise<Record<'insert' | 'lease' | 'complete', Phase>> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-store-bench-'));
  const store = new SqliteStore(dir, { sync });
  await store.upsertWorker({
    workerId: 'w1',
    sessionHash: 'h',
    createdAtMs: 1,
    lastSeenMs: 1,
    tasksSucceeded: 0,
    tasksFailed: 0,
  });
  const uids: number[] = [];
  const leaseId = (uid: number): string => `l-${uid.toString(36).padStart(8, '0')}`;
  const phase = async (run: () => Promise<void>): Promise<Phase> => {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await run();
    const used = process.cpuUsage(cpu);
    return { cpu: (used.user + used.system) / N, wall: ((performance.now() - wall) * 1000) / N };
  };
  const insert = await phase(async () => {
    for (let b = 0; b < N; b += 1000) {
      const tasks = Array.from({ length: Math.min(1000, N - b) }, (_, k) => ({
        tenant: 'a',
        taskId: `t${b + k}`,
        campaignId: 'c',
        op: 'sum',
        moduleKind: 'builtin',
        contentHash: `h${b + k}`,
        envelope,
        priority: 0,
        deadlineAtMs: undefined,
        maxRetries: 0,
        createdAtMs: Date.now(),
      }));
      for (const o of await store.insertTasks(tasks)) if (o.kind === 'created') uids.push(o.task.uid);
    }
  });
  const lease = await phase(async () => {
    for (let b = 0; b < N; b += 50) {
      const now = Date.now();
      await store.startLeases(
        uids.slice(b, b + 50).map((uid) => ({
          taskUid: uid,
          leaseId: leaseId(uid),
          attempt: 1,
          workerId: 'w1',
          startedAtMs: now,
          expiresAtMs: now + 30_000,
        })),
      );
    }
  });
  const complete = await phase(async () => {
    for (let b = 0; b < N; b += 50) {
      await store.completeTasks(
        uids.slice(b, b + 50).map((uid) => ({
          taskUid: uid,
          leaseId: leaseId(uid),
          result,
          executor: 'sim',
          durationMs: 1,
          nowMs: Date.now(),
          workerId: 'w1',
        })),
      );
    }
  });
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { insert, lease, complete };
}

console.log(`store costs: ${N} tasks, µs per task (CPU / wall)`);
const normal = await measure('NORMAL');
const full = await measure('FULL');
for (const name of ['insert', 'lease', 'complete'] as const) {
  const n = normal[name];
  const f = full[name];
  console.log(
    `${name.padEnd(9)} NORMAL ${n.cpu.toFixed(1)} / ${n.wall.toFixed(1)}   FULL ${f.cpu.toFixed(1)} / ${f.wall.toFixed(1)}   ` +
      `FULL/NORMAL wall ${(f.wall / n.wall).toFixed(2)}`,
  );
}
