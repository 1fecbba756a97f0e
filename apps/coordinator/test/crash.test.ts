// Crash safety: a coordinator process is killed with SIGKILL at seeded random moments while
// 2,000 tasks are submitted and run by simulated volunteers, and restarted each time on the same
// port and data directory. In the end every accepted task succeeded exactly once (one success
// audit row, one succeeded attempt) with the right answer, and no result was lost.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, KEY_A } from './helpers.ts';
import { freePort, startCoordinatorChild } from './support/crash-child.ts';
import { rng } from './support/rng.ts';

const TASKS = 2000;
const BATCH = 100;
const VOLUNTEERS = 8;
const KILLS = 5;
const SEED = Number(process.env.FLOCK_CRASH_SEED ?? 20261122);

const dir = mkdtempSync(join(tmpdir(), 'flock-crash-'));
let child: ChildProcess | undefined;
const sims: SimulatedVolunteer[] = [];

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** POSTs a batch until the coordinator answers (it may be down): idempotent by task_id. */
async function submit(port: number, tasks: Array<Record<string, unknown>>): Promise<number> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v1/campaigns`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        body: JSON.stringify({ campaign_id: 'crash', tasks }),
      });
      if (res.status === 200 || res.status === 201) return res.status;
      throw new Error(`unexpected ${res.status}: ${await res.text()}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('unexpected')) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function taskInput(i: number): number[] {
  return [i & 0xff, (i >> 8) & 0xff, 7, 11];
}

test(`SIGKILL ${KILLS} times during ${TASKS} tasks: every task succeeds exactly once (seed ${SEED})`, async () => {
  const random = rng(SEED);
  const port = await freePort();
  child = await startCoordinatorChild(port, dir);
  const url = `http://127.0.0.1:${port}`;

  for (let v = 0; v < VOLUNTEERS; v++) {
    sims.push(
      await SimulatedVolunteer.connect({
        url,
        reconnect: true,
        // Half of them take and send batched frames (#17), half one frame a message.
        capability: { cpu_slots: 4, batch_frames: v % 2 === 0 ? 16 : 0 },
        run: async ({ assignment }) => {
          // A little work time, so kills land while jobs are in flight.
          await new Promise((r) => setTimeout(r, Math.floor(random() * 4)));
          const bytes = assignment.envelope?.inputs?.[0]?.inline_bytes ?? new Uint8Array(0);
          const sum = bytes.reduce((a, b) => a + b, 0);
          return { outputs: [{ name: 'sum', inline_json: String(sum) }], executor: 'sim' };
        },
      }),
    );
  }

  const submitting = (async () => {
    for (let start = 0; start < TASKS; start += BATCH) {
      const tasks = [];
      for (let i = start; i < start + BATCH; i++) {
        tasks.push(
          envelope(`crash-${i}`, {
            inputs: [{ name: 'x', inline_bytes: Buffer.from(taskInput(i)).toString('base64') }],
          }),
        );
      }
      await submit(port, tasks);
    }
  })();

  const succeeded = async (): Promise<number> => {
    try {
      const res = await fetch(`${url}/v1/campaigns/crash`, { headers: { authorization: `Bearer ${KEY_A}` } });
      if (!res.ok) return 0;
      return ((await res.json()) as { counts: { succeeded: number } }).counts.succeeded;
    } catch {
      return 0;
    }
  };

  // Results acknowledged so far, counted at the volunteers (cheap to poll).
  const acked = (): number =>
    sims.reduce((n, s) => n + s.acks.filter((a) => a.accepted && !a.code).length, 0);
  // Kill points spread over the run: after a seeded random share (5–90%) of the results.
  const thresholds = Array.from({ length: KILLS }, () => Math.floor(TASKS * (0.05 + 0.85 * random()))).sort(
    (a, b) => a - b,
  );
  const killedAt: number[] = [];
  for (const threshold of thresholds) {
    const end = Date.now() + 60_000;
    while (acked() < threshold && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
    killedAt.push(await succeeded());
    const dying = child;
    const exited = new Promise((r) => dying.once('exit', r));
    dying.kill('SIGKILL');
    await exited;
    child = await startCoordinatorChild(port, dir);
  }
  await submitting;
  const deadline = Date.now() + 60_000;
  while ((await succeeded()) < TASKS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

  process.stdout.write(`crash test: succeeded at each kill ${killedAt.join(', ')}\n`);
  // Every kill landed mid-run, with results already stored and more to come.
  expect(killedAt.every((n) => n > 0 && n < TASKS)).toBe(true);
  const db = new Database(join(dir, 'flock.db'), { readonly: true });
  const states = db
    .prepare("SELECT state, COUNT(*) AS n FROM tasks WHERE campaign_id = 'crash' GROUP BY state")
    .all();
  expect(states).toEqual([{ state: 'succeeded', n: TASKS }]);
  const successes = db
    .prepare(
      "SELECT task_uid, COUNT(*) AS n FROM audit WHERE to_state = 'succeeded' GROUP BY task_uid HAVING n <> 1",
    )
    .all();
  expect(successes).toEqual([]);
  const successRows = db.prepare("SELECT COUNT(*) AS n FROM audit WHERE to_state = 'succeeded'").get() as {
    n: number;
  };
  expect(successRows.n).toBe(TASKS);
  const winningAttempts = db
    .prepare(
      "SELECT task_uid, COUNT(*) AS n FROM attempts WHERE outcome = 'succeeded' GROUP BY task_uid HAVING n <> 1",
    )
    .all();
  expect(winningAttempts).toEqual([]);
  // No acknowledged result was lost: every lease whose result the coordinator accepted is the
  // task's succeeded attempt (an ack sent before the commit would show up as a lost lease here).
  const ackedLeases = sims.flatMap((sim) =>
    sim.acks.filter((a) => a.accepted && !a.code).map((a) => a.lease_id!),
  );
  expect(new Set(ackedLeases).size).toBe(ackedLeases.length);
  const outcome = db.prepare<[string], { outcome: string | null }>(
    'SELECT outcome FROM attempts WHERE lease_id = ?',
  );
  const notStored = ackedLeases.filter((lease) => outcome.get(lease)?.outcome !== 'succeeded');
  expect(notStored).toEqual([]);
  expect(ackedLeases.length).toBeGreaterThan(0);
  const rows = db.prepare('SELECT task_id, result FROM tasks').all() as Array<{
    task_id: string;
    result: Buffer;
  }>;
  let wrong = 0;
  for (const row of rows) {
    const i = Number(row.task_id.slice('crash-'.length));
    const expected = String(taskInput(i).reduce((a, b) => a + b, 0));
    const result = JSON.parse(row.result.toString('utf8'));
    if (result.outputs?.[0]?.inline_json !== expected) wrong += 1;
  }
  expect(wrong).toBe(0);
  db.close();
}, 120_000);
