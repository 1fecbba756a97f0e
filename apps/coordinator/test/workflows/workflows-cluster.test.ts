// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows across coordinators sharing a PostgreSQL database: a workflow submitted to one whose
// steps run on another (the only volunteer is there) advances on the ends the other relays.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ClusterCoordinator, startClusterCoordinator } from '../../src/cluster/cluster.ts';
import { SimulatedVolunteer } from '../../src/sim/simulated-volunteer.ts';
import { KEY_A, until } from '../helpers.ts';
import { acquirePostgres, type PostgresHarness } from '../support/postgres.ts';
import { step, stepRunner } from './workflow-helpers.ts';

let harness: PostgresHarness;
let dir: string;
const nodes: ClusterCoordinator[] = [];

beforeAll(async () => {
  harness = await acquirePostgres();
  dir = mkdtempSync(join(tmpdir(), 'flock-wf-cluster-'));
});

afterAll(async () => {
  for (const n of nodes) await n.close();
  await harness?.release();
  rmSync(dir, { recursive: true, force: true });
});

/** A cluster node's settings: one data directory, as a cluster's nodes share blobs. */
const nodeConfig = () => ({
  port: 0,
  dataDir: dir,
  apiKeys: new Map([[KEY_A, 'a']]),
  extraOps: ['sum'],
  logLevel: 'silent' as const,
});

/** A request to the node at `base` with tenant a's key. */
const call = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
  });

test('steps that run on another coordinator advance the workflow where it was submitted', async () => {
  const url = await harness.createDatabase();
  for (const id of ['wa', 'wb'])
    nodes.push(await startClusterCoordinator(url, nodeConfig(), { coordinatorId: id }));
  const [a, b] = nodes as [ClusterCoordinator, ClusterCoordinator];
  const sim = await SimulatedVolunteer.connect({ url: b.url, run: stepRunner });
  try {
    const api = (path: string, init: RequestInit = {}) => call(a.url, path, init);
    const def = {
      workflow_id: 'across',
      steps: [
        step('one'),
        step('two', { inputs: [{ name: 'p', uri: '${steps.one.outputs.sum}' }] }),
        step('three'),
      ],
    };
    expect((await api('/v1/workflows', { method: 'POST', body: JSON.stringify(def) })).status).toBe(201);
    const view = await until(
      async () => {
        const body = (await (await api('/v1/workflows/across')).json()) as {
          state: string;
          steps: Array<{ state: string }>;
        };
        return body.state === 'running' ? undefined : body;
      },
      20_000,
      'the workflow',
    );
    expect(view.state).toBe('succeeded');
    expect(view.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(a.coordinator.connectedWorkers()).toHaveLength(0);
    expect(sim.assignments.map((x) => x.task_id)).toEqual(['across.one', 'across.two', 'across.three']);
  } finally {
    sim.close();
  }
}, 60_000);

test('a workflow whose coordinator is gone is taken over by another once it has stalled', async () => {
  const url = await harness.createDatabase();
  const options = { beatMs: 100, deadAfterMs: 500 };
  const a = await startClusterCoordinator(url, nodeConfig(), { ...options, coordinatorId: 'ta' });
  const b = await startClusterCoordinator(url, nodeConfig(), { ...options, coordinatorId: 'tb' });
  nodes.push(b);
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolveHeld) => {
    release = resolveHeld;
  });
  const sim = await SimulatedVolunteer.connect({
    url: b.url,
    run: async (job) => {
      if (job.assignment.task_id === 'orphan.one') await held;
      return stepRunner(job);
    },
  });
  try {
    const def = { workflow_id: 'orphan', steps: [step('one'), step('two'), step('three')] };
    expect((await call(a.url, '/v1/workflows', { method: 'POST', body: JSON.stringify(def) })).status).toBe(
      201,
    );
    await until(() => sim.running.size === 1, 10_000, 'step one running on the other coordinator');
    // The coordinator that advanced the workflow goes away while its first step runs elsewhere.
    await a.close();
    release();
    const view = await until(
      async () => {
        const body = (await (await call(b.url, '/v1/workflows/orphan')).json()) as {
          state: string;
          steps: Array<{ state: string; task_ids: string[] }>;
        };
        return body.state === 'running' ? undefined : body;
      },
      20_000,
      'the workflow',
    );
    expect(view.state).toBe('succeeded');
    expect(view.steps.map((s) => [s.state, s.task_ids])).toEqual([
      ['succeeded', ['orphan.one']],
      ['succeeded', ['orphan.two']],
      ['succeeded', ['orphan.three']],
    ]);
  } finally {
    release();
    sim.close();
  }
}, 60_000);

test('a workflow cancelled through another coordinator is not advanced further where it runs', async () => {
  const url = await harness.createDatabase();
  const a = await startClusterCoordinator(url, nodeConfig(), { coordinatorId: 'ca' });
  const b = await startClusterCoordinator(url, nodeConfig(), { coordinatorId: 'cb' });
  nodes.push(a, b);
  const sim = await SimulatedVolunteer.connect({ url: a.url, run: stepRunner });
  try {
    // The step fails, and its retry waits out a backoff with no task open: a cancel through the
    // other coordinator then has no task to cancel, and only the stored workflow says so.
    const def = {
      workflow_id: 'stopped',
      steps: [step('flaky', { params: { fail: true }, on_error: { retry: 2, backoff_ms: 1500 } })],
    };
    expect((await call(a.url, '/v1/workflows', { method: 'POST', body: JSON.stringify(def) })).status).toBe(
      201,
    );
    const state = async (id: string) => (await a.coordinator.store.getTask('a', id))?.state;
    await until(async () => (await state('stopped.flaky')) === 'failed', 10_000, 'the first attempt failed');
    expect((await call(b.url, '/v1/workflows/stopped', { method: 'DELETE' })).status).toBe(200);
    // Its retry timer fires on the coordinator advancing it, which finds it ended and lets go.
    await until(() => !a.coordinator.workflows.advances('a', 'stopped'), 10_000, 'let go');
    expect(await state('stopped.flaky.retry1')).toBeUndefined();
    const view = (await (await call(a.url, '/v1/workflows/stopped')).json()) as { state: string };
    expect(view.state).toBe('cancelled');
  } finally {
    sim.close();
  }
}, 60_000);
