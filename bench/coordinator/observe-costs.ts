// What a task's metrics cost, in one process: the three histogram observations the coordinator
// makes for every task (flock_assignment_latency_seconds and flock_task_queue_wait_seconds at its
// dispatch, flock_task_run_seconds at its result), made with prom-client's Histogram (`prom`, as
// before) and with the coordinator's BucketHistogram (`bucket`), rounds interleaved. Both expose
// the same text (test/bucket-histogram.test.ts); each round checks that they did here too.
// Prints CPU µs (medians) and heap bytes per task:
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//     bench/coordinator/observe-costs.ts [--tasks 50000] [--rounds 7] [--ops 4]
//
// Bytes are heapUsed after minus before a round, with a young generation large enough that no
// scavenge runs in it (check with --trace-gc). The whole loop with events: dispatch-costs.ts.
import { Histogram, Registry } from 'prom-client';
import { BucketHistogram } from '../../apps/coordinator/src/bucket-histogram.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const TASKS = Number(arg('--tasks', '50000'));
const ROUNDS = Number(arg('--rounds', '7'));
const OPS = Number(arg('--ops', '4'));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.log('(run with the node flags in the header for bytes: no gc() here)');

const LATENCY = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const SECONDS = [...LATENCY, 300];

interface Observer {
  observe(seconds: number): void;
}
/** What one kind of histogram takes per task: the unlabelled one and two series of the task's op. */
interface Metrics {
  registry: Registry;
  latency: Observer;
  queueWait: Observer[];
  runTime: Observer[];
}

function promMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const latency = new Histogram({ name: 'a_seconds', help: 'a', buckets: LATENCY, registers });
  const q = new Histogram({ name: 'q_seconds', help: 'q', labelNames: ['op'], buckets: SECONDS, registers });
  const r = new Histogram({ name: 'r_seconds', help: 'r', labelNames: ['op'], buckets: SECONDS, registers });
  const ops = Array.from({ length: OPS }, (_, k) => `op${k}`);
  return {
    registry,
    latency,
    // Children looked up once, as engine/service-levels.ts did.
    queueWait: ops.map((op) => q.labels({ op })),
    runTime: ops.map((op) => r.labels({ op })),
  };
}

function bucketMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const latency = new BucketHistogram({ name: 'a_seconds', help: 'a', buckets: LATENCY, registers });
  const q = new BucketHistogram({
    name: 'q_seconds',
    help: 'q',
    labelName: 'op',
    buckets: SECONDS,
    registers,
  });
  const r = new BucketHistogram({
    name: 'r_seconds',
    help: 'r',
    labelName: 'op',
    buckets: SECONDS,
    registers,
  });
  const ops = Array.from({ length: OPS }, (_, k) => `op${k}`);
  return {
    registry,
    latency,
    queueWait: ops.map((op) => q.labels(op)),
    runTime: ops.map((op) => r.labels(op)),
  };
}

/** Latencies as the bench sees them: mostly a few ms, some in the tens and hundreds. */
const waits = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 4096) / 4096 ** (1 + (i % 3)));

function round(m: Metrics): { us: number; bytes: number } {
  gc?.();
  const heap = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  for (let i = 0; i < TASKS; i++) {
    const w = waits[i & 4095]!;
    const k = i % OPS;
    m.latency.observe(w);
    m.queueWait[k]!.observe(w);
    m.runTime[k]!.observe(w * 3);
  }
  const used = process.cpuUsage(cpu);
  const bytes = process.memoryUsage().heapUsed - heap;
  return { us: (used.user + used.system) / TASKS, bytes: bytes / TASKS };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const results = {
    prom: [] as { us: number; bytes: number }[],
    bucket: [] as { us: number; bytes: number }[],
  };
  for (let r = 0; r < ROUNDS; r++) {
    const [prom, bucket] = [promMetrics(), bucketMetrics()];
    // Alternate which goes first: the second of a pair runs on a warmer, fuller heap.
    if (r % 2 === 0) {
      results.prom.push(round(prom));
      results.bucket.push(round(bucket));
    } else {
      results.bucket.push(round(bucket));
      results.prom.push(round(prom));
    }
    const [a, b] = [await prom.registry.metrics(), await bucket.registry.metrics()];
    if (a !== b) throw new Error('the two kinds of histogram exposed different text');
  }
  for (const [name, rs] of Object.entries(results)) {
    const us = rs.map((x) => x.us);
    const bytes = rs.map((x) => x.bytes);
    console.log(
      `${name.padEnd(6)} ${median(us).toFixed(3)} µs a task (${Math.min(...us).toFixed(3)}–${Math.max(...us).toFixed(3)}), ` +
        `${median(bytes).toFixed(0)} B a task (${Math.min(...bytes).toFixed(0)}–${Math.max(...bytes).toFixed(0)})`,
    );
  }
}

await main();
