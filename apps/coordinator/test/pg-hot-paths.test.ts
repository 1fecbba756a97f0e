// The PostgreSQL store's hot calls beyond the shared contract: a batch insert's outcomes are
// built from the input (only ids are read back) and must equal what a read-back returns, in
// every mix of created, existing and repeated ids; a lease pass and a group commit must reach
// their tasks by primary key, whatever the size of the queue; envelopes and results, sent
// packed in one parameter a batch, are stored each with its own bytes.
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { textArray } from '../src/store/pg-params.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import type { NewTask } from '../src/store/store.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';

let harness: PostgresHarness;
let store: PostgresStore;
beforeAll(async () => {
  harness = await acquirePostgres();
});
afterAll(async () => {
  await harness?.release();
});
beforeEach(async () => {
  store = new PostgresStore(await harness.createSchema(), { maxConnections: 2 });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
});

function task(taskId: string, over: Partial<NewTask> = {}): NewTask {
  return {
    tenant: 'a',
    taskId,
    campaignId: 'c1',
    op: 'sum',
    moduleKind: 'builtin',
    contentHash: `hash-${taskId}`,
    envelope: new TextEncoder().encode(`{"task_id":"${taskId}"}`),
    priority: 3,
    deadlineAtMs: 9000,
    maxRetries: 2,
    createdAtMs: 1000,
    ...over,
  };
}

test('created records equal their read-back; existing ids and repeats in a batch are compared', async () => {
  const [first] = await store.insertTasks([task('t1')]);
  const out = await store.insertTasks([
    task('t2'),
    task('t1'),
    task('t3', { campaignId: undefined, deadlineAtMs: undefined, envelope: new Uint8Array() }),
    task('t2'),
    task('t1', { tenant: 'b' }),
  ]);
  expect(out.map((o) => o.kind)).toEqual(['created', 'existing', 'created', 'existing', 'created']);
  for (const o of out) {
    if (o.kind !== 'created' && o.kind !== 'existing') throw new Error(o.kind);
    const stored = await store.getTask(o.task.tenant, o.task.taskId);
    expect({ ...o.task, envelope: [...o.task.envelope] }).toEqual({
      ...stored,
      envelope: [...stored!.envelope],
    });
  }
  expect(out[1]).toEqual({ kind: 'existing', task: first?.kind === 'created' ? first.task : undefined });
  const uids = out.map((o) => (o.kind === 'created' || o.kind === 'existing' ? o.task.uid : -1));
  expect(uids[0]! < uids[2]! && uids[2]! < uids[4]!).toBe(true);
  expect(uids[3]).toBe(uids[0]);
});

test('a repeat with other content in the batch is a conflict and rolls the batch back', async () => {
  const out = await store.insertTasks([task('t1'), task('t2'), task('t1', { contentHash: 'x' })]);
  expect(out).toEqual([
    { kind: 'skipped', taskId: 't1' },
    { kind: 'skipped', taskId: 't2' },
    { kind: 'conflict', taskId: 't1' },
  ]);
  expect(await store.getTask('a', 't1')).toBeUndefined();
});

/**
 * The index scans of tasks in the plan of `sql` (EXPLAIN's JSON, walked): the custom plan of
 * these values, or the generic plan a prepared statement may settle on after five runs.
 */
async function tasksScans(
  pool: pg.Pool,
  sql: string,
  values: unknown[],
  generic: boolean,
): Promise<string[]> {
  const client = await pool.connect();
  let plan: unknown;
  try {
    if (generic) {
      await client.query(`PREPARE probe AS ${sql}`);
      await client.query('SET plan_cache_mode = force_generic_plan');
      // EXECUTE takes no bound parameters: the values go in as literals, quoted by the server.
      const quoted = await Promise.all(
        values.map(async (v) => {
          const type = Buffer.isBuffer(v) ? 'bytea' : 'text';
          return (await client.query(`SELECT quote_nullable($1::${type}) AS q`, [v])).rows[0].q;
        }),
      );
      plan = (await client.query(`EXPLAIN (FORMAT JSON) EXECUTE probe (${quoted.join(', ')})`)).rows[0];
      await client.query('DEALLOCATE probe');
      await client.query('RESET plan_cache_mode');
    } else {
      plan = (await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, values)).rows[0];
    }
  } finally {
    client.release();
  }
  const scans: string[] = [];
  const walk = (node: Record<string, unknown>): void => {
    const children = (node.Plans as Array<Record<string, unknown>> | undefined) ?? [];
    if (node['Node Type'] !== 'ModifyTable' && node['Relation Name'] === 'tasks') {
      // A bitmap heap scan names its index in the bitmap index scan below it.
      const index = node['Index Name'] ?? children[0]?.['Index Name'] ?? node['Node Type'];
      scans.push(String(index));
    }
    for (const child of children) walk(child);
  };
  walk((plan as { 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> })['QUERY PLAN'][0]!.Plan);
  return scans;
}

test('a lease pass and a group commit read their tasks through tasks_pkey, not by state, in custom and generic plans', async () => {
  // A queue of 10,000 on a table never analyzed (as in a fresh deployment's first minutes).
  const uids: number[] = [];
  for (let b = 0; b < 10_000; b += 1000) {
    const out = await store.insertTasks(Array.from({ length: 1000 }, (_, k) => task(`t${b + k}`)));
    uids.push(...out.map((o) => (o.kind === 'created' ? o.task.uid : -1)));
  }
  const seen: Array<{ sql: string; values: unknown[] }> = [];
  const query = store.pool.query.bind(store.pool);
  store.pool.query = ((config: { text: string; values: unknown[] }) => {
    seen.push({ sql: config.text, values: config.values });
    return query(config);
  }) as typeof store.pool.query;
  const leases = uids.slice(0, 50).map((uid) => ({
    taskUid: uid,
    tenant: 'a',
    leaseId: `l${uid}`,
    attempt: 1,
    workerId: 'w1',
    startedAtMs: 2000,
    expiresAtMs: 9000,
  }));
  expect((await store.startLeases(leases)).every(Boolean)).toBe(true);
  const done = leases.map((l) => ({
    taskUid: l.taskUid,
    tenant: l.tenant,
    leaseId: l.leaseId,
    // Lengths 0, 1, 2, …: each result is cut from the batch's one packed parameter.
    result: Uint8Array.from({ length: l.taskUid % 7 }, (_, k) => 250 + k),
    executor: l.taskUid % 2 === 0 ? 'sim' : undefined,
    durationMs: l.taskUid % 2 === 0 ? 1.5 : undefined,
    nowMs: 3000,
    workerId: 'w1',
  }));
  expect((await store.completeTasks(done)).every(Boolean)).toBe(true);
  store.pool.query = query;
  for (const d of done) {
    const stored = await store.getTaskByUid(d.taskUid);
    expect([stored?.result, stored?.executor, stored?.durationMs]).toEqual([
      d.result,
      d.executor,
      d.durationMs,
    ]);
  }
  expect(seen).toHaveLength(2);
  for (const { sql, values } of seen) {
    expect(await tasksScans(store.pool, sql, values, false)).toEqual(['tasks_pkey']);
    expect(await tasksScans(store.pool, sql, values, true)).toEqual(['tasks_pkey']);
  }
});

test('text array literals read back as the strings they were made from', async () => {
  const items = [
    't-1',
    '',
    'NULL',
    'null',
    'Null ',
    ' lead',
    'a,b',
    '{x}',
    'q"uote',
    'back\\slash',
    'tab\t',
    'x\ny',
  ];
  const more = ['é ü', '日本', '[1:2]', 'a\\"b', null];
  const { rows } = await store.pool.query<{ a: Array<string | null> }>('SELECT $1::text[] AS a', [
    textArray([...items, ...more], (v) => v),
  ]);
  expect(rows[0]!.a).toEqual([...items, ...more]);
});

test('a lease pass and a group commit answer each item: refused leases and a task named twice are false', async () => {
  const out = await store.insertTasks([task('t1'), task('t2'), task('t3')]);
  const [u1, u2, u3] = out.map((o) => (o.kind === 'created' ? o.task.uid : -1)) as [number, number, number];
  const lease = (taskUid: number, leaseId: string) => ({
    taskUid,
    tenant: 'a',
    leaseId,
    attempt: 1,
    workerId: 'w1',
    startedAtMs: 2000,
    expiresAtMs: 9000,
  });
  expect(await store.startLeases([lease(u1, 'la')])).toEqual([true]);
  // t1 runs already; t2 is named twice (its first lease wins); t3 is new.
  expect(
    await store.startLeases([lease(u1, 'lx'), lease(u2, 'lb'), lease(u2, 'lc'), lease(u3, 'ld')]),
  ).toEqual([false, true, false, true]);
  const done = (taskUid: number, leaseId: string) => ({
    taskUid,
    tenant: 'a',
    leaseId,
    result: new Uint8Array([7]),
    executor: undefined,
    durationMs: undefined,
    nowMs: 3000,
  });
  // 'lc' never ran; t3 is completed twice in one commit (its first counts).
  expect(await store.completeTasks([done(u1, 'la'), done(u2, 'lc'), done(u3, 'ld'), done(u3, 'ld')])).toEqual(
    [true, false, true, false],
  );
  expect(await store.completeTasks([done(u2, 'lb')])).toEqual([true]);
  expect(await store.completeTasks([done(u2, 'lb')])).toEqual([false]);
});
