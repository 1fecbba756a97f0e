// What the PostgreSQL store costs per task, phase by phase, as the engine calls it: insert
// (campaigns of 1,000), lease (passes of B) and complete (group commits of B), on the private
// server of scripts/postgres.sh (or FLOCK_TEST_PG_URL). For each phase: this process's CPU µs a
// task, wall µs a task, and the PostgreSQL server's CPU µs a task (every `postgres` process's
// utime + stime from /proc, so other users of the server count too: keep the box quiet).
//
//   npx tsx bench/coordinator/pg-store-costs.ts [--tasks N] [--workers W] [--batch B] [--rounds R]
//
// Defaults: 10,000 tasks, 200 workers (as the full bench), batches of 50, 3 rounds (medians,
// each round on a fresh schema). With a young generation large enough that no scavenge runs in
// a phase, it also prints the bytes each phase allocates a task (the young generation's growth):
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/pg-store-costs.ts --rounds 3 --tasks 5000
import { PostgresStore } from '../../apps/coordinator/src/store/postgres-store.ts';
import { acquirePostgres } from '../../apps/coordinator/test/support/postgres.ts';
import { namedProcessesSeconds } from './proc-cpu.ts';
import {
  BENCH_ENVELOPE as envelope,
  registerWorkers,
  BENCH_RESULT as result,
  storeWork,
  youngBytes,
} from './store-work.ts';

const arg = (name: string, fallback: number): number => {
  const k = process.argv.indexOf(name);
  return k >= 0 ? Number(process.argv[k + 1]) : fallback;
};
const N = arg('--tasks', 10_000);
const WORKERS = arg('--workers', 200);
const BATCH = arg('--batch', 50);
const ROUNDS = arg('--rounds', 3);
const gc = (globalThis as { gc?: () => void }).gc;

interface Phase {
  cpu: number;
  /** Of `cpu`, the kernel's (system time: socket writes and reads). */
  sys: number;
  wall: number;
  /** The server's CPU µs a task. */
  server: number;
  /** Bytes allocated a task (young generation's growth), with `gc` only. */
  bytes: number;
}

/** CPU µs of every process named `postgres` (the server and its backends). */
const serverCpuUs = (): number => namedProcessesSeconds('postgres') * 1e6;

async function measure(url: string): Promise<Record<'insert' | 'lease' | 'complete', Phase>> {
  const store = new PostgresStore(url);
  await store.migrate();
  await registerWorkers(store, WORKERS);
  const work = storeWork(store, { tasks: N, batch: BATCH, workers: WORKERS, envelope, result });
  const phase = async (run: () => Promise<void>): Promise<Phase> => {
    gc?.();
    const heap = youngBytes();
    const server = serverCpuUs();
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await run();
    const used = process.cpuUsage(cpu);
    return {
      cpu: (used.user + used.system) / N,
      sys: used.system / N,
      wall: ((performance.now() - wall) * 1000) / N,
      server: (serverCpuUs() - server) / N,
      bytes: gc ? (youngBytes() - heap) / N : 0,
    };
  };
  const insert = await phase(work.insert);
  const lease = await phase(work.lease);
  const complete = await phase(work.complete);
  await store.close();
  return { insert, lease, complete };
}

const PHASES = ['insert', 'lease', 'complete'] as const;
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;

const pg = await acquirePostgres();
try {
  const rounds: Array<Record<(typeof PHASES)[number], Phase>> = [];
  for (let k = 0; k < ROUNDS; k++) rounds.push(await measure(await pg.createSchema()));
  console.log(`pg store costs: ${N} tasks, ${WORKERS} workers, batches of ${BATCH}, medians of ${ROUNDS}`);
  for (const name of PHASES) {
    const of = (f: (p: Phase) => number) => median(rounds.map((round) => f(round[name]))).toFixed(1);
    console.log(
      `${name.padEnd(9)} CPU ${of((p) => p.cpu)} µs a task (sys ${of((p) => p.sys)}), wall ${of((p) => p.wall)}, server CPU ${of((p) => p.server)}` +
        (gc ? `, ${of((p) => p.bytes)} B a task` : ''),
    );
  }
} finally {
  await pg.release();
}
