// What a queued task costs a coordinator in memory, and what a restart's recovery takes: a
// coordinator in this process is sent N campaigns of 1,000 of the bench's tasks (run.ts's
// envelope: op sum, one 16-byte input) with no volunteer, so every task stays queued; then a second
// process starts a coordinator on the same data directory and recovers them.
//
//   npx tsx bench/coordinator/queued-memory.ts [--campaigns N] [--heap-mb M] [--submit-heap-mb S]
//                                              [--params-kb K]
//       N campaigns (default 50: 50,000 tasks); M: the recovering process's --max-old-space-size;
//       S: the submitting process's (past its budget, 40 % of it, tasks wait in the store);
//       K: each task also carries about K KiB of JSON params (rows of small objects), to check
//       the estimate for tasks whose params are held parsed
//
// Prints, per task: the heap the queued tasks hold (after a full GC), the coordinator's own
// estimate (`flock_open_task_bytes`, FLOCK_MAX_OPEN_BYTES's measure), and for the recovery the
// heap at its peak (sampled every 5 ms) and once recovered, and its time; per task held in
// memory, and how many wait in the store past the budget.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '../../apps/coordinator/src/start-coordinator.ts';
import { pacedTask } from './paced.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const CAMPAIGNS = arg('--campaigns', 50);
const TASKS = CAMPAIGNS * 1000;
const KEY = 'queued-memory-bench-key';
const HEAP_MB = arg('--heap-mb', 0);
const SUBMIT_HEAP_MB = arg('--submit-heap-mb', 0);
const PARAMS_KB = arg('--params-kb', 0);
const PHASE = process.argv.includes('--recover')
  ? 'recover'
  : process.argv.includes('--submit')
    ? 'submit'
    : 'main';

/** Rows of small objects, about `kb` KiB of JSON (a typical table-shaped params). */
function paramsOf(i: number, kb: number): object {
  const row = (r: number) => ({ id: i * 1000 + r, name: `row-${r}`, score: r / 7, tags: ['a', 'b'] });
  const rows = Array.from({ length: Math.round((kb * 1024) / JSON.stringify(row(0)).length) }, (_, r) =>
    row(r),
  );
  return { rows };
}

/** The envelope bench/coordinator/run.ts sends for task `i` (its paced tasks' form). */
const envelope = (i: number): object => {
  const task = JSON.parse(pacedTask('b', i));
  return PARAMS_KB > 0 ? { ...task, params: paramsOf(i, PARAMS_KB) } : task;
};

function post(port: number, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/v1/campaigns',
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (the main phase does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const start = (dataDir: string) =>
  startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'bench']]),
    extraOps: ['sum'],
    logLevel: 'warn',
  });

const per = (bytes: number, tasks: number): string => `${(bytes / tasks).toFixed(0)} B`;
const perTask = (bytes: number): string => per(bytes, TASKS);

/**
 * Waits while the coordinator loads the queued tasks a restart left in the store (past its first
 * page, while it serves), until none is left or a second passes with none loaded (the budget is
 * full); says how long that took from the start.
 */
async function loadedInBackground(coordinator: { leftInStore(): number }, t0: number): Promise<string> {
  let last = coordinator.leftInStore();
  let lastChange = performance.now();
  while (coordinator.leftInStore() > 0 && performance.now() - lastChange < 1000) {
    await new Promise((r) => setTimeout(r, 10));
    if (coordinator.leftInStore() !== last) {
      last = coordinator.leftInStore();
      lastChange = performance.now();
    }
  }
  const left = coordinator.leftInStore();
  const at = (lastChange - t0).toFixed(0);
  return left === 0
    ? `all loaded ${at} ms after the start`
    : `${left} still in the store past the budget (${at} ms)`;
}

if (PHASE === 'submit') {
  const dir = process.argv[process.argv.indexOf('--submit') + 1]!;
  const running = await start(dir);
  const base = collect();
  let stored = 0;
  for (let c = 0; c < CAMPAIGNS; c++) {
    const tasks = Array.from({ length: 1000 }, (_, i) => envelope(c * 1000 + i));
    stored += tasks.reduce((n: number, t) => n + JSON.stringify(t).length, 0);
    const status = await post(running.port, Buffer.from(JSON.stringify({ campaign_id: `c${c}`, tasks })));
    if (status !== 201) throw new Error(`campaign ${c}: ${status}`);
  }
  const held = collect() - base;
  const left = running.coordinator.leftInStore();
  const inMemory = TASKS - left;
  console.log(
    `queued:     heap ${per(held, inMemory)} a task, estimate ${per(running.coordinator.openBytes(), inMemory)} a task ` +
      `(envelope JSON ${perTask(stored)}); ${inMemory} in memory, ${left} in the store`,
  );
  await running.close();
} else if (PHASE === 'recover') {
  const dir = process.argv[process.argv.indexOf('--recover') + 1]!;
  const base = collect();
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const t0 = performance.now();
  const running = await start(dir);
  const ms = performance.now() - t0;
  const leftAtStart = running.coordinator.leftInStore();
  const loaded = await loadedInBackground(running.coordinator, t0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  const held = collect() - base;
  const inMemory = TASKS - running.coordinator.leftInStore();
  console.log(
    `recovered:  listening after ${ms.toFixed(0)} ms (${((ms * 1000) / TASKS).toFixed(1)} µs a task) with ` +
      `${leftAtStart} left in the store; ${loaded}; heap ${per(held, inMemory)} a task, ` +
      `peak ${per(peak - base, inMemory)} a task, queue ${running.coordinator.queueDepth()}, ` +
      `left in the store ${running.coordinator.leftInStore()}`,
  );
  await running.close();
} else {
  const dir = mkdtempSync(join(tmpdir(), 'flock-queued-memory-'));
  const heap =
    (SUBMIT_HEAP_MB > 0 ? `, submitting with --max-old-space-size=${SUBMIT_HEAP_MB}` : '') +
    (HEAP_MB > 0 ? `, recovering with --max-old-space-size=${HEAP_MB}` : '');
  console.log(
    `queued-memory: ${TASKS} queued tasks (${CAMPAIGNS} campaigns of 1,000${heap}), node ${process.version}`,
  );
  try {
    for (const phase of ['--submit', '--recover']) {
      const out = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          ...(HEAP_MB > 0 && phase === '--recover' ? [`--max-old-space-size=${HEAP_MB}`] : []),
          ...(SUBMIT_HEAP_MB > 0 && phase === '--submit' ? [`--max-old-space-size=${SUBMIT_HEAP_MB}`] : []),
          '--import',
          'tsx',
          import.meta.filename,
          phase,
          dir,
          '--campaigns',
          String(CAMPAIGNS),
          '--params-kb',
          String(PARAMS_KB),
        ],
        { stdio: 'inherit' },
      );
      if (out.status !== 0) throw new Error(`${phase} exited ${out.status}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
