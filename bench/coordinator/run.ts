// Coordinator throughput benchmark: simulated volunteers over loopback run small tasks end to end
// (durable acceptance over HTTP → assignment → result stored → result_ack), against BullMQ on a
// local Redis with the same jobs and concurrency, in the same run. Prints tasks/s, the
// submit-to-start latency percentiles of both, and the ratio.
//
//   npm run bench -w @flock/coordinator                  # 5,000 tasks, 50 volunteers
//   npm run bench -w @flock/coordinator -- --full        # 50,000 tasks, 200 volunteers
//   options: --tasks N --volunteers N --slots N --sync NORMAL|FULL --postgres --paced N --rounds N --skip-bullmq --skip-flock
//            --sync applies to PostgreSQL too: NORMAL is synchronous_commit=off (the durability of
//            SQLite's WAL NORMAL and Redis's everysec), FULL is on (a commit waits for its fsync).
//            --no-batch (volunteers take and send one frame a WebSocket message, as the tab does)
//   BENCH_PROF=<dir> writes a CPU profile of the coordinator process.
//   BENCH_THREADS=1 also prints the coordinator's CPU per task by thread; FLOCK_SQLITE_THREAD=on
//   runs its SQLite store on a thread of its own (both pass through to the coordinator).
//   BENCH_PACED_DEBUG=1 prints the paced phase's slowest tasks and its submit→201 percentiles.
//   Flock's paced tasks are sent twice over: with a kept-alive node:http connection (the lean
//   client, as ioredis is BullMQ's: the headline figure) and with fetch (undici, what the SDK
//   sends with by default), 500 each.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';
import { acquirePostgres, type PostgresHarness } from '../../apps/coordinator/test/support/postgres.ts';
import { ensureDebianPackages } from '../prerequisites.ts';
import {
  httpFloor,
  input,
  KEY,
  ms,
  PACED_RATE,
  type Paced,
  paced,
  pacedTask,
  percentile,
  postTask,
  waitFor,
} from './paced.ts';
import { clientSeconds, cpuSeconds, mainThreadSeconds, printThreads, threadSeconds } from './proc-cpu.ts';

let pgHarness: Promise<PostgresHarness> | undefined;
/** The private PostgreSQL server, started once for the run (released when the process exits). */
const postgres = (): Promise<PostgresHarness> => {
  pgHarness ??= acquirePostgres();
  return pgHarness;
};

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const FULL = flag('--full');
const TASKS = Number(option('--tasks', FULL ? '50000' : '5000'));
const VOLUNTEERS = Number(option('--volunteers', FULL ? '200' : '50'));
const SLOTS = Number(option('--slots', '2'));
const SYNC = option('--sync', 'NORMAL');
/**
 * PostgreSQL's `synchronous_commit` for the same durability class: NORMAL, like SQLite's WAL
 * NORMAL and Redis's `appendfsync everysec`, survives a process kill and may lose the last moments
 * of commits to a machine crash (`off`); FULL waits for each commit's fsync (`on`).
 */
const PG_SYNC_COMMIT = SYNC === 'FULL' ? 'on' : 'off';
/** --postgres: the coordinator on a private PostgreSQL server (scripts/postgres.sh) instead of SQLite. */
const POSTGRES = flag('--postgres');
const BATCH = 1000;
/** Frames a simulated volunteer takes and sends in one WebSocket message (--no-batch: one). */
const BATCH_FRAMES = flag('--no-batch') ? 0 : 64;
/** Alternating Flock/BullMQ rounds; medians are reported when more than one. */
const ROUNDS = Number(option('--rounds', '1'));
const ROOT = resolve(import.meta.dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

interface Outcome {
  paced: Paced | undefined;
  /** Flock only: the same paced phase sent with fetch (the SDK's transport). */
  pacedFetch?: Paced;
  /** CPU seconds the server side used (coordinator process, or redis-server). */
  serverCpu: number;
  /**
   * Of it, the server's main thread (the coordinator's event loop; redis-server's): the rest is
   * V8's GC helpers, libuv's pool and, with FLOCK_SQLITE_THREAD=on, the SQLite thread.
   */
  serverMainCpu: number;
  /**
   * CPU seconds this process used meanwhile: the simulated volunteers and the submitter (Flock),
   * or BullMQ's workers and queue client. On a small machine it bounds the end-to-end ratio.
   */
  clientCpu: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function summarise(
  startedAt: number,
  finishedAt: number,
  submitted: Map<string, number>,
  began: Map<string, number>,
  serverCpu: { all: number; main: number },
  clientCpu: number,
): Outcome {
  const lat: number[] = [];
  for (const [id, t] of began) {
    const at = submitted.get(id);
    if (at !== undefined) lat.push(Math.max(0, t - at));
  }
  lat.sort((a, b) => a - b);
  const seconds = (finishedAt - startedAt) / 1000;
  return {
    paced: undefined,
    serverCpu: serverCpu.all,
    serverMainCpu: serverCpu.main,
    clientCpu,
    seconds,
    perSecond: TASKS / seconds,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
  };
}

async function benchFlock(): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-bench-'));
  const store = POSTGRES
    ? { FLOCK_STORE: await (await postgres()).createDatabase(), FLOCK_PG_SYNC_COMMIT: PG_SYNC_COMMIT }
    : {};
  const port = await freePort();
  // BENCH_PROF=<dir>: write a CPU profile of the coordinator there.
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  // BENCH_NODE_ARGS="--max-semi-space-size=32 ...": extra node flags for the coordinator.
  if (process.env.BENCH_NODE_ARGS) prof.push(...process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean));
  const server: ChildProcess = spawn(
    process.execPath,
    [...prof, '--import', 'tsx', 'apps/coordinator/src/main.ts'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        FLOCK_PORT: String(port),
        FLOCK_DATA: dir,
        FLOCK_API_KEYS: `${KEY}:bench`,
        // The op the simulated volunteers run (no page ships it).
        FLOCK_EXTRA_OPS: 'sum',
        FLOCK_LOG_LEVEL: 'warn',
        FLOCK_SQLITE_SYNC: SYNC,
        ...store,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true,
      'coordinator start',
    );
    const submitted = new Map<string, number>();
    const began = new Map<string, number>();
    let acked = 0;
    /** WebSocket messages the volunteers received (an ack and an assignment a task, unbatched). */
    let messagesIn = 0;
    const sims: SimulatedVolunteer[] = [];
    for (let v = 0; v < VOLUNTEERS; v++) {
      const sim = await SimulatedVolunteer.connect({
        url,
        capability: { cpu_slots: SLOTS, batch_frames: BATCH_FRAMES },
        run: ({ assignment }) => {
          began.set(assignment.task_id!, performance.now());
          let sum = 0;
          for (const b of assignment.envelope?.inputs?.[0]?.inline_bytes ?? []) sum += b;
          return { outputs: [{ name: 'sum', inline_json: String(sum) }] };
        },
      });
      sim.on('ack', (ack: { accepted: boolean }) => {
        if (ack.accepted) acked += 1;
      });
      sim.on('frame-bytes', () => {
        messagesIn += 1;
      });
      sims.push(sim);
    }
    const startedAt = Date.now();
    const cpuAtStart = cpuSeconds(server.pid);
    const mainAtStart = mainThreadSeconds(server.pid);
    const threadsAtStart = threadSeconds(server.pid);
    const clientAtStart = process.cpuUsage();
    for (let start = 0; start < TASKS; start += BATCH) {
      const tasks = [];
      const now = performance.now();
      for (let i = start; i < Math.min(TASKS, start + BATCH); i++) {
        const id = `b-${i}`;
        submitted.set(id, now);
        tasks.push({
          task_id: id,
          op: 'sum',
          module: { kind: 'builtin' },
          requirements: { min: { wasm: true } },
          inputs: [{ name: 'x', inline_bytes: Buffer.from(input(i)).toString('base64') }],
        });
      }
      const res = await fetch(`${url}/v1/campaigns`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ campaign_id: `bench-${start}`, tasks }),
      });
      if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
      if (process.env.BENCH_DEBUG)
        console.log(`batch ${start}: ${(performance.now() - now).toFixed(0)} ms, acked ${acked}`);
    }
    await waitFor(() => acked >= TASKS, 'all results acknowledged', 600_000);
    console.log(`  volunteers received ${(messagesIn / TASKS).toFixed(2)} WebSocket messages a task`);
    const finishedAt = Date.now();
    const cpuAtEnd = cpuSeconds(server.pid);
    const mainAtEnd = mainThreadSeconds(server.pid);
    const clientCpu = clientSeconds(clientAtStart);
    if (process.env.BENCH_THREADS) printThreads(server.pid, threadsAtStart, TASKS);
    // The lean client first (the headline figure), then fetch: each its own 500 tasks.
    const latency = await paced((i) => postTask(url, pacedTask('p', i)), began);
    const viaFetch = await paced(
      async (i) => {
        const res = await fetch(`${url}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: pacedTask('q', i),
        });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`paced submit failed: ${res.status}`);
      },
      began,
      'q',
    );
    await Promise.all(sims.map((s) => s.close()));
    return {
      ...summarise(
        startedAt,
        finishedAt,
        submitted,
        began,
        { all: cpuAtEnd - cpuAtStart, main: mainAtEnd - mainAtStart },
        clientCpu,
      ),
      paced: latency,
      pacedFetch: viaFetch,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchBullmq(): Promise<Outcome> {
  const { Queue, Worker } = await import('bullmq');
  const dir = mkdtempSync(join(tmpdir(), 'flock-bench-redis-'));
  const port = await freePort();
  // Durability comparable to SQLite WAL synchronous=NORMAL: the AOF is written on every
  // command (survives a process kill) and fsynced once a second (like WAL checkpoints).
  const server = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  try {
    const { default: IORedis } = await import('ioredis');
    await waitFor(async () => {
      const probe = new IORedis({ ...connection, lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined); // refused until redis-server listens
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 'redis start');
    const queue = new Queue('bench', { connection });
    const submitted = new Map<string, number>();
    const began = new Map<string, number>();
    let completed = 0;
    const workers = [];
    for (let v = 0; v < VOLUNTEERS; v++) {
      const worker = new Worker(
        'bench',
        async (job) => {
          began.set(job.id!, performance.now());
          let sum = 0;
          for (const b of job.data.input as number[]) sum += b;
          return sum;
        },
        { connection, concurrency: SLOTS },
      );
      worker.on('completed', () => {
        completed += 1;
      });
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const startedAt = Date.now();
    const cpuAtStart = cpuSeconds(server.pid);
    const mainAtStart = mainThreadSeconds(server.pid);
    const clientAtStart = process.cpuUsage();
    for (let start = 0; start < TASKS; start += BATCH) {
      const jobs = [];
      const now = performance.now();
      for (let i = start; i < Math.min(TASKS, start + BATCH); i++) {
        const id = `b-${i}`;
        submitted.set(id, now);
        jobs.push({ name: 'sum', data: { input: input(i) }, opts: { jobId: id, removeOnComplete: true } });
      }
      await queue.addBulk(jobs);
    }
    await waitFor(() => completed >= TASKS, 'all BullMQ jobs completed', 600_000);
    const finishedAt = Date.now();
    const cpuAtEnd = cpuSeconds(server.pid);
    const mainAtEnd = mainThreadSeconds(server.pid);
    const clientCpu = clientSeconds(clientAtStart);
    const latency = await paced(async (i) => {
      await queue.add('sum', { input: input(i) }, { jobId: `p-${i}`, removeOnComplete: true });
    }, began);
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
    return {
      ...summarise(
        startedAt,
        finishedAt,
        submitted,
        began,
        { all: cpuAtEnd - cpuAtStart, main: mainAtEnd - mainAtStart },
        clientCpu,
      ),
      paced: latency,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const perTask = (seconds: number): string => ((seconds * 1e6) / TASKS).toFixed(0);
const line = (name: string, o: Outcome): string =>
  `${name.padEnd(7)} ${o.perSecond.toFixed(0).padStart(7)} tasks/s  (${o.seconds.toFixed(1)} s)  ` +
  `backlog submit→start p50 ${o.p50.toFixed(0)} ms p99 ${o.p99.toFixed(0)} ms  server CPU ${perTask(o.serverCpu)} µs/task (main thread ${perTask(o.serverMainCpu)})  ` +
  `client CPU ${((o.clientCpu * 1e6) / TASKS).toFixed(0)} µs/task  ` +
  `paced (${PACED_RATE}/s) submit→start p50 ${ms(o.paced?.p50)} ms p99 ${ms(o.paced?.p99)} ms` +
  (o.pacedFetch ? ` (with fetch: p50 ${ms(o.pacedFetch.p50)} ms p99 ${ms(o.pacedFetch.p99)} ms)` : '');

// BullMQ's side runs on a local redis-server (Debian's), installed here when missing.
if (!flag('--skip-bullmq')) ensureDebianPackages(['redis-server']);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
const load = (): string => loadavg()[0]!.toFixed(1);
console.log(
  `coordinator bench: ${TASKS} tasks, ${VOLUNTEERS} volunteers × ${SLOTS} slots, ${BATCH_FRAMES ? 'batched frames' : 'one frame a message'}, ${POSTGRES ? `PostgreSQL (one coordinator, private server, synchronous_commit=${PG_SYNC_COMMIT})` : `SQLite synchronous=${SYNC}`}, ${ROUNDS} round(s)`,
);
console.log(`machine: ${machine}`);
// Rounds alternate the two systems so that a change in the machine's load hits both alike.
const flocks: Outcome[] = [];
const bulls: Outcome[] = [];
const floors: Paced[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const floor = await httpFloor();
  floors.push(floor);
  console.log(
    `floor   bare node:http server, POST → 201 read at ${PACED_RATE}/s: p50 ${ms(floor.p50)} ms p99 ${ms(floor.p99)} ms  (round ${round})`,
  );
  if (!flag('--skip-flock')) {
    const o = await benchFlock();
    flocks.push(o);
    console.log(`${line('flock', o)}  (round ${round}, load ${load()})`);
  }
  if (!flag('--skip-bullmq')) {
    const o = await benchBullmq();
    bulls.push(o);
    console.log(`${line('bullmq', o)}  (round ${round}, load ${load()})`);
  }
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
if (ROUNDS > 1) {
  console.log(
    `median floor: p50 ${ms(median(floors.map((f) => f.p50)))} ms p99 ${ms(median(floors.map((f) => f.p99)))} ms`,
  );
  for (const [name, os] of [
    ['flock', flocks],
    ['bullmq', bulls],
  ] as const) {
    if (os.length === 0) continue;
    console.log(
      `median ${name}: ${median(os.map((o) => o.perSecond)).toFixed(0)} tasks/s, ` +
        `${median(os.map((o) => (o.serverCpu * 1e6) / TASKS)).toFixed(0)} µs server CPU/task ` +
        `(main thread ${median(os.map((o) => (o.serverMainCpu * 1e6) / TASKS)).toFixed(0)}), ` +
        `${median(os.map((o) => (o.clientCpu * 1e6) / TASKS)).toFixed(0)} µs client CPU/task, ` +
        `paced p50 ${ms(median(os.map((o) => o.paced?.p50 ?? 0)))} ms p99 ${ms(median(os.map((o) => o.paced?.p99 ?? 0)))} ms` +
        (os[0]?.pacedFetch
          ? ` (with fetch: p50 ${ms(median(os.map((o) => o.pacedFetch?.p50 ?? 0)))} ms p99 ${ms(median(os.map((o) => o.pacedFetch?.p99 ?? 0)))} ms)`
          : ''),
    );
  }
}
if (flocks.length > 0 && bulls.length > 0) {
  const ratio = median(flocks.map((o) => o.perSecond)) / median(bulls.map((o) => o.perSecond));
  console.log(`ratio flock/bullmq throughput${ROUNDS > 1 ? ' (medians)' : ''}: ${ratio.toFixed(2)}`);
  if (ROUNDS > 1) {
    // Each round's pair ran back to back, under about the same load.
    const paired = flocks.map((f, k) => f.perSecond / bulls[k]!.perSecond);
    console.log(
      `ratio per round: ${paired.map((r) => r.toFixed(2)).join(', ')}; median ${median(paired).toFixed(2)}`,
    );
  }
}
if (pgHarness) await (await pgHarness).release();
process.exit(0);
