// Verified tasks and volunteers' credit as requesters see them (issue #9): the SDK's typed views
// and the CLI's `status` and `workers` output, against a real coordinator (in-process, SQLite,
// real WebSockets) with simulated volunteers that speak the real worker protocol. Honest ones
// compute by the CPU reference, so they pass the known-answer check every new worker gets first;
// a liar reports wrong answers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { SimulatedVolunteer } from '@flock/coordinator/sim';
import { afterEach, describe, expect, it } from 'vitest';
import { FlockClient, formatCredit, type TaskView, type WorkerView } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';

const KEY = 'key-verify';

let coordinator: RunningCoordinator | undefined;
let dataDir: string | undefined;
const sims: SimulatedVolunteer[] = [];

afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.close();
  await coordinator?.close();
  coordinator = undefined;
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

async function start(options: { spotChecks: boolean }): Promise<FlockClient> {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-verify-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    spotChecks: options.spotChecks,
    extraOps: ['sum'],
    // Probation checks only (every new worker's first verified task): exact counts.
    spotCheckRate: 0,
  });
  return new FlockClient({ url: coordinator.url, apiKey: KEY, WebSocket: null });
}

async function volunteer(lie = false): Promise<SimulatedVolunteer> {
  const sim = await SimulatedVolunteer.connect({ url: coordinator!.url, lie });
  sims.push(sim);
  return sim;
}

const flock = (args: string[], stdin = '') => runCli(args, { url: coordinator!.url, key: KEY, stdin });

/** A built-in task (`sum`; the honest volunteers answer 10) with a verification policy. */
function verifiedEnvelope(taskId: string, verification: Record<string, unknown>): string {
  return JSON.stringify({
    task_id: taskId,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
    verification,
  });
}

/** Polls the task view until `ready` holds (no fixed sleeps). */
async function viewWhen(client: FlockClient, taskId: string, ready: (v: TaskView) => boolean) {
  let view: TaskView | undefined;
  await expect
    .poll(async () => {
      view = await client.getTask(taskId);
      return ready(view);
    })
    .toBe(true);
  return view!;
}

describe('verified tasks in the SDK and the CLI', () => {
  it('status prints how a quorum accepted the result; workers show credit, validated, rejected, trust', async () => {
    const client = await start({ spotChecks: true });
    const [a, b] = [await volunteer(), await volunteer()];
    const submitted = await flock(
      ['submit', '-', '--wait'],
      verifiedEnvelope('v-quorum-1', { replicas: 2, quorum: 2 }),
    );
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toContain(
      '\nverification: accepted by quorum (2 of 2 agree, 2 returned, mode fixed)\n',
    );

    const view = await client.getTask('v-quorum-1');
    expect(view.verification).toEqual({
      state: 'accepted',
      mode: 'fixed',
      quorum: 2,
      max_replicas: 5,
      dispatched: 2,
      running: 0,
      returned: 2,
      agreeing: 2,
      accepted_by: 'quorum',
      workers: expect.any(Array),
    });
    // Each copy on its own worker (only the first copy is a stored attempt).
    expect([...view.verification!.workers].sort()).toEqual([a.workerId, b.workerId].sort());
    const status = await flock(['status', 'v-quorum-1']);
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('v-quorum-1  succeeded  op=sum  module=builtin');
    expect(lines.slice(-3)).toEqual([
      'verification: accepted by quorum (2 of 2 agree, 2 returned, mode fixed)',
      `copies on ${view.verification!.workers.join(', ')}`,
      expect.stringMatching(/^ran \d+ ms on sim$/),
    ]);

    // --json: the view as the API gives it, the new block included.
    const json = await flock(['status', 'v-quorum-1', '--json']);
    expect(JSON.parse(json.stdout)).toEqual(view);

    // Each passed its probation check and agreed with the other: validated twice, credited.
    const workers = await client.workers();
    for (const sim of [a, b]) {
      const w = workers.find((x) => x.worker_id === sim.workerId)!;
      expect(w).toMatchObject({
        valid_results: 2,
        invalid_results: 0,
        checks_passed: 1,
        checks_failed: 0,
        vetted: true,
        quarantined: false,
        pending_credit: 0,
      });
      expect(w.credit).toBeGreaterThan(0);
    }
    const table = await flock(['workers']);
    expect(table.code).toBe(0);
    const [head, ...rows] = table.stdout.trimEnd().split('\n');
    expect(head!.split(/\s+/)).toEqual([
      'WORKER',
      'CONNECTED',
      'GPU',
      'CORES',
      'RUNNING',
      'OK',
      'FAILED',
      'CREDIT',
      'PENDING',
      'VALIDATED',
      'REJECTED',
      'TRUST',
    ]);
    for (const sim of [a, b]) {
      const w = workers.find((x) => x.worker_id === sim.workerId)!;
      const row = rows.find((r) => r.startsWith(`${sim.workerId} `))!;
      expect(row.split(/\s{2,}/).slice(-5)).toEqual([formatCredit(w.credit), '0.0 s', '2', '0', 'verified']);
    }
    const listed = JSON.parse((await flock(['workers', '--json'])).stdout) as { workers: WorkerView[] };
    expect(listed.workers.map((w) => w.vetted)).toEqual([true, true]);
  });

  it('an adaptive policy ({}) needs a quorum of 2 from workers not yet trusted', async () => {
    const client = await start({ spotChecks: true });
    await volunteer();
    await volunteer();
    const run = await flock(['submit', '-', '--wait'], verifiedEnvelope('v-adaptive-1', {}));
    expect(run.code).toBe(0);
    const view = await client.getTask('v-adaptive-1');
    expect(view.verification).toMatchObject({ state: 'accepted', mode: 'adaptive', quorum: 2 });
    expect((await flock(['status', 'v-adaptive-1'])).stdout).toContain(
      '\nverification: accepted by quorum (2 of 2 agree, 2 returned, mode adaptive)\n',
    );
  });

  it('pending while a replica is missing, then failed VERIFICATION_FAILED when a liar disagrees', async () => {
    // Spot checks off: nobody is vetted and quorums need no vetted member (TRUST.md, Settings).
    const client = await start({ spotChecks: false });
    const honest = await volunteer();
    const submitted = await flock(
      ['submit', '-'],
      verifiedEnvelope('v-fail-1', { replicas: 2, quorum: 2, max_replicas: 2 }),
    );
    expect(submitted.code).toBe(0);
    // One worker can run one copy only: the second waits for another worker.
    await viewWhen(client, 'v-fail-1', (v) => v.verification?.returned === 1);
    const pending = await flock(['status', 'v-fail-1']);
    expect(pending.stdout).toContain(
      '\nverification: pending (1 of 2 agree, 1 returned, 1 of at most 2 dispatched, mode fixed)\n',
    );

    const liar = await volunteer(true);
    const failed = await viewWhen(client, 'v-fail-1', (v) => v.state === 'failed');
    expect(failed.failure?.code).toBe('VERIFICATION_FAILED');
    expect(failed.verification).toMatchObject({ state: 'failed', returned: 2, agreeing: 1, running: 0 });
    expect(failed.verification?.workers).toEqual([honest.workerId, liar.workerId]);
    const status = await flock(['status', 'v-fail-1']);
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines).toContain(
      'verification: failed (1 of 2 agree, 2 returned, 2 of at most 2 dispatched, mode fixed)',
    );
    expect(lines).toContain(`copies on ${honest.workerId}, ${liar.workerId}`);
    expect(lines.find((l) => l.startsWith('failure '))).toMatch(/^failure VERIFICATION_FAILED: /);
    // Spot checks off: nobody is ever checked, so both read unchecked (not new: no check will come).
    const table = (await flock(['workers'])).stdout.split('\n');
    for (const sim of [honest, liar]) {
      expect(table.find((r) => r.startsWith(`${sim.workerId} `))).toMatch(/ unchecked$/);
    }
  });

  it('a task without a policy has no verification block and prints no verification line', async () => {
    const client = await start({ spotChecks: true });
    await volunteer();
    const plain = JSON.parse(verifiedEnvelope('v-plain-1', {})) as Record<string, unknown>;
    delete plain['verification'];
    expect((await flock(['submit', '-', '--wait'], JSON.stringify(plain))).code).toBe(0);
    expect((await client.getTask('v-plain-1')).verification).toBeUndefined();
    expect((await flock(['status', 'v-plain-1'])).stdout).not.toContain('verification');
  });
});
