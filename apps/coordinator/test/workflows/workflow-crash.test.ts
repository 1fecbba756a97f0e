// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Crash safety of workflows: a coordinator process is killed with SIGKILL at seeded random moments
// while workflows of 3–5 steps (chains passing outputs, parallel joins, false conditions, retries,
// aborts, rollbacks) are submitted and run by simulated volunteers, and restarted each time on
// the same port and data directory. In the end every workflow finished in its expected state,
// every step task that should have succeeded did exactly once, and compensations ran once.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { KEY_A } from '../helpers.ts';
import { freePort, startCoordinatorChild } from '../support/crash-child.ts';
import { rng } from '../support/rng.ts';
import { step, stepRunner } from './workflow-helpers.ts';

const WORKFLOWS = Number(process.env.FLOCK_WF_CRASH_COUNT ?? 200);
const VOLUNTEERS = 6;
const KILLS = 8;
const SEED = Number(process.env.FLOCK_CRASH_SEED ?? 20261207);

/** What a workflow must end as: its state, each step task that succeeds, each that fails. */
interface Expected {
  state: 'succeeded' | 'failed';
  succeeded: string[];
  failed: string[];
}

const byteSum = (text: string): number => [...Buffer.from(text)].reduce((a, b) => a + b, 0);
const BYTES = (i: number) => ({ name: 'x', inline_bytes: Buffer.from([i & 0xff, 3, 5]).toString('base64') });
const prev = (id: string) => [{ name: 'p', uri: `\${steps.${id}.outputs.sum}` }];

/** Workflow `i` of a seeded kind, and what it must end as. */
function workflow(i: number, random: () => number): { def: Record<string, unknown>; expected: Expected } {
  const id = `w${i}`;
  const t = (s: string) => `${id}.${s}`;
  const kind = Math.floor(random() * 5);
  const length = 3 + Math.floor(random() * 3);
  if (kind === 0) {
    // A chain of 3–5 steps, each reading the previous one's output.
    const steps = Array.from({ length }, (_, k) =>
      k === 0 ? step('s0', { inputs: [BYTES(i)] }) : step(`s${k}`, { inputs: prev(`s${k - 1}`) }),
    );
    return {
      def: { workflow_id: id, steps },
      expected: { state: 'succeeded', succeeded: steps.map((s) => t(s.id as string)), failed: [] },
    };
  }
  if (kind === 1) {
    // A diamond, and a step skipped by its condition.
    const steps = [
      step('a', { inputs: [BYTES(i)] }),
      step('l', { depends_on: ['a'], inputs: prev('a') }),
      step('r', { depends_on: ['a'] }),
      step('join', {
        depends_on: ['l', 'r'],
        inputs: [...prev('l'), { name: 'q', uri: '${steps.r.outputs.sum}' }],
      }),
      step('never', { depends_on: ['join'], when: '${steps.a.summary.sum} > 100000' }),
    ];
    return {
      def: { workflow_id: id, steps },
      expected: { state: 'succeeded', succeeded: ['a', 'l', 'r', 'join'].map(t), failed: [] },
    };
  }
  if (kind === 2) {
    // A step that fails once and is retried.
    const steps = [
      step('a', { inputs: [BYTES(i)] }),
      step('flaky', {
        inputs: prev('a'),
        params: { fail_unless: '.retry1' },
        on_error: { retry: 2, backoff_ms: 30 },
      }),
      step('c', { inputs: prev('flaky') }),
    ];
    return {
      def: { workflow_id: id, steps },
      expected: { state: 'succeeded', succeeded: [t('a'), t('flaky.retry1'), t('c')], failed: [t('flaky')] },
    };
  }
  if (kind === 3) {
    // Rollback: two compensations, in reverse order, once each.
    const undo = (s: string) => ({
      op: 'sum',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
      inputs: prev(s),
    });
    const steps = [
      step('a', { inputs: [BYTES(i)], compensate: undo('a') }),
      step('b', { inputs: prev('a'), compensate: undo('b') }),
      step('bad', { params: { fail: true } }),
      step('after'),
    ];
    return {
      def: { workflow_id: id, on_error: 'rollback', steps },
      expected: {
        state: 'failed',
        succeeded: ['a', 'b', 'b.compensate', 'a.compensate'].map(t),
        failed: [t('bad')],
      },
    };
  }
  // Abort after a step, with retries that run out.
  const steps = [
    step('a', { inputs: [BYTES(i)] }),
    step('bad', { params: { fail: true }, on_error: { retry: 1, backoff_ms: 10 } }),
    step('after'),
  ];
  return {
    def: { workflow_id: id, steps },
    expected: { state: 'failed', succeeded: [t('a')], failed: [t('bad'), t('bad.retry1')] },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'flock-wf-crash-'));
let child: ChildProcess | undefined;
const sims: SimulatedVolunteer[] = [];

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Calls the API until the coordinator answers (it may be down). */
async function call(port: number, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: await res.json() };
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test(`SIGKILL ${KILLS} times during ${WORKFLOWS} workflows: each ends as expected, steps succeed once (seed ${SEED})`, async () => {
  const random = rng(SEED);
  const port = await freePort();
  child = await startCoordinatorChild(port, dir);
  const url = `http://127.0.0.1:${port}`;
  for (let v = 0; v < VOLUNTEERS; v++) {
    sims.push(
      await SimulatedVolunteer.connect({
        url,
        reconnect: true,
        capability: { cpu_slots: 4 },
        run: async (job) => {
          // A little work time, so kills land while jobs are in flight.
          await new Promise((r) => setTimeout(r, Math.floor(random() * 4)));
          return stepRunner(job);
        },
      }),
    );
  }
  const flows = Array.from({ length: WORKFLOWS }, (_, i) => workflow(i, random));
  const submitting = (async () => {
    for (const { def } of flows) {
      const { status, json } = await call(port, '/v1/workflows', def);
      if (status !== 201 && status !== 200)
        throw new Error(`workflow refused ${status}: ${JSON.stringify(json)}`);
    }
  })();
  const expectedTasks = flows.reduce((n, f) => n + f.expected.succeeded.length + f.expected.failed.length, 0);
  const acked = (): number => sims.reduce((n, s) => n + s.acks.filter((a) => a.accepted).length, 0);
  const thresholds = Array.from({ length: KILLS }, () =>
    Math.floor(expectedTasks * (0.05 + 0.85 * random())),
  ).sort((a, b) => a - b);
  const killedAt: number[] = [];
  for (const threshold of thresholds) {
    const end = Date.now() + 60_000;
    while (acked() < threshold && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
    killedAt.push(acked());
    const dying = child;
    const exited = new Promise((r) => dying.once('exit', r));
    dying.kill('SIGKILL');
    await exited;
    child = await startCoordinatorChild(port, dir);
  }
  await submitting;
  const deadline = Date.now() + 90_000;
  for (;;) {
    const { json } = await call(port, '/v1/workflows?state=running&limit=1');
    if ((json as { workflows: unknown[] }).workflows.length === 0) break;
    if (Date.now() > deadline) throw new Error('workflows still running');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(
    `workflow crash test: results acknowledged at each kill ${killedAt.join(', ')} of ${expectedTasks}\n`,
  );
  expect(killedAt.every((n) => n > 0 && n < expectedTasks)).toBe(true);

  const db = new Database(join(dir, 'flock.db'), { readonly: true });
  const workflowStates = new Map(
    (
      db.prepare('SELECT workflow_id, state FROM workflows').all() as Array<{
        workflow_id: string;
        state: string;
      }>
    ).map((r) => [r.workflow_id, r.state]),
  );
  const tasks = new Map(
    (
      db.prepare('SELECT uid, task_id, state FROM tasks').all() as Array<{
        uid: number;
        task_id: string;
        state: string;
      }>
    ).map((r) => [r.task_id, r]),
  );
  const successes = new Map(
    (
      db
        .prepare("SELECT task_uid, COUNT(*) AS n FROM audit WHERE to_state = 'succeeded' GROUP BY task_uid")
        .all() as Array<{
        task_uid: number;
        n: number;
      }>
    ).map((r) => [r.task_uid, r.n]),
  );
  const wrong: string[] = [];
  for (const [i, { expected }] of flows.entries()) {
    const id = `w${i}`;
    if (workflowStates.get(id) !== expected.state) wrong.push(`${id}: ${workflowStates.get(id)}`);
    for (const taskId of expected.succeeded) {
      const task = tasks.get(taskId);
      if (task?.state !== 'succeeded' || successes.get(task.uid) !== 1)
        wrong.push(`${taskId}: ${task?.state}, ${task ? successes.get(task.uid) : 0} successes`);
    }
    for (const taskId of expected.failed) {
      if (tasks.get(taskId)?.state !== 'failed') wrong.push(`${taskId}: ${tasks.get(taskId)?.state}`);
    }
  }
  expect(wrong).toEqual([]);
  // No other task ran: steps after a failure, skipped steps and second compensations never exist.
  expect(tasks.size).toBe(expectedTasks);
  // Chains passed each output on: the last step's summary is the byte sum of the previous sum's text.
  const result = db.prepare<[string], { result: Buffer }>('SELECT result FROM tasks WHERE task_id = ?');
  for (const [i, { def, expected }] of flows.entries()) {
    if (!(def.steps as Array<{ id: string }>)[0]!.id.startsWith('s')) continue;
    let sum = (i & 0xff) + 3 + 5;
    for (let k = 1; k < expected.succeeded.length; k++) sum = byteSum(String(sum));
    const last = JSON.parse(result.get(expected.succeeded.at(-1)!)!.result.toString('utf8'));
    expect(last.summary.sum).toBe(String(sum));
  }
  db.close();
}, 180_000);
