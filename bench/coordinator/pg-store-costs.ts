// What the PostgreSQL store costs per task, phase by phase, as the engine calls it: insert
// (campaigns of 1,000), lease (passes of B) and complete (group commits of B), on the private
// server of scripts/postgres.sh (or FLOCK_TEST_PG_URL). For each phase: this process's CPU µs a
// task, wall µs a task, and the PostgreSQL server's CPU µs a task (every `postgres` process's
// utime + stime from /proc, so other users of the server count too: keep the box quiet).
//
//   npx tsx bench/coordinator/pg-store-costs.ts [--tasks N] [--workers W] [--batch B] [--rounds R]
//
// Defaults: 10,000 tasks, 200 workers (as the full bench), batches of 50, 3 rounds (medians,
// each round on a fresh schema). With a young generation large enough that no scavenge runs in
// a phase, it also prints the bytes each phase allocates a task (the young generation's growth):
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/pg-store-costs.ts --rounds 3 --tasks 5000
import { readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { PostgresStore } from '../../apps/coordinator/src/store/postgres-store.ts';
import { acquirePostgres } from '../../apps/coordinator/test/support/postgres.ts';

const arg = (name: string, fallback: number): number => {
  const k = process.argv.indexOf(name);
  return k >= 0 ? Number(process.argv[k + 1]) : fallback;
};
const N = arg('--tasks', 10_000);
const WORKERS = arg('--workers', 200);
const BATCH = arg('--batch', 50);
const ROUNDS = arg('--rounds', 3);
const gc = (globalThis as { gc?: () => void }).gc;
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
  /** Of `cpu`, the kernel's (system time: socket writes and reads). */
  sys: number;
  wall: number;
  /** The server's CPU µs a task. */
  server: number;
  /** Bytes allocated a task (young generation's growth), with `gc` only. */
  bytes: number;
}

const youngBytes = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

const TICK_US = 1e6 / 100; // USER_HZ

/** CPU µs of every process named `postgres` (the server and its backends). */
function serverCpuUs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    } catch {
      // exited while read
    }
  }
  return ticks * TICK_US;
}

async function measure(url: string): Promise<Record<'insert' | 'lease' | 'complete', Phase>> {
  const store = new PostgresStore(url);
  await store.migrate();
  const workerId = (uid: number): string => `w${uid % WORKERS}`;
  for (let k = 0; k < WORKERS; k++) {
    await store.upsertWorker({
      workerId: `w${k}`,
      sessionHash: `h${k}`,
      createdAtMs: 1,
      lastSeenMs: 1,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
  }
  const uids: number[] = [];
  const leaseId = (uid: number): string => `l-${uid.toString(36).padStart(8, '0')}`;
  const phase = async (run: () => Promise<void>): Promise<Phase> => {
    gc?.();
    const heap = youngBytes();
    const server = serverCpuUs();
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await run();
    const used = process.cpuUsage(cpu);
    return {
      cpu: (used.user + used.system) / N,
      sys: used.system / N,
      wall: ((performance.now() - wall) * 1000) / N,
      server: (serverCpuUs() - server) / N,
      bytes: gc ? (youngBytes() - heap) / N : 0,
    };
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
    for (let b = 0; b < N; b += BATCH) {
      const now = Date.now();
      await store.startLeases(
        uids.slice(b, b + BATCH).map((uid) => ({
          taskUid: uid,
          leaseId: leaseId(uid),
          attempt: 1,
          workerId: workerId(uid),
          startedAtMs: now,
          expiresAtMs: now + 30_000,
        })),
      );
    }
  });
  const complete = await phase(async () => {
    for (let b = 0; b < N; b += BATCH) {
      await store.completeTasks(
        uids.slice(b, b + BATCH).map((uid) => ({
          taskUid: uid,
          leaseId: leaseId(uid),
          result,
          executor: 'sim',
          durationMs: 1,
          nowMs: Date.now(),
          workerId: workerId(uid),
        })),
      );
    }
  });
  await store.close();
  return { insert, lease, complete };
}

const PHASES = ['insert', 'lease', 'complete'] as const;
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;

const pg = await acquirePostgres();
try {
  const rounds: Array<Record<(typeof PHASES)[number], Phase>> = [];
  for (let k = 0; k < ROUNDS; k++) rounds.push(await measure(await pg.createSchema()));
  console.log(`pg store costs: ${N} tasks, ${WORKERS} workers, batches of ${BATCH}, medians of ${ROUNDS}`);
  for (const name of PHASES) {
    const of = (f: (p: Phase) => number) => median(rounds.map((round) => f(round[name]))).toFixed(1);
    console.log(
      `${name.padEnd(9)} CPU ${of((p) => p.cpu)} µs a task (sys ${of((p) => p.sys)}), wall ${of((p) => p.wall)}, server CPU ${of((p) => p.server)}` +
        (gc ? `, ${of((p) => p.bytes)} B a task` : ''),
    );
  }
} finally {
  await pg.release();
}
