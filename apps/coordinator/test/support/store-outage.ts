// A cluster coordinator that reaches the shared PostgreSQL test server through a TCP relay, for
// tests of what happens while the store cannot be reached: `cutStore()` closes the relay (a real
// outage from the coordinator's side) and waits until the coordinator has seen it (`/healthz`
// 503), `restoreStore()` reopens it. Hooks are registered by `useStoreOutage`, like usePostgres.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { type ClusterCoordinator, startClusterCoordinator } from '../../src/cluster/cluster.ts';
import { type SimRunner, SimulatedVolunteer, sumRunner } from '../../src/sim/simulated-volunteer.ts';
import { acquirePostgres, type PostgresHarness } from './postgres.ts';
import { Relay } from './tcp-relay.ts';

export const OUTAGE_KEY = 'unavailable-key-0123456789';

export interface OutageOptions {
  coordinatorId: string;
  leaseMs: number;
  /** Off: replicas of unvetted volunteers may agree (a quorum needs no vetted member). */
  spotChecks?: boolean;
}

export interface StoreOutage {
  /** The coordinator (behind the relay) and a direct connection to its database. */
  node(): ClusterCoordinator;
  direct(): pg.Client;
  /** Simulated volunteers connected so far (closed after the file). */
  readonly sims: SimulatedVolunteer[];
  volunteer(run: SimRunner): Promise<SimulatedVolunteer>;
  /** Submits a `sum` task for tenant `a` (201 expected), `extra` merged into its envelope. */
  submit(taskId: string, extra?: Record<string, unknown>): Promise<void>;
  healthz(): Promise<number>;
  cutStore(): Promise<void>;
  restoreStore(): Promise<void>;
}

export function useStoreOutage(options: OutageOptions): StoreOutage {
  let harness: PostgresHarness | undefined;
  let relay: Relay | undefined;
  let direct: pg.Client | undefined;
  let node: ClusterCoordinator | undefined;
  let dir: string | undefined;
  const sims: SimulatedVolunteer[] = [];

  beforeAll(async () => {
    harness = await acquirePostgres();
    dir = mkdtempSync(join(tmpdir(), `flock-pg-${options.coordinatorId}-`));
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
        apiKeys: new Map([[OUTAGE_KEY, 'a']]),
        extraOps: ['sum'],
        leaseMs: options.leaseMs,
        ...(options.spotChecks === false ? { spotChecks: false } : {}),
        logLevel: 'silent',
      },
      { coordinatorId: options.coordinatorId, beatMs: 50 },
    );
  }, 300_000);

  afterAll(async () => {
    for (const sim of sims) await sim.close();
    await node?.close();
    await relay?.close();
    await direct?.end();
    await harness?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const healthz = async (): Promise<number> => (await fetch(`${node!.url}/healthz`)).status;
  return {
    node: () => node!,
    direct: () => direct!,
    sims,
    async volunteer(run) {
      const sim = await SimulatedVolunteer.connect({ url: node!.url, run });
      sims.push(sim);
      return sim;
    },
    async submit(taskId, extra = {}) {
      const res = await fetch(`${node!.url}/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OUTAGE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          task_id: taskId,
          op: 'sum',
          module: { kind: 'builtin' },
          requirements: { min: { wasm: true } },
          inputs: [{ name: 'x', inline_bytes: Buffer.from([1, 2, 3]).toString('base64') }],
          ...extra,
        }),
      });
      expect(res.status).toBe(201);
    },
    healthz,
    async cutStore() {
      await relay!.close();
      await expect.poll(healthz, { timeout: 5000, interval: 25 }).toBe(503);
    },
    async restoreStore() {
      await relay!.open();
      await expect.poll(healthz, { timeout: 5000, interval: 25 }).toBe(200);
    },
  };
}

/** A runner that holds every job until `release()`, then answers as `outcome` does. */
export function gated(outcome: SimRunner = sumRunner): { run: SimRunner; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    run: async (job) => {
      await gate;
      return outcome(job);
    },
    release,
  };
}
