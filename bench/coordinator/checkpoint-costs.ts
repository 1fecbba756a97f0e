// What SQLite's WAL checkpoints cost the event loop (src/store/sqlite-checkpointer.ts).
//
//   npx tsx bench/coordinator/checkpoint-costs.ts [--auto] [--sims 20] [--tasks 400]
//     paced: single POST /v1/tasks at 100/s against an idle coordinator with simulated
//     volunteers; prints the store calls' p50/p99, request→201 and submit→start p99, the main
//     thread's and the process's CPU a task, and the largest -wal file seen.
//   npx tsx bench/coordinator/checkpoint-costs.ts --store 50000 [--auto]
//     the store alone: campaigns of 1,000, lease passes and group commits of 50 (200 workers);
//     prints the same CPU figures and the largest -wal file (is it bounded?).
//
// `--interval MS` runs the thread's checkpoints every MS (default: the store's).
// `--auto` is the store as before: the checkpoint thread stopped and SQLite's automatic
// checkpoint (1,000 pages) back on, so both can be run in turn, interleaved.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';
import { startCoordinator } from '../../apps/coordinator/src/start-coordinator.ts';
import { WalCheckpointer } from '../../apps/coordinator/src/store/sqlite-checkpointer.ts';
import { SqliteStore } from '../../apps/coordinator/src/store/sqlite-store.ts';
import type { Store } from '../../apps/coordinator/src/store/store.ts';
import { benchCompletions, benchLeases, benchTasks } from './store-work.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const AUTO = process.argv.includes('--auto');
const STORE_TASKS = arg('--store', 0);

/** The main thread's CPU µs (its /proc task entry: utime + stime, in 10 ms ticks). */
function mainCpuUs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
const processCpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const INTERVAL = arg('--interval', 0);

/**
 * `--auto`: puts the store back as it was before the checkpoint thread. `--interval MS`: a
 * checkpointer whose thread runs every MS instead of the default.
 */
async function setUp(store: Store): Promise<void> {
  const inner = store as unknown as {
    checkpointer: WalCheckpointer;
    db: Database.Database;
    path: string;
  };
  if (AUTO) {
    await inner.checkpointer.close();
    inner.db.pragma('wal_autocheckpoint = 1000');
  } else if (INTERVAL > 0) {
    await inner.checkpointer.close();
    inner.checkpointer = new WalCheckpointer(inner.db, inner.path, { intervalMs: INTERVAL });
  }
}
const label = AUTO ? 'auto  ' : `thread${INTERVAL > 0 ? `@${INTERVAL}` : ''}`;

let maxWal = 0;
function watchWal(path: string): NodeJS.Timeout {
  return setInterval(() => {
    maxWal = Math.max(maxWal, statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  }, 20);
}

const q = (xs: number[], p: number): string => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN).toFixed(2);
};

async function storeOnly(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-ckpt-bench-'));
  const store = new SqliteStore(dir);
  await setUp(store);
  const watch = watchWal(store.path);
  const envelope = Buffer.alloc(300, 7);
  const result = Buffer.alloc(80, 9);
  const cpu0 = processCpuUs();
  const main0 = mainCpuUs();
  const t0 = performance.now();
  for (let b = 0; b < n; b += 1000) {
    const created = await store.insertTasks(benchTasks(b, 1000, envelope));
    const uids = created.flatMap((o) => (o.kind === 'created' ? [o.task.uid] : []));
    for (let c = 0; c < uids.length; c += 50) {
      const slice = uids.slice(c, c + 50);
      await store.startLeases(benchLeases(slice, 200));
      await store.completeTasks(benchCompletions(slice, 200, result));
      // A turn of the event loop between batches, as the coordinator has (timers run).
      await new Promise((r) => setImmediate(r));
    }
  }
  const wall = performance.now() - t0;
  clearInterval(watch);
  console.log(
    `${label} store ${n}: main CPU ${((mainCpuUs() - main0) / n).toFixed(1)} µs/task, process CPU ${((processCpuUs() - cpu0) / n).toFixed(1)}, wall ${((wall * 1000) / n).toFixed(1)}, max -wal ${(maxWal / 2 ** 20).toFixed(1)} MiB`,
  );
  await store.close();
  console.log(
    `after close: -wal ${statSync(`${store.path}-wal`, { throwIfNoEntry: false })?.size ?? 'none'}`,
  );
  rmSync(dir, { recursive: true, force: true });
}

async function paced(sims: number, tasks: number): Promise<void> {
  const serverLat: number[] = [];
  const emit = Server.prototype.emit;
  Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
    if (event === 'request' && (args[0] as { method: string }).method === 'POST') {
      const t = performance.now();
      (args[1] as Server).on('finish', () => serverLat.push(performance.now() - t));
    }
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof emit;
  const dir = mkdtempSync(join(tmpdir(), 'flock-ckpt-bench-'));
  const key = 'k'.repeat(20);
  const c = await startCoordinator({
    port: 0,
    dataDir: dir,
    logLevel: 'silent',
    apiKeys: new Map([[key, 'a']]),
    pagesDir: join(dir, 'x'),
    extraOps: ['sum'],
  });
  await setUp(c.store);
  const watch = watchWal(join(dir, 'flock.db'));
  const storeLat: Record<string, number[]> = {};
  const st = c.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const m of ['insertTasks', 'startLeases', 'completeTasks']) {
    const orig = st[m]!.bind(st);
    const xs: number[] = [];
    storeLat[m] = xs;
    st[m] = async (...a) => {
      const t = performance.now();
      try {
        return await orig(...a);
      } finally {
        xs.push(performance.now() - t);
      }
    };
  }
  const began = new Map<string, number>();
  const volunteers: SimulatedVolunteer[] = [];
  for (let i = 0; i < sims; i++) {
    volunteers.push(
      await SimulatedVolunteer.connect({
        url: c.url,
        capability: { cpu_slots: 2, batch_frames: 64 },
        run: ({ assignment }) => {
          began.set(assignment.task_id!, performance.now());
          return { outputs: [{ name: 'sum', inline_json: '1' }] };
        },
      }),
    );
  }
  const agent = new Agent({ keepAlive: true });
  const post = (body: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const r = request(
        `${c.url}/v1/tasks`,
        {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  const lat201: number[] = [];
  const sent = new Map<string, number>();
  const cpu0 = processCpuUs();
  const main0 = mainCpuUs();
  for (let i = 0; i < tasks; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const id = `p-${i}`;
    const body = JSON.stringify({
      task_id: id,
      op: 'sum',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
      inputs: [{ name: 'x', inline_bytes: 'AAEC' }],
    });
    const t = performance.now();
    sent.set(id, t);
    await post(body);
    lat201.push(performance.now() - t);
  }
  await new Promise((r) => setTimeout(r, 200));
  const mainCpu = (mainCpuUs() - main0) / tasks;
  const cpu = (processCpuUs() - cpu0) / tasks;
  clearInterval(watch);
  const latStart = [...sent].map(([id, t]) => (began.get(id) ?? Number.NaN) - t);
  const line = [`${label} 201 p99 ${q(lat201, 0.99)}`, `server p99 ${q(serverLat, 0.99)}`];
  line.push(`start p50 ${q(latStart, 0.5)} p99 ${q(latStart, 0.99)}`);
  for (const [m, xs] of Object.entries(storeLat)) line.push(`${m} p50 ${q(xs, 0.5)} p99 ${q(xs, 0.99)}`);
  line.push(
    `CPU (volunteers included) main ${mainCpu.toFixed(0)} process ${cpu.toFixed(0)} µs/task, max -wal ${(maxWal / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log(line.join(' | '));
  for (const v of volunteers) await v.close();
  await c.close();
  rmSync(dir, { recursive: true, force: true });
}

if (STORE_TASKS > 0) await storeOnly(STORE_TASKS);
else await paced(arg('--sims', 20), arg('--tasks', 400));
