// Several coordinators on one PostgreSQL: three real coordinator processes (`main.ts` with
// FLOCK_STORE=postgres://...), simulated volunteers reaching them through a round-robin TCP
// balancer, requesters on every coordinator. Every task succeeds exactly once; events reach a
// subscriber on another coordinator; a coordinator killed with SIGKILL mid-run loses no task.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { campaignTraceId } from '@flock/protocol';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { clusterFromEnv } from '../src/cluster/cluster.ts';
import { type SimRunner, SimulatedVolunteer, sumRunner } from '../src/sim/simulated-volunteer.ts';
import { envelope, KEY_A } from './helpers.ts';
import { acquirePostgres, type PostgresHarness } from './support/postgres.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const LEASE_MS = 3000;

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

/**
 * "Any HTTP load balancer", reduced to what matters here: round-robin over the backends, and a
 * backend that refuses the connection (a dead coordinator) is skipped for the next one.
 */
class TcpBalancer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  port = 0;

  constructor(private readonly backends: number[]) {
    this.server = createServer((client) => this.route(client, 0));
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private route(client: Socket, tried: number): void {
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const port = this.backends[this.next++ % this.backends.length]!;
    const upstream = createConnection({ port, host: '127.0.0.1' });
    let connected = false;
    upstream.once('error', () => {
      upstream.destroy();
      if (connected) client.destroy();
      else this.route(client, tried + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      this.sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((done) => this.server.close(done));
  }
}

interface Node {
  id: string;
  port: number;
  url: string;
  child: ChildProcess;
}

async function startNode(id: string, store: string, dataDir: string): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/coordinator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      FLOCK_STORE: store,
      FLOCK_COORDINATOR_ID: id,
      FLOCK_CLUSTER_BEAT_MS: '200',
      FLOCK_PORT: String(port),
      FLOCK_DATA: dataDir,
      FLOCK_PAGES_DIR: join(dataDir, 'no-pages'),
      FLOCK_API_KEYS: `${KEY_A}:a`,
      // The op the simulated volunteers run (no page ships it).
      FLOCK_EXTRA_OPS: 'sum',
      FLOCK_LEASE_MS: String(LEASE_MS),
      FLOCK_RETRY_BASE_MS: '50',
      FLOCK_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await expect
    .poll(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status, {
      timeout: 30_000,
      interval: 100,
    })
    .toBe(200);
  return { id, port, url, child };
}

async function submit(url: string, ids: string[], campaign: string): Promise<void> {
  const res = await fetch(`${url}/v1/campaigns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
    body: JSON.stringify({ campaign_id: campaign, tasks: ids.map((id) => envelope(id)) }),
  });
  expect([res.status, res.status === 201 ? '' : await res.text()]).toEqual([201, '']);
}

let harness: PostgresHarness;
beforeAll(async () => {
  harness = await acquirePostgres();
});
afterAll(async () => {
  await harness?.release();
});

describe('three coordinators on one PostgreSQL', () => {
  let db: pg.Client;
  let dataDir: string;
  let nodes: Node[];
  let balancer: TcpBalancer;
  const sims: SimulatedVolunteer[] = [];
  /** Welcomes after the first, per volunteer: how often it said hello again (reconnected). */
  const rewelcomes = new Map<SimulatedVolunteer, number>();

  const count = async (sql: string): Promise<number> => Number((await db.query(sql)).rows[0]?.n);

  beforeEach(async () => {
    const url = await harness.createDatabase();
    db = new pg.Client({ connectionString: url });
    await db.connect();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-cluster-'));
    // The first start migrates; the others then start together.
    nodes = [await startNode('c1', url, dataDir)];
    nodes.push(...(await Promise.all([startNode('c2', url, dataDir), startNode('c3', url, dataDir)])));
    balancer = new TcpBalancer(nodes.map((n) => n.port));
    await balancer.listen();
  });

  afterEach(async () => {
    for (const sim of sims.splice(0)) sim.close();
    rewelcomes.clear();
    await balancer.close();
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((done) => {
            if (n.child.exitCode !== null || n.child.signalCode !== null) return done();
            n.child.once('exit', () => done());
            n.child.kill('SIGTERM');
          }),
      ),
    );
    await db.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function volunteers(n: number, run: SimRunner): Promise<void> {
    for (let i = 0; i < n; i++) {
      const sim = await SimulatedVolunteer.connect({
        url: `http://127.0.0.1:${balancer.port}`,
        run,
        reconnect: true,
      });
      rewelcomes.set(sim, 0);
      sim.on('welcome', () => rewelcomes.set(sim, rewelcomes.get(sim)! + 1));
      sims.push(sim);
    }
  }

  test('every task succeeds exactly once; events reach a subscriber on another coordinator', async () => {
    await volunteers(6, sumRunner);
    // The subscriber sits on c3; tasks are submitted to all three and run wherever.
    const ws = new WebSocket(
      `${nodes[2]!.url.replace('http', 'ws')}/v1/events?key=${KEY_A}&campaign_id=camp`,
    );
    await new Promise((done) => ws.on('open', done));
    const successes: Array<{
      payload: { task_id: string; data: { outputs?: Array<{ inline_json?: string }> } };
      trace?: { correlation_id?: string };
    }> = [];
    ws.on('message', (data) => {
      const event = JSON.parse(String(data));
      if (event.topic === 'compute:dispatch:v1:success') successes.push(event);
    });
    // Requesters on c1 and c2 only: c3's volunteers get work only if c3 adopts others' tasks.
    const ids = Array.from({ length: 90 }, (_, i) => `t-${i}`);
    await Promise.all([
      submit(nodes[0]!.url, ids.slice(0, 60), 'camp'),
      submit(nodes[1]!.url, ids.slice(60), 'camp'),
    ]);

    await expect
      .poll(() => count("SELECT COUNT(*) AS n FROM tasks WHERE state = 'succeeded'"), { timeout: 30_000 })
      .toBe(90);
    expect(await count('SELECT COUNT(*) AS n FROM tasks')).toBe(90);
    expect(await count("SELECT COUNT(*) AS n FROM audit WHERE to_state = 'succeeded'")).toBe(90);
    expect(
      await count("SELECT COUNT(DISTINCT task_uid) AS n FROM attempts WHERE outcome = 'succeeded'"),
    ).toBe(90);
    expect(await count("SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'succeeded'")).toBe(90);
    // Every coordinator granted leases, c3 included.
    expect(await count('SELECT COUNT(DISTINCT coordinator_id) AS n FROM attempts')).toBe(3);

    await expect.poll(() => successes.length, { timeout: 10_000 }).toBe(90);
    expect(new Set(successes.map((e) => e.payload.task_id)).size).toBe(90);
    // Every input is [1, 2, 3, 4]: the result payload (read back from the store) says 10.
    expect(new Set(successes.map((e) => e.payload.data.outputs?.[0]?.inline_json))).toEqual(new Set(['10']));
    // The trace crosses coordinators too (#19): each event names the campaign's trace id.
    expect(new Set(successes.map((e) => e.trace?.correlation_id))).toEqual(
      new Set([campaignTraceId('a', 'camp')]),
    );
    const remote = await count(
      "SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'succeeded' AND coordinator_id <> 'c3'",
    );
    expect(remote).toBeGreaterThan(0);
    ws.close();
  });

  test('a coordinator killed with SIGKILL mid-run: its volunteers move, no task is lost', async () => {
    // Slow enough that tasks are in flight on every coordinator when c1 dies.
    const slow: SimRunner = async (job) => {
      await new Promise((done) => setTimeout(done, 100));
      return sumRunner(job);
    };
    await volunteers(6, slow);
    const ids = Array.from({ length: 60 }, (_, i) => `k-${i}`);
    await Promise.all(nodes.map((n, k) => submit(n.url, ids.slice(k * 20, k * 20 + 20), 'kill')));
    await expect
      .poll(
        () =>
          count(
            "SELECT COUNT(*) AS n FROM attempts a JOIN tasks t ON t.current_lease_id = a.lease_id WHERE a.coordinator_id = 'c1' AND t.state = 'running'",
          ),
        { timeout: 20_000, interval: 10 },
      )
      .toBeGreaterThan(0);
    nodes[0]!.child.kill('SIGKILL');

    await expect
      .poll(() => count("SELECT COUNT(*) AS n FROM tasks WHERE state = 'succeeded'"), { timeout: 40_000 })
      .toBe(60);
    expect(await count("SELECT COUNT(*) AS n FROM audit WHERE to_state = 'succeeded'")).toBe(60);
    expect(await count("SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'succeeded'")).toBe(60);
    // The leases c1 held when it died went back to the queue through another coordinator.
    expect(await count("SELECT COUNT(*) AS n FROM attempts WHERE code = 'COORDINATOR_LOST'")).toBeGreaterThan(
      0,
    );
    expect(
      await count("SELECT COUNT(*) AS n FROM attempts WHERE coordinator_id = 'c1' AND ended_at_ms IS NULL"),
    ).toBe(0);
    // c1's volunteers (round-robin: two of the six) said hello again, to another coordinator.
    expect([...rewelcomes.values()].filter((n) => n > 0)).toHaveLength(2);
  });
});

test('FLOCK_STORE selects the store; bad cluster settings are refused naming the variable', () => {
  expect(clusterFromEnv({})).toBeUndefined();
  expect(clusterFromEnv({ FLOCK_STORE: 'sqlite' })).toBeUndefined();
  expect(
    clusterFromEnv({
      FLOCK_STORE: 'postgres://flock@db:5432/flock',
      FLOCK_COORDINATOR_ID: 'c1',
      FLOCK_PG_POOL: '4',
      FLOCK_CLUSTER_BEAT_MS: '500',
      FLOCK_CLUSTER_DEAD_MS: '9000',
      FLOCK_CLUSTER_STEAL_MS: '0',
      FLOCK_PG_SYNC_COMMIT: 'OFF',
    }),
  ).toEqual({
    url: 'postgres://flock@db:5432/flock',
    options: {
      coordinatorId: 'c1',
      maxConnections: 4,
      beatMs: 500,
      deadAfterMs: 9000,
      stealAfterMs: 0,
      synchronousCommit: 'off',
    },
  });
  const refused = (env: Record<string, string>): unknown => {
    try {
      clusterFromEnv({ FLOCK_STORE: 'postgres://x/y', ...env });
    } catch (err) {
      return err;
    }
    return undefined;
  };
  expect(refused({ FLOCK_STORE: 'mysql://x' })).toMatchObject({
    code: 'CONFIG_INVALID',
    field: 'FLOCK_STORE',
  });
  expect(refused({ FLOCK_COORDINATOR_ID: 'a b' })).toMatchObject({ field: 'FLOCK_COORDINATOR_ID' });
  expect(refused({ FLOCK_PG_POOL: '0' })).toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_PG_POOL' });
  expect(refused({ FLOCK_CLUSTER_BEAT_MS: '1.5' })).toMatchObject({ field: 'FLOCK_CLUSTER_BEAT_MS' });
  expect(refused({ FLOCK_PG_SYNC_COMMIT: 'maybe' })).toMatchObject({ field: 'FLOCK_PG_SYNC_COMMIT' });
});
