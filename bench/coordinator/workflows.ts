// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows (#18): the coordinator's per-step overhead. A chain of N no-op steps against the same
// N tasks submitted one after another by a client that waits for each (over /v1/events), and an
// N-wide for_each fan-out against the same N tasks submitted flat as one campaign. Prints the
// times and the ratios (workflow / flat; the target is ≤ 1.2×).
//
//   npx tsx bench/coordinator/workflows.ts
//   options: --steps N (1000) --volunteers N (4) --slots N (8)
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startCoordinator } from '../../apps/coordinator/src/index.ts';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const STEPS = option('--steps', 1000);
const VOLUNTEERS = option('--volunteers', 4);
const SLOTS = option('--slots', 8);
const KEY = 'bench-key-0123456789abcdef';
const TASK = { op: 'sum', module: { kind: 'builtin' }, requirements: { min: { wasm: true } } };

type Api = (path: string, body?: unknown, method?: string) => Promise<{ status: number; json: unknown }>;

async function withCoordinator<T>(run: (api: Api, url: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-wf-bench-'));
  const flock = await startCoordinator({
    port: 0,
    dataDir: dir,
    apiKeys: new Map([[KEY, 'bench']]),
    logLevel: 'silent',
    extraOps: ['sum'],
    spotChecks: false,
    tailAcceleration: false,
  });
  const sims: SimulatedVolunteer[] = [];
  try {
    for (let i = 0; i < VOLUNTEERS; i++) {
      sims.push(
        await SimulatedVolunteer.connect({
          url: flock.url,
          capability: { cpu_slots: SLOTS },
          // A no-op; `params.n` makes its output the list [0..n-1] (what the fan-out fans over).
          run: ({ assignment }) => {
            const n = assignment.envelope?.params?.n;
            const list = typeof n === 'number' ? Array.from({ length: n }, (_, i) => i) : [1];
            return { outputs: [{ name: 'out', inline_json: JSON.stringify(list) }] };
          },
        }),
      );
    }
    const api: Api = async (path, body, method) => {
      const res = await fetch(`${flock.url}${path}`, {
        method: method ?? (body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: await res.json() };
    };
    return await run(api, flock.url);
  } finally {
    for (const s of sims) s.close();
    await flock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitWorkflow(api: Api, id: string): Promise<void> {
  for (;;) {
    const { json } = await api(`/v1/workflows?state=running&limit=1`);
    if ((json as { workflows: unknown[] }).workflows.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const { json } = await api(`/v1/workflows/${id}`);
  if ((json as { state: string }).state !== 'succeeded')
    throw new Error(`workflow ${id} ${JSON.stringify(json)}`);
}

/** A chain of STEPS steps as a workflow. */
const chainWorkflow = (): Promise<number> =>
  withCoordinator(async (api) => {
    const steps = Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, ...TASK, params: { i } }));
    const start = performance.now();
    await api('/v1/workflows', { workflow_id: 'chain', steps });
    await waitWorkflow(api, 'chain');
    return performance.now() - start;
  });

/** The same chain run by a client: submit, wait for its success event, submit the next. */
const chainClient = (): Promise<number> =>
  withCoordinator(async (api, url) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/events?key=${KEY}&campaign_id=flat`);
    const done = new Map<string, () => void>();
    ws.on('message', (data) => {
      const { payload } = JSON.parse(String(data)) as { payload: { state: string; task_id: string } };
      if (payload.state === 'succeeded') done.get(payload.task_id)?.();
    });
    await new Promise((r) => ws.once('open', r));
    const start = performance.now();
    for (let i = 0; i < STEPS; i++) {
      const id = `flat.s${i}`;
      const finished = new Promise<void>((resolve) => done.set(id, resolve));
      await api('/v1/tasks', { task_id: id, campaign_id: 'flat', ...TASK, params: { i } });
      await finished;
    }
    const elapsed = performance.now() - start;
    ws.close();
    return elapsed;
  });

/** A STEPS-wide for_each fan-out (after one step that lists the items). */
const fanOutWorkflow = (): Promise<number> =>
  withCoordinator(async (api) => {
    const start = performance.now();
    await api('/v1/workflows', {
      workflow_id: 'fan',
      steps: [
        { id: 'list', ...TASK, params: { n: STEPS } },
        { id: 'each', ...TASK, for_each: '${steps.list.outputs.out}', params: { i: '${item}' } },
      ],
    });
    await waitWorkflow(api, 'fan');
    return performance.now() - start;
  });

/** The same STEPS tasks as one campaign (after one task, as the fan-out waits for one). */
const fanOutFlat = (): Promise<number> =>
  withCoordinator(async (api) => {
    const start = performance.now();
    await api('/v1/campaigns', { campaign_id: 'first', tasks: [{ task_id: 'first', ...TASK }] });
    while (((await api('/v1/tasks/first')).json as { state: string }).state !== 'succeeded')
      await new Promise((r) => setTimeout(r, 5));
    const tasks = Array.from({ length: STEPS }, (_, i) => ({ task_id: `flat.${i}`, ...TASK, params: { i } }));
    await api('/v1/campaigns', { campaign_id: 'flat', tasks });
    for (;;) {
      const { json } = await api('/v1/campaigns/flat');
      if ((json as { counts: { succeeded: number } }).counts.succeeded === STEPS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return performance.now() - start;
  });

const fmt = (ms: number) => `${Math.round(ms)} ms`;
console.log(
  `workflows bench: ${STEPS} steps, ${VOLUNTEERS} volunteers × ${SLOTS} slots, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`,
);
const chainFlat = await chainClient();
const chain = await chainWorkflow();
console.log(
  `chain:   client-driven ${fmt(chainFlat)}, workflow ${fmt(chain)}, ratio ${(chain / chainFlat).toFixed(2)}× (per step ${(chain / STEPS).toFixed(2)} vs ${(chainFlat / STEPS).toFixed(2)} ms)`,
);
const fanFlat = await fanOutFlat();
const fan = await fanOutWorkflow();
console.log(`fan-out: campaign ${fmt(fanFlat)}, workflow ${fmt(fan)}, ratio ${(fan / fanFlat).toFixed(2)}×`);
