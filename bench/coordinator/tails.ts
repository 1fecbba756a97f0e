// Batch tails (#17): one campaign on fast simulated volunteers plus one slow one, with tail
// acceleration off and then on, in the same run. Prints the time from 95 % to 100 % of the
// campaign (the tail a straggler makes), the whole campaign's time, and the ratios.
//
//   npm run bench:tails -w @flock/coordinator
//   options: --tasks N (400) --fast N (7) --fast-ms N (20) --slow-ms N (10000) --rounds N (3)
//            --replicas N (0: unverified; N: every task verified by N replicas, a quorum of all N,
//            so a straggling replica gets a speculative one)
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '../../apps/coordinator/src/index.ts';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const TASKS = option('--tasks', 400);
const FAST = option('--fast', 7);
const FAST_MS = option('--fast-ms', 20);
const SLOW_MS = option('--slow-ms', 10_000);
const ROUNDS = option('--rounds', 3);
const REPLICAS = option('--replicas', 0);
const KEY = 'bench-key-0123456789abcdef';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    });
  });

/** One campaign; returns [ms from 95 % to 100 %, ms for the whole campaign]. */
async function campaign(tails: boolean, round: number): Promise<[number, number]> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-tails-'));
  const flock = await startCoordinator({
    port: 0,
    dataDir: dir,
    apiKeys: new Map([[KEY, 'bench']]),
    logLevel: 'silent',
    tailAcceleration: tails,
    extraOps: ['sum'],
    spotChecks: false,
  });
  const sims: SimulatedVolunteer[] = [];
  try {
    const runner = (ms: number) => async (job: { signal: AbortSignal }) => {
      await sleep(ms, job.signal);
      return { outputs: [] };
    };
    for (let i = 0; i < FAST; i++) {
      sims.push(
        await SimulatedVolunteer.connect({
          url: flock.url,
          capability: { wasm: true, cpu_slots: 1 },
          run: runner(FAST_MS),
        }),
      );
    }
    sims.push(
      await SimulatedVolunteer.connect({
        url: flock.url,
        capability: { wasm: true, cpu_slots: 1 },
        run: runner(SLOW_MS),
      }),
    );
    const id = `tails-${tails ? 'on' : 'off'}-${round}`;
    const started = performance.now();
    const response = await fetch(`${flock.url}/v1/campaigns`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        campaign_id: id,
        tasks: Array.from({ length: TASKS }, (_, i) => ({
          task_id: `${id}-${i}`,
          op: 'sum',
          module: { kind: 'builtin' },
          requirements: { min: { wasm: true } },
          ...(REPLICAS > 0 ? { verification: { replicas: REPLICAS, quorum: REPLICAS } } : {}),
        })),
      }),
    });
    if (response.status !== 201) throw new Error(`campaign: ${response.status} ${await response.text()}`);
    let at95 = 0;
    for (;;) {
      const view = (await (
        await fetch(`${flock.url}/v1/campaigns/${id}`, { headers: { Authorization: `Bearer ${KEY}` } })
      ).json()) as {
        counts: { succeeded: number };
      };
      const done = view.counts.succeeded;
      if (!at95 && done >= 0.95 * TASKS) at95 = performance.now();
      if (done === TASKS) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const end = performance.now();
    return [end - at95, end - started];
  } finally {
    await Promise.all(sims.map((s) => s.close()));
    await flock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `tails bench: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load ${loadavg()[0]!.toFixed(1)}`,
);
console.log(
  `campaign of ${TASKS} tasks${REPLICAS > 0 ? `, ${REPLICAS} of ${REPLICAS} replicas each` : ''}; ${FAST} volunteers at ${FAST_MS} ms a task, 1 at ${SLOW_MS} ms; ${ROUNDS} rounds`,
);
const results: Record<'off' | 'on', Array<[number, number]>> = { off: [], on: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of ['off', 'on'] as const) {
    const r = await campaign(mode === 'on', round);
    results[mode].push(r);
    console.log(
      `  round ${round + 1}, tails ${mode}: 95 %→100 % ${r[0].toFixed(0)} ms, whole ${r[1].toFixed(0)} ms`,
    );
  }
}
const off95 = median(results.off.map((r) => r[0]));
const on95 = median(results.on.map((r) => r[0]));
const offAll = median(results.off.map((r) => r[1]));
const onAll = median(results.on.map((r) => r[1]));
console.log(
  `95 %→100 %, medians: off ${off95.toFixed(0)} ms, on ${on95.toFixed(0)} ms: ${(off95 / on95).toFixed(1)}× shorter`,
);
console.log(
  `whole campaign, medians: off ${offAll.toFixed(0)} ms, on ${onAll.toFixed(0)} ms: ${(offAll / onAll).toFixed(2)}×`,
);
