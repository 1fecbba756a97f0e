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

test('steps that run on another coordinator advance the workflow where it was submitted', async () => {
  const url = await harness.createDatabase();
  // One data directory: the coordinators share blobs as a cluster's nodes do.
  const config = {
    port: 0,
    dataDir: dir,
    apiKeys: new Map([[KEY_A, 'a']]),
    extraOps: ['sum'],
    logLevel: 'silent' as const,
  };
  for (const id of ['wa', 'wb'])
    nodes.push(await startClusterCoordinator(url, config, { coordinatorId: id }));
  const [a, b] = nodes as [ClusterCoordinator, ClusterCoordinator];
  const sim = await SimulatedVolunteer.connect({ url: b.url, run: stepRunner });
  try {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${a.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      });
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
