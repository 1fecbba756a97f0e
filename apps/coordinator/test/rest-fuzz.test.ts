// A seeded fuzz of the REST API (#21): a few thousand mutated envelopes against a real
// coordinator with two volunteers. Every answer is 2xx, or 4xx with a JSON error code; every
// accepted task is then delivered to a volunteer (which decodes its assignment frame) and
// succeeds, or fails with a code, or waits with a reason no volunteer could meet.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { type Json, startTest, type TestCoordinator, until } from './helpers.ts';

const RUNS = Number(process.env.FLOCK_FUZZ_RUNS ?? 2500);

let c: TestCoordinator;
const sims: SimulatedVolunteer[] = [];
beforeAll(async () => {
  // No spot checks: the volunteers answer everything with one fixed output, which is the point.
  c = await startTest({ spotChecks: false, maxFrameBytes: 128 << 10, leaseMs: 2000, heartbeatMs: 500 });
  for (let i = 0; i < 2; i++) {
    sims.push(
      await SimulatedVolunteer.connect({
        url: c.url,
        capability: {
          webgpu: true,
          gpu: { backend: 'webgpu', vendor: 'fuzz', architecture: 'fuzz' },
          gpu_slots: 1,
          cpu_slots: 16,
          cpu_cores: 64,
          memory_mb: 65536,
          wasm_threads: true,
        },
        run: () => ({ outputs: [{ name: 'out', inline_json: '1' }], executor: 'fuzz' }),
      }),
    );
  }
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await c.stop();
});

const SEEDS: Json[] = [
  {
    task_id: 'seed',
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
  },
  {
    task_id: 'seed',
    op: 'saxpy',
    module: { kind: 'builtin', permissions: { timeout_ms: 1000 } },
    requirements: { min: { webgpu: true }, preferred: { wasm_simd: true }, qos: { priority: 2, retries: 1 } },
    inputs: [
      { name: 'x', inline_bytes: 'AACAPwAAAEA=', content_type: 'application/octet-stream' },
      { name: 'y', inline_json: '[1,2]' },
    ],
    params: { a: 2, n: 2, nested: { list: [1, 'two', null, true] } },
    return_channel: 'results',
  },
  {
    task_id: 'seed',
    op: 'main',
    module: { kind: 'wasm', abi: 'wasi', inline: 'AGFzbQEAAAA=', entry: '_start' },
    requirements: { min: { wasm: true, cross_origin_isolated: true } },
    inputs: [{ name: 'stdin', inline_json: '"hello"' }],
    verification: { replicas: 2, quorum: 2 },
  },
];

/** Values a mutation may put anywhere: wrong types, extremes, hostile text and keys. */
const hostile: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1e308,
    2 ** 53 + 2,
    '',
    '\ud800',
    'a\udfffb',
    '__proto__',
    'x'.repeat(300),
    'sha256:abc',
    `flock:sha256:${'0'.repeat(64)}`,
    'https://example.com/m.wasm',
    [],
    {},
    { __proto__: 1 },
    'AAAA',
    '!!notbase64',
  ),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 8 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 4 }),
  fc.integer({ min: 0, max: 200_000 }).map((n) => Buffer.alloc(n, 7).toString('base64')),
);

type Mutation = { path: string[]; op: 'set' | 'delete' | 'deep'; value: Json };

const PATHS: string[][] = [
  ['task_id'],
  ['op'],
  ['module'],
  ['module', 'kind'],
  ['module', 'abi'],
  ['module', 'inline'],
  ['module', 'uri'],
  ['module', 'hash'],
  ['module', 'permissions', 'timeout_ms'],
  ['module', 'workgroups'],
  ['requirements'],
  ['requirements', 'min'],
  ['requirements', 'min', 'cpu_cores'],
  ['requirements', 'min', 'gpu', 'features'],
  ['requirements', 'qos', 'priority'],
  ['requirements', 'qos', 'deadline_ms'],
  ['requirements', 'qos', 'retries'],
  ['inputs'],
  ['inputs', '0'],
  ['inputs', '0', 'name'],
  ['inputs', '0', 'inline_bytes'],
  ['inputs', '0', 'uri'],
  ['inputs', '0', 'tensor', 'shape'],
  ['params'],
  ['params', 'k'],
  ['return_channel'],
  ['campaign_id'],
  ['security', 'task_token'],
  ['verification', 'replicas'],
  ['unknown_field'],
];

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.constantFrom(...PATHS),
  op: fc.constantFrom<Mutation['op']>('set', 'set', 'set', 'delete', 'deep'),
  value: hostile,
});

function apply(base: Json, muts: Mutation[], id: string): Json {
  const env = structuredClone(base);
  env.task_id = id;
  for (const { path, op, value } of muts) {
    let node = env;
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = /^\d+$/.test(key) ? [] : {};
      node = node[key];
    }
    const last = path[path.length - 1]!;
    if (op === 'delete') delete node[last];
    else if (op === 'deep') {
      let deep: Json = value;
      for (let i = 0; i < 200; i++) deep = { d: deep };
      node[last] = deep;
    } else node[last] = value;
  }
  return env;
}

/** Raw-body mutations: truncation and byte flips of the JSON text. */
function mangle(text: string, cut: number, flip: number): Buffer {
  const bytes = Buffer.from(text.slice(0, Math.max(1, Math.floor((text.length * cut) / 100))));
  if (flip > 0 && bytes.length > 0) bytes[flip % bytes.length] = flip & 0xff;
  return bytes;
}

test(`${RUNS} mutated envelopes: only 2xx or coded 4xx, and every accepted task ends or waits with a reason`, async () => {
  const accepted = new Set<string>();
  const codes = new Map<string, number>();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...SEEDS),
      fc.array(mutation, { minLength: 0, maxLength: 3 }),
      // One body in eight is mangled as raw bytes (truncated, a byte flipped).
      fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 7 },
        { arbitrary: fc.tuple(fc.integer({ min: 1, max: 100 }), fc.nat({ max: 4000 })), weight: 1 },
      ),
      async (seed, muts, raw) => {
        const id = `f-${n++}`;
        const env = apply(seed, muts, id);
        const text = JSON.stringify(env);
        const body = raw ? mangle(text, raw[0], raw[1]) : text;
        const res = await c.api('/v1/tasks', {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
        const answer = await res.json().catch(() => undefined);
        if (res.status === 201 || res.status === 200) {
          // The id itself may have been mutated (a repeat of an id is 200 or 409 CONFLICT).
          expect(typeof answer?.task_id).toBe('string');
          accepted.add(answer.task_id);
          return;
        }
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof answer?.error?.code).toBe('string');
        codes.set(answer.error.code, (codes.get(answer.error.code) ?? 0) + 1);
      },
    ),
    { seed: 21, numRuns: RUNS },
  );
  // The fuzz reached both sides and many refusal codes.
  expect(accepted.size).toBeGreaterThan(RUNS / 10);
  expect(codes.size).toBeGreaterThanOrEqual(8);

  const settled = async (id: string): Promise<Json | undefined> => {
    const v = await (await c.api(`/v1/tasks/${encodeURIComponent(id)}`)).json();
    if (v.state === 'succeeded') return v;
    if (v.state === 'failed' || v.state === 'cancelled') return v;
    // Waiting for something no connected volunteer has (not for a free slot).
    if (v.state === 'queued' && /no connected worker meets/.test(v.waiting_reason ?? '')) return v;
    return undefined;
  };
  const views = new Map<string, Json>();
  await until(
    async () => {
      for (const id of accepted) {
        if (views.has(id)) continue;
        const v = await settled(id);
        if (v) views.set(id, v);
      }
      return views.size === accepted.size;
    },
    60_000,
    'every accepted task settled',
  );
  for (const v of views.values()) {
    if (v.state === 'failed') {
      expect(v.failure.code).toMatch(/^[A-Z_]+$/);
      // Never the code of a task that could not be sent: it was refused at submit instead.
      expect(v.failure.code).not.toBe('UNDELIVERABLE');
    }
  }
  expect([...views.values()].filter((v) => v.state === 'succeeded').length).toBeGreaterThan(
    accepted.size / 2,
  );
}, 240_000);
