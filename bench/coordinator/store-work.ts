// The store workload the store benches share (store-costs.ts on SQLite, pg-store-costs.ts on
// PostgreSQL, checkpoint-costs.ts): the coordinator bench's tasks inserted in campaigns of 1,000,
// leased in passes and completed in group commits, spread over a number of workers.
import { getHeapSpaceStatistics } from 'node:v8';
import type { CompleteTask, NewLease, NewTask, Store } from '../../apps/coordinator/src/store/store.ts';

/** The stored envelope of the coordinator bench's task (its JSON view), and its stored result. */
export const BENCH_ENVELOPE = Buffer.from(
  JSON.stringify({
    task_id: 'x',
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: 'AAECAwQFBgcICQoLDA0ODw==' }],
  }),
);
export const BENCH_RESULT = Buffer.from(
  JSON.stringify({ task_id: 'x', outputs: [{ name: 'sum', inline_json: '120' }] }),
);

/**
 * The young generation's bytes in use: with one large enough that no scavenge runs in a phase
 * (`--max-semi-space-size=512 --min-semi-space-size=512`), its growth is what the phase allocated.
 */
export const youngBytes = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

const leaseId = (uid: number): string => `l-${uid.toString(36).padStart(8, '0')}`;
const workerId = (uid: number, workers: number): string => `w${uid % workers}`;

/** `count` tasks of campaign `c` from number `from` on, each with `envelope`. */
export function benchTasks(from: number, count: number, envelope: Uint8Array): NewTask[] {
  return Array.from({ length: count }, (_, k) => ({
    tenant: 'a',
    taskId: `t${from + k}`,
    campaignId: 'c',
    op: 'sum',
    moduleKind: 'builtin',
    contentHash: `h${from + k}`,
    envelope,
    priority: 0,
    deadlineAtMs: undefined,
    maxRetries: 0,
    createdAtMs: Date.now(),
  }));
}

/** A lease for each task, its worker chosen by uid among `workers`. */
export function benchLeases(uids: number[], workers: number, now = Date.now()): NewLease[] {
  return uids.map((uid) => ({
    taskUid: uid,
    tenant: 'a',
    leaseId: leaseId(uid),
    attempt: 1,
    workerId: workerId(uid, workers),
    startedAtMs: now,
    expiresAtMs: now + 30_000,
  }));
}

/** The completion of each lease `benchLeases` made, with `result`. */
export function benchCompletions(uids: number[], workers: number, result: Uint8Array): CompleteTask[] {
  return uids.map((uid) => ({
    taskUid: uid,
    tenant: 'a',
    leaseId: leaseId(uid),
    result,
    executor: 'sim',
    durationMs: 1,
    nowMs: Date.now(),
    workerId: workerId(uid, workers),
  }));
}

/** Registers workers `w0`…: completions count each one's successes. */
export async function registerWorkers(store: Store, workers: number): Promise<void> {
  for (let k = 0; k < workers; k++) {
    await store.upsertWorker({
      workerId: `w${k}`,
      sessionHash: `h${k}`,
      createdAtMs: 1,
      lastSeenMs: 1,
      tasksSucceeded: 0,
      tasksFailed: 0,
    });
  }
}

export interface StoreWork {
  /** Inserts `tasks` tasks in campaigns of 1,000. */
  insert(): Promise<void>;
  /** Leases them in passes of `batch`. */
  lease(): Promise<void>;
  /** Completes them in group commits of `batch`. */
  complete(): Promise<void>;
}

/** The three phases over `tasks` tasks, to be run in order (each reads what the last wrote). */
export function storeWork(
  store: Store,
  options: { tasks: number; batch: number; workers: number; envelope: Uint8Array; result: Uint8Array },
): StoreWork {
  const { tasks, batch, workers } = options;
  const uids: number[] = [];
  return {
    async insert() {
      for (let b = 0; b < tasks; b += 1000) {
        const outcomes = await store.insertTasks(benchTasks(b, Math.min(1000, tasks - b), options.envelope));
        for (const o of outcomes) if (o.kind === 'created') uids.push(o.task.uid);
      }
    },
    async lease() {
      for (let b = 0; b < tasks; b += batch)
        await store.startLeases(benchLeases(uids.slice(b, b + batch), workers));
    },
    async complete() {
      for (let b = 0; b < tasks; b += batch) {
        await store.completeTasks!(benchCompletions(uids.slice(b, b + batch), workers, options.result));
      }
    },
  };
}
