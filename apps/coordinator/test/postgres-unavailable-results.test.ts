// A volunteer's result that arrives while the coordinator's PostgreSQL server cannot be reached
// (SCALE.md, parked-outcomes.ts): not refused (an ack is final for the tab), not the connection's
// INTERNAL error, and not counted against the volunteer. The connection keeps it, renews its lease
// past the lease length, and stores and acks it once the server is back; a connection that drops
// meanwhile is answered STORE_UNAVAILABLE (close 1013) at its hellos until the server is back,
// and the result comes again in the hello after it. The outage is a real one: the coordinator
// reaches the shared test server through a TCP relay the test closes and reopens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ClusterCoordinator, startClusterCoordinator } from '../src/cluster/cluster.ts';
import { type SimRunner, SimulatedVolunteer, sumRunner } from '../src/sim/simulated-volunteer.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';
import { Relay } from './support/tcp-relay.ts';

const KEY = 'unavailable-key-0123456789';
const LEASE_MS = 3000;

let harness: PostgresHarness;
let relay: Relay;
let direct: pg.Client;
let node: ClusterCoordinator;
let dir: string;
const sims: SimulatedVolunteer[] = [];

beforeAll(async () => {
  harness = await acquirePostgres();
  dir = mkdtempSync(join(tmpdir(), 'flock-pg-results-'));
  const url = new URL(await harness.createDatabase());
  direct = new pg.Client({ connectionString: url.toString() });
  await direct.connect();
  relay = new Relay({ host: url.hostname, port: Number(url.port) });
  await relay.open();
  url.port = String(relay.port);
  node = await startClusterCoordinator(
    url.toString(),
    {
      port: 0,
      dataDir: dir,
      apiKeys: new Map([[KEY, 'a']]),
      extraOps: ['sum'],
      leaseMs: LEASE_MS,
      logLevel: 'silent',
    },
    { coordinatorId: 'parks', beatMs: 50 },
  );
});

afterAll(async () => {
  for (const sim of sims) await sim.close();
  await node?.close();
  await relay?.close();
  await direct?.end();
  await harness?.release();
  rmSync(dir, { recursive: true, force: true });
});

/** A runner that holds every job until `release()`. */
function gated(): { run: SimRunner; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    run: async (job) => {
      await gate;
      return sumRunner(job);
    },
    release,
  };
}

async function submit(taskId: string): Promise<void> {
  const res = await fetch(`${node.url}/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      task_id: taskId,
      op: 'sum',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
      inputs: [{ name: 'x', inline_bytes: Buffer.from([1, 2, 3]).toString('base64') }],
    }),
  });
  expect(res.status).toBe(201);
}

const healthz = async (): Promise<number> => (await fetch(`${node.url}/healthz`)).status;

/** The outage: the relay closed and the coordinator's beat has found it (healthz 503). */
async function cutStore(): Promise<void> {
  await relay.close();
  await expect.poll(healthz, { timeout: 5000, interval: 25 }).toBe(503);
}

async function restoreStore(): Promise<void> {
  await relay.open();
  await expect.poll(healthz, { timeout: 5000, interval: 25 }).toBe(200);
}

/** What the store holds of the task and its worker once it is back. */
async function stored(taskId: string, workerId: string) {
  const task = await direct.query(
    `SELECT t.state, t.failures, a.outcome FROM tasks t JOIN attempts a ON a.task_uid = t.uid
     WHERE t.task_id = $1 ORDER BY a.attempt`,
    [taskId],
  );
  const worker = await direct.query(
    'SELECT tasks_succeeded, tasks_failed FROM workers WHERE worker_id = $1',
    [workerId],
  );
  return { attempts: task.rows, worker: worker.rows };
}

test('a result sent during the outage is kept past its lease, then stored and acked on the same connection', async () => {
  const { run, release } = gated();
  const sim = await SimulatedVolunteer.connect({ url: node.url, run });
  sims.push(sim);
  const errors: unknown[] = [];
  sim.on('error-frame', (e) => errors.push(e));
  await submit('kept');
  const assignment = await sim.assignmentOf('kept');
  const leaseId = assignment.lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  // The outage outlasts the lease: the parked result's lease is renewed, not expired.
  await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 1000));
  expect(sim.acks).toEqual([]);
  expect(sim.lastClose).toBeUndefined();

  await restoreStore();
  await expect
    .poll(() => sim.acks, { timeout: 5000, interval: 25 })
    .toEqual([{ task_id: 'kept', lease_id: leaseId, accepted: true }]);
  expect(sim.unacked.size).toBe(0);
  expect(sim.lastClose).toBeUndefined();
  expect(errors).toEqual([]);
  expect(await stored('kept', sim.workerId)).toEqual({
    attempts: [{ state: 'succeeded', failures: 0, outcome: 'succeeded' }],
    worker: [{ tasks_succeeded: 1, tasks_failed: 0 }],
  });
  const metrics = await (await fetch(`${node.url}/metrics`)).text();
  expect(metrics).not.toContain('flock_errors_total{code="INTERNAL"}');
  // The next test's task must go to its own volunteer.
  await sim.close();
});

test('a connection dropped during the outage is told STORE_UNAVAILABLE (1013) and its hello after it delivers the result', async () => {
  const { run, release } = gated();
  const sim = await SimulatedVolunteer.connect({ url: node.url, run, reconnect: true });
  sims.push(sim);
  const closes: number[] = [];
  const errors: Array<{ code?: string }> = [];
  sim.on('close', (code: number) => closes.push(code));
  sim.on('error-frame', (e: { code?: string }) => errors.push(e));
  await submit('resent');
  const assignment = await sim.assignmentOf('resent');
  const leaseId = assignment.lease_id ?? '';

  await cutStore();
  release();
  await expect.poll(() => sim.unacked.has(leaseId), { timeout: 5000, interval: 10 }).toBe(true);
  sim.disconnect();
  // Its hellos need the store: each is refused as retryable, none as the volunteer's fault.
  await expect.poll(() => closes.includes(1013), { timeout: 5000, interval: 10 }).toBe(true);
  expect(new Set(closes)).toEqual(new Set([1006, 1013]));
  expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['STORE_UNAVAILABLE']));

  await restoreStore();
  await expect
    .poll(() => sim.acks, { timeout: 5000, interval: 25 })
    .toEqual([{ task_id: 'resent', lease_id: leaseId, accepted: true }]);
  expect(await stored('resent', sim.workerId)).toEqual({
    attempts: [{ state: 'succeeded', failures: 0, outcome: 'succeeded' }],
    worker: [{ tasks_succeeded: 1, tasks_failed: 0 }],
  });
});
