// Codec benchmark (issue #2, item 9): encode, full decode and the routing-fields-only read of a
// realistic ComputeEnvelope frame, against JSON.stringify / JSON.parse of its JSON view, in one
// run. Prints ops/s, ns/op and the Flock / JSON speed ratio of each pair.
//   npm run bench -w @flock/protocol     (BENCH_TIME_MS per task, default 2000; BENCH_ROUNDS, default 5)
import { cpus, loadavg } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { Bench } from 'tinybench';
import {
  type ComputeEnvelope,
  decodeFrame,
  encodeFrame,
  type Frame,
  type JsonObject,
  makeFrame,
  readRouting,
  toJson,
} from '../src/index.ts';

/** Total measuring time per task, split over ROUNDS rounds. */
const TIME_MS = Number(process.env['BENCH_TIME_MS'] ?? 2000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);

/** Deterministic filler so every run benchmarks the same bytes. */
function bytes(length: number, seed: number): Uint8Array {
  let x = seed;
  return Uint8Array.from({ length }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x >>> 24;
  });
}

/** A params object of about `size` bytes of JSON: a mix of numbers, strings and nesting. */
function params(size: number): JsonObject {
  const out: JsonObject = {
    window: 'hann',
    n: 4096,
    overlap: 0.5,
    normalize: true,
    bands: [20, 60, 250, 500, 2000, 4000, 6000, 20000],
    scale: { kind: 'mel', min_hz: 20, max_hz: 20000, bins: 128 },
  };
  for (let i = 0; JSON.stringify(out).length < size; i++)
    out[`coef_${i}`] = Math.round(Math.sin(i) * 1e6) / 1e6;
  return out;
}

const HASH = `sha256:${'3f'.repeat(32)}`;

export const ENVELOPE: ComputeEnvelope = {
  task_id: 'fft-2026-11-22-000123',
  op: 'fft',
  version: '1.4.2',
  module: {
    kind: 'wasm',
    uri: 'https://cdn.flock.example/modules/fft-simd.wasm',
    hash: HASH,
    entry: 'run_fft',
    abi: 'kernel',
    permissions: { memory_pages: 512, timeout_ms: 30_000, max_output_bytes: 1 << 20 },
  },
  requirements: {
    min: {
      webgpu: true,
      gpu: { backend: 'webgpu', features: ['shader-f16', 'timestamp-query'] },
      wasm_simd: true,
      cpu_cores: 2,
    },
    preferred: { memory_mb: 8192, cross_origin_isolated: true },
    qos: { priority: 5, deadline_ms: 60_000, retries: 3 },
  },
  inputs: [
    {
      name: 'signal',
      content_type: 'application/octet-stream',
      inline_bytes: bytes(384, 1),
      size: 384,
      tensor: { dtype: 'f32', shape: [96] },
    },
    {
      name: 'window_config',
      content_type: 'application/json',
      inline_json: JSON.stringify(params(300)),
    },
    {
      name: 'reference',
      content_type: 'application/octet-stream',
      uri: 's3://flock-inputs/campaign-7/reference-spectrum-000123.bin',
      hash: HASH,
      size: 262_144,
      tensor: { dtype: 'c64', shape: [32_768] },
    },
  ],
  params: params(1024),
  return_channel: 'analytics:ingest:v1:requested',
  security: { task_token: 'hmac:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0' },
  campaign_id: 'campaign-7',
  correlation_id: 'corr-5b0e3c8e',
};

export const FRAME: Frame = makeFrame(
  { envelope: ENVELOPE },
  {
    id: '5b0e3c8e-7f0a-4d8b-9a51-0c2d6f1e9b77',
    ts: '2026-11-22T15:04:05.678Z',
    trace: { correlation_id: 'corr-5b0e3c8e', span_id: 'span-2' },
    metadata: { campaign_id: 'campaign-7', tenant: 'acme', user_id: 'u-17' },
  },
);

const wire = encodeFrame(FRAME);
const view = toJson('Frame', FRAME);
const text = JSON.stringify(view);

// Check that each side does the whole job before timing it.
if (!isDeepStrictEqual(JSON.parse(text), view)) throw new Error('JSON baseline does not round-trip');
const decoded = decodeFrame(wire);
if (JSON.stringify(toJson('Frame', decoded)) !== text) throw new Error('decodeFrame does not round-trip');
const routing = readRouting(wire);
if (routing.task_id !== ENVELOPE.task_id || routing.payload !== 'envelope')
  throw new Error('readRouting is wrong');

let sink: unknown;
const TASKS: ReadonlyArray<readonly [string, () => void]> = [
  [
    'flock encodeFrame',
    () => {
      sink = encodeFrame(FRAME);
    },
  ],
  [
    'json JSON.stringify(view)',
    () => {
      sink = JSON.stringify(view);
    },
  ],
  [
    'flock decodeFrame',
    () => {
      sink = decodeFrame(wire);
    },
  ],
  [
    'json JSON.parse',
    () => {
      sink = JSON.parse(text);
    },
  ],
  [
    'flock readRouting',
    () => {
      sink = readRouting(wire);
    },
  ],
  [
    'json JSON.parse → routing',
    () => {
      const frame = JSON.parse(text) as {
        type: string;
        topic: string;
        payload: { envelope: { task_id: string } };
      };
      sink = [frame.type, frame.topic, frame.payload.envelope.task_id];
    },
  ],
];
const PAIRS = [
  ['encode', 'flock encodeFrame', 'json JSON.stringify(view)'],
  ['full decode', 'flock decodeFrame', 'json JSON.parse'],
  ['routing fields', 'flock readRouting', 'json JSON.parse → routing'],
] as const;

// Several short rounds, each running every task, so that load from other processes on a shared
// machine falls on both sides of a ratio alike; figures are medians over rounds.
const hzByTask = new Map<string, number[]>(TASKS.map(([name]) => [name, []]));
const rmeByTask = new Map<string, number[]>(TASKS.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const bench = new Bench({ time: TIME_MS / ROUNDS, warmupTime: round === 0 ? 300 : 50 });
  for (const [name, fn] of TASKS) bench.add(name, fn);
  await bench.warmup();
  await bench.run();
  for (const task of bench.tasks) {
    hzByTask.get(task.name)!.push(task.result!.hz);
    rmeByTask.get(task.name)!.push(task.result!.rme);
  }
}
if (sink === undefined) throw new Error('unreachable');

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const hz = (name: string): number => median(hzByTask.get(name)!);

console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.version}, ` +
    `tinybench, ${ROUNDS} rounds × ${Math.round(TIME_MS / ROUNDS)} ms a task, ` +
    `load average ${loadavg()[0]!.toFixed(1)} at the end`,
);
console.log(
  `sizes: Cap'n Proto frame ${wire.length} B, JSON view ${new TextEncoder().encode(text).length} B`,
);
console.log('');
console.log('task                          ops/s        ns/op  ±% (median rme)');
for (const [name] of TASKS) {
  console.log(
    `${name.padEnd(28)}${Math.round(hz(name)).toLocaleString('en-US').padStart(9)}` +
      `${Math.round(1e9 / hz(name))
        .toLocaleString('en-US')
        .padStart(13)}` +
      `${median(rmeByTask.get(name)!).toFixed(1).padStart(7)}`,
  );
}
console.log('');
console.log('ratio Flock ÷ JSON in ops/s (> 1: Flock faster), median over rounds [min … max]');
for (const [label, flock, json] of PAIRS) {
  const fh = hzByTask.get(flock)!;
  const jh = hzByTask.get(json)!;
  const ratios = fh.map((h, i) => h / jh[i]!);
  console.log(
    `${label.padEnd(16)}${median(ratios).toFixed(2).padStart(7)}×   ` +
      `[${Math.min(...ratios).toFixed(2)} … ${Math.max(...ratios).toFixed(2)}]`,
  );
}
