// What the SQLite store costs per task, phase by phase, with synchronous=NORMAL (the default)
// as the baseline and FULL in the same run: CPU µs and wall µs per task for insert (campaigns of
// 1,000), lease (passes of 50) and complete (group commits of 50), and the FULL/NORMAL ratio.
//
//   npx tsx bench/coordinator/store-costs.ts [--tasks N] [--workers W]
//
// `--workers W` spreads the leases over W workers in turn (default 1; the full bench has 200),
// `--batch B` sets the lease passes' and group commits' size (default 50).
//
// `--rounds R` measures NORMAL alone R times and prints each phase's median CPU µs a task and
// the share of it spent in COMMIT. With a young generation large enough that no scavenge runs
// in a phase, it prints the bytes each phase allocates a task instead (the young generation's
// growth; the CPU figure is then meaningless, every allocation touching fresh memory):
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/store-costs.ts --rounds 5 --tasks 5000
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqliteSync } from '../../apps/coordinator/src/config.ts';
import { SqliteStore } from '../../apps/coordinator/src/store/sqlite-store.ts';
import {
  BENCH_ENVELOPE as envelope,
  registerWorkers,
  BENCH_RESULT as result,
  storeWork,
  youngBytes,
} from './store-work.ts';

const i = process.argv.indexOf('--tasks');
const N = i >= 0 ? Number(process.argv[i + 1]) : 20_000;
const w = process.argv.indexOf('--workers');
const WORKERS = w >= 0 ? Number(process.argv[w + 1]) : 1;
const bi = process.argv.indexOf('--batch');
const BATCH = bi >= 0 ? Number(process.argv[bi + 1]) : 50;
const r = process.argv.indexOf('--rounds');
const ROUNDS = r >= 0 ? Number(process.argv[r + 1]) : 0;
/** Counting bytes: run with a young generation of 512 MiB and `--expose-gc` (see above). */
const gc = (globalThis as { gc?: () => void }).gc;

interface Phase {
  cpu: number;
  wall: number;
  /** CPU µs a task spent in COMMIT. */
  commit: number;
  /** Bytes allocated a task (young generation's growth), with `gc` only. */
  bytes: number;
}

async function measure(sync: SqliteSync): Promise<Record<'insert' | 'lease' | 'complete', Phase>> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-store-bench-'));
  const store = new SqliteStore(dir, { sync });
  await registerWorkers(store, WORKERS);
  const work = storeWork(store, { tasks: N, batch: BATCH, workers: WORKERS, envelope, result });
  // COMMIT's own CPU, timed around the group commit's method.
  const group = (store as unknown as { group: { commit(): void } }).group;
  const commitOnce = group.commit.bind(group);
  let commitCpu = 0;
  group.commit = () => {
    const t = process.cpuUsage();
    commitOnce();
    const used = process.cpuUsage(t);
    commitCpu += used.user + used.system;
  };
  const phase = async (run: () => Promise<void>): Promise<Phase> => {
    gc?.();
    commitCpu = 0;
    const heap = youngBytes();
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await run();
    const used = process.cpuUsage(cpu);
    return {
      cpu: (used.user + used.system) / N,
      wall: ((performance.now() - wall) * 1000) / N,
      commit: commitCpu / N,
      bytes: gc ? (youngBytes() - heap) / N : 0,
    };
  };
  const insert = await phase(work.insert);
  const lease = await phase(work.lease);
  const complete = await phase(work.complete);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { insert, lease, complete };
}

const PHASES = ['insert', 'lease', 'complete'] as const;
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;

if (ROUNDS > 0) {
  const rounds: Array<Record<(typeof PHASES)[number], Phase>> = [];
  for (let k = 0; k < ROUNDS; k++) rounds.push(await measure('NORMAL'));
  console.log(`store costs: ${N} tasks, NORMAL, medians of ${ROUNDS} rounds`);
  for (const name of PHASES) {
    const of = (f: (p: Phase) => number) => median(rounds.map((round) => f(round[name])));
    console.log(
      gc
        ? `${name.padEnd(9)} ${of((p) => p.bytes).toFixed(0)} B a task`
        : `${name.padEnd(9)} ${of((p) => p.cpu).toFixed(2)} µs a task CPU, COMMIT ${of((p) => p.commit).toFixed(2)}`,
    );
  }
  process.exit(0);
}

console.log(`store costs: ${N} tasks, µs per task (CPU / wall)`);
const normal = await measure('NORMAL');
const full = await measure('FULL');
for (const name of PHASES) {
  const n = normal[name];
  const f = full[name];
  console.log(
    `${name.padEnd(9)} NORMAL ${n.cpu.toFixed(1)} / ${n.wall.toFixed(1)}   FULL ${f.cpu.toFixed(1)} / ${f.wall.toFixed(1)}   ` +
      `FULL/NORMAL wall ${(f.wall / n.wall).toFixed(2)}`,
  );
}
