// The coordinator process is killed with SIGKILL in the middle of a run and started again on the
// same port and data dir (apps/coordinator/src/main.ts, as `npm start` runs it). The tabs
// reconnect by themselves as the same workers, the jobs that finished while it was down are
// delivered, and in the end every task succeeded exactly once: one success in the audit log, one
// succeeded attempt, the right output.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from '../../support/flock-test.ts';
import { buildPages, CoordinatorProcess, freePort } from '../../support/spawned-coordinator.ts';
import { openVolunteerTab, type VolunteerTab } from '../../support/volunteer-tab.ts';
import { wasmFixture, wasmTask } from '../volunteer-harness.ts';

const KEY = 'sigkill-e2e-requester-key';
const TASKS = 8;
const SPIN_MS = 700;

let workDir: string;
let coordinator: CoordinatorProcess | undefined;
const tabs: VolunteerTab[] = [];

test.beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flock-sigkill-e2e-'));
  await buildPages(join(workDir, 'pages'));
});

test.afterAll(async () => {
  for (const tab of tabs) await tab.context.close();
  await coordinator?.kill('SIGTERM');
  await rm(workDir, { recursive: true, force: true });
});

interface Counts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

test('SIGKILL mid-run and restart: tabs reconnect and every task succeeds exactly once', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const port = await freePort();
  const env = {
    FLOCK_PORT: String(port),
    FLOCK_DATA: join(workDir, 'data'),
    FLOCK_PAGES_DIR: join(workDir, 'pages'),
    FLOCK_API_KEYS: `${KEY}:sigkill`,
    FLOCK_LEASE_MS: '10000',
    FLOCK_HEARTBEAT_MS: '500',
    FLOCK_RETRY_BASE_MS: '100',
    FLOCK_LOG_LEVEL: 'warn',
  };
  coordinator = CoordinatorProcess.main(env);
  const { url } = await coordinator.banner();
  expect(url).toBe(`http://127.0.0.1:${port}`);
  for (let i = 0; i < 2; i++) tabs.push(await openVolunteerTab(browser, `${url}/`));

  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const spin = await wasmFixture('spin');
  const ids = Array.from({ length: TASKS }, (_, i) => `sigkill-${i}`);
  const created = await api('POST', '/v1/campaigns', {
    campaign_id: 'sigkill',
    tasks: ids.map((id) => wasmTask(id, spin, { params: { args: [String(SPIN_MS)] } })),
  });
  expect(created.status).toBe(201);
  const counts = async (): Promise<Counts> =>
    (await api<{ counts: Counts }>('GET', '/v1/campaigns/sigkill')).body.counts;

  // Kill while work is both done and in flight.
  await expect.poll(async () => (await counts()).succeeded, { intervals: [50] }).toBeGreaterThanOrEqual(2);
  const before = await counts();
  await coordinator.kill('SIGKILL');
  expect(before.succeeded).toBeLessThan(TASKS);
  for (const tab of tabs) await expect(tab.page.locator('#connection')).toHaveText(/^reconnecting/);

  coordinator = CoordinatorProcess.main(env);
  await coordinator.banner();
  for (const tab of tabs) {
    await expect(tab.page.locator('#connection')).toHaveText('open', { timeout: 40_000 });
    // The session token resumed the same worker identity from the store.
    await expect(tab.page.locator('#worker-id')).toHaveText(tab.workerId);
  }
  await expect.poll(counts, { timeout: 60_000 }).toEqual({
    queued: 0,
    running: 0,
    succeeded: TASKS,
    failed: 0,
    cancelled: 0,
  });
  console.log(`sigkill: killed at ${JSON.stringify(before)}`);

  const results = await Promise.all(
    ids.map(
      async (id) =>
        (
          await api<{ outputs: Array<{ name: string; inline_bytes: string }> }>(
            'GET',
            `/v1/tasks/${id}/result`,
          )
        ).body,
    ),
  );
  for (const result of results) {
    const stdout = result.outputs.find((o) => o.name === 'stdout');
    expect(Buffer.from(stdout?.inline_bytes ?? '', 'base64').toString()).toBe(`spun ${SPIN_MS} ms\n`);
  }
  const db = new Database(join(env.FLOCK_DATA, 'flock.db'), { readonly: true });
  try {
    const successes = db
      .prepare(
        `SELECT t.task_id AS task_id, COUNT(a.task_uid) AS n FROM tasks t
         LEFT JOIN audit a ON a.task_uid = t.uid AND a.to_state = 'succeeded' GROUP BY t.uid ORDER BY t.task_id`,
      )
      .all();
    expect(successes).toEqual(ids.toSorted().map((task_id) => ({ task_id, n: 1 })));
    const winning = db
      .prepare(
        `SELECT t.task_id AS task_id, COUNT(a.task_uid) AS n FROM tasks t
         LEFT JOIN attempts a ON a.task_uid = t.uid AND a.outcome = 'succeeded' GROUP BY t.uid ORDER BY t.task_id`,
      )
      .all();
    expect(winning).toEqual(ids.toSorted().map((task_id) => ({ task_id, n: 1 })));
    // Only the two tabs ever ran anything.
    // Compared as sorted id lists: SQLite's ORDER BY is binary, localeCompare is not (mixed-case ids).
    const workers = db.prepare('SELECT DISTINCT worker_id FROM attempts').all() as Array<{
      worker_id: string;
    }>;
    expect(workers.map((w) => w.worker_id).sort()).toEqual(tabs.map((t) => t.workerId).sort());
  } finally {
    db.close();
  }
});
