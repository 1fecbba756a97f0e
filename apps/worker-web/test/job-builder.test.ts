import { createHash } from 'node:crypto';
import { zooFiles } from '@flock/libraries/models';
import type { ComputeAssignment } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import type { ExecutorError } from '../src/executor-error.ts';
import { DEFAULT_LIMITS } from '../src/job.ts';
import { buildJob, limitsOf, type ModuleSource, moduleUrl } from '../src/job-builder.ts';
import { jobOf, jobRecord, outcomeOf, outcomeRecord } from '../src/job-record.ts';
import { fixture } from './fixtures.ts';

const ORIGIN = 'http://127.0.0.1:8787';
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function memorySource(served: Record<string, Uint8Array>) {
  const cache = new Map<string, Uint8Array>();
  const fetched: string[] = [];
  const opened: Array<{ url: string; headers: Record<string, string> | undefined }> = [];
  const source: ModuleSource = {
    cached: async (hash) => cache.get(hash),
    store: async (hash, bytes) => void cache.set(hash, bytes),
    fetch: async (url) => {
      fetched.push(url);
      const bytes = served[url];
      if (!bytes) throw new Error(`404 for ${url}`);
      return bytes;
    },
    open: async (url, headers) => {
      opened.push({ url, headers });
      const body = served[url];
      return new Response(body ? (body.slice().buffer as ArrayBuffer) : null, { status: body ? 200 : 404 });
    },
  };
  return { source, cache, fetched, opened };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as ExecutorError).code;
  }
  return 'no error';
}

describe('limitsOf', () => {
  it('uses each permission, and the default where it is 0 or unset', () => {
    expect(limitsOf(undefined)).toEqual(DEFAULT_LIMITS);
    expect(limitsOf({ permissions: { memory_pages: 64, timeout_ms: 0, max_output_bytes: 10 } })).toEqual({
      ...DEFAULT_LIMITS,
      memoryPages: 64,
      maxOutputBytes: 10,
    });
  });
});

describe('moduleUrl', () => {
  it('maps uploaded modules to the coordinator and resolves the rest against the origin', () => {
    expect(moduleUrl(`flock:sha256:${'a'.repeat(64)}`, ORIGIN)).toBe(
      `${ORIGIN}/v1/modules/sha256:${'a'.repeat(64)}`,
    );
    expect(moduleUrl('https://cdn.example/x.wasm', ORIGIN)).toBe('https://cdn.example/x.wasm');
  });
});

describe('buildJob', () => {
  const module = fixture('empty');
  const hash = sha(module);
  const assignment = (
    spec: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): ComputeAssignment => ({
    task_id: 't-1',
    lease_id: 'l-1',
    envelope: { task_id: 't-1', op: 'run', module: { kind: 'wasm', ...spec }, ...extra },
  });

  it('fetches an uploaded module once, caches it by hash after verifying, then reads the cache', async () => {
    const { source, cache, fetched } = memorySource({ [`${ORIGIN}/v1/modules/${hash}`]: module });
    const first = await buildJob(assignment({ uri: `flock:${hash}` }), source, ORIGIN);
    expect(first.spec).toMatchObject({ kind: 'wasi', entry: '_start', wasiFs: false, moduleHash: hash });
    expect(first.module).toEqual({ hash, bytes: module });
    expect(cache.get(hash)).toBe(module);
    await buildJob(assignment({ uri: `flock:${hash}` }), source, ORIGIN);
    expect(fetched).toEqual([`${ORIGIN}/v1/modules/${hash}`]);
  });

  it('never caches bytes whose hash does not match', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const { source, cache } = memorySource({ 'https://cdn.example/m.wasm': module });
    const code = await codeOf(
      buildJob(assignment({ uri: 'https://cdn.example/m.wasm', hash: wrong }), source, ORIGIN),
    );
    expect(code).toBe('HASH_MISMATCH');
    expect(cache.size).toBe(0);
  });

  it('leaves inline inputs where the frame decoded them: no copy before the executor region', async () => {
    const frame = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const bytes = frame.subarray(2, 5);
    const job = await buildJob(
      assignment(
        { inline: module },
        {
          inputs: [
            { name: 'a', inline_bytes: bytes },
            { name: 'b', inline_json: '{"x":1}' },
          ],
        },
      ),
      memorySource({}).source,
      ORIGIN,
    );
    expect(job.inputs[0]!.bytes).toBe(bytes);
    expect(job.inputs[1]).toEqual({ name: 'b', contentType: '', text: '{"x":1}' });
    expect(job.spec.inputs).toEqual([
      { name: 'a', contentType: '' },
      { name: 'b', contentType: '' },
    ]);
  });

  it('an uploaded input is fetched with the lease and its task token, and checked against its hash', async () => {
    const blob = new Uint8Array([5, 6, 7]);
    const name = sha(blob);
    const url = `${ORIGIN}/v1/leases/l-1/inputs/${name}`;
    const { source, opened } = memorySource({ [url]: blob });
    const job = await buildJob(
      {
        ...assignment({ inline: module }, { inputs: [{ name: 'x', uri: `flock:${name}` }] }),
        task_token: 'hmac:tok',
      },
      source,
      ORIGIN,
    );
    const input = job.inputs[0]!;
    expect(input.hash).toBe(name);
    const response = await input.open!();
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(blob);
    expect(opened).toEqual([{ url, headers: { 'x-flock-task-token': 'hmac:tok' } }]);
  });

  it('refuses sockets, unknown ABIs and inputs over the limit with their codes', async () => {
    const { source } = memorySource({});
    expect(
      await codeOf(buildJob(assignment({ inline: module, permissions: { wasi_net: true } }), source, ORIGIN)),
    ).toBe('UNSUPPORTED');
    expect(await codeOf(buildJob(assignment({ inline: module, abi: 'emscripten' }), source, ORIGIN))).toBe(
      'UNSUPPORTED',
    );
    const big = assignment(
      { inline: module, permissions: { max_input_bytes: 2 } },
      { inputs: [{ name: 'a', inline_bytes: new Uint8Array(3) }] },
    );
    expect(await codeOf(buildJob(big, source, ORIGIN))).toBe('INPUT_TOO_LARGE');
  });

  it('builds WGSL and built-in jobs', async () => {
    const { source } = memorySource({});
    const wgsl = await buildJob(
      assignment({
        kind: 'wgsl',
        inline: new TextEncoder().encode('@compute @workgroup_size(1) fn f() {}'),
        entry: 'f',
        workgroups: [4, 2],
      }),
      source,
      ORIGIN,
    );
    expect(wgsl.spec).toMatchObject({ kind: 'wgsl', entry: 'f', workgroups: [4, 2, 1] });
    expect(new TextDecoder().decode(wgsl.module!.bytes)).toBe('@compute @workgroup_size(1) fn f() {}');
    const builtin = await buildJob(assignment({ kind: 'builtin' }, { op: 'saxpy' }), source, ORIGIN);
    expect(builtin.spec).toMatchObject({ kind: 'builtin', op: 'saxpy' });
    expect(builtin.module).toBeUndefined();
    const kernel = await buildJob(assignment({ inline: module, abi: 'kernel' }), source, ORIGIN);
    expect(kernel).toMatchObject({ exclusive: true, spec: { kind: 'kernel', entry: 'flock_kernel' } });
  });

  it("loads an ml job's model like a module and passes each input's TensorSpec on", async () => {
    const model = zooFiles()['mlp.onnx']!;
    const modelHash = sha(model);
    const { source, cache, fetched } = memorySource({ [`${ORIGIN}/v1/modules/${modelHash}`]: model });
    const features = new Uint8Array(64 * 4);
    const ml = (): ComputeAssignment =>
      assignment(
        { kind: 'library' },
        {
          op: 'ml.infer',
          params: { model: `flock:${modelHash}` },
          inputs: [
            { name: 'features', inline_bytes: features, tensor: { dtype: 'float32', shape: [1, 64] } },
          ],
        },
      );
    const first = await buildJob(ml(), source, ORIGIN);
    expect(first.module).toEqual({ hash: modelHash, bytes: model });
    expect(first.spec).toMatchObject({ kind: 'library', op: 'ml.infer', moduleHash: modelHash });
    expect(first.spec.inputs).toEqual([
      { name: 'features', contentType: '', tensor: { dtype: 'float32', shape: [1, 64] } },
    ]);
    expect(cache.get(modelHash)).toBe(model);
    await buildJob(ml(), source, ORIGIN);
    expect(fetched).toEqual([`${ORIGIN}/v1/modules/${modelHash}`]);
    // A library job without a model has no module.
    const hash = await buildJob(
      assignment(
        { kind: 'library' },
        {
          op: 'crypto.hash',
          params: { algorithms: ['sha256'] },
          inputs: [{ name: 'a', inline_bytes: features }],
        },
      ),
      source,
      ORIGIN,
    );
    expect(hash.module).toBeUndefined();
    expect(hash.spec.moduleHash).toBeUndefined();
  });

  it("tells a library job whether its task asks for WebGPU (min.webgpu or min.gpu): ml's auto reads it", async () => {
    const { source } = memorySource({});
    const requiresWebgpu = async (requirements: object | undefined) =>
      (
        await buildJob(
          assignment(
            { kind: 'library' },
            {
              op: 'crypto.hash',
              params: { algorithms: ['sha256'] },
              inputs: [{ name: 'a', inline_bytes: new Uint8Array(4) }],
              ...(requirements ? { requirements } : {}),
            },
          ),
          source,
          ORIGIN,
        )
      ).spec.requiresWebgpu;
    expect(await requiresWebgpu({ min: { webgpu: true } })).toBe(true);
    expect(await requiresWebgpu({ min: { gpu: { features: ['shader-f16'] } } })).toBe(true);
    expect(await requiresWebgpu({ min: { wasm: true }, preferred: { webgpu: true } })).toBeUndefined();
    expect(await requiresWebgpu(undefined)).toBeUndefined();
  });

  it('refuses a model whose bytes do not have its hash, and caches nothing', async () => {
    const model = zooFiles()['mlp.onnx']!;
    const wrong = `sha256:${'0'.repeat(64)}`;
    const { source, cache } = memorySource({ [`${ORIGIN}/v1/modules/${wrong}`]: model });
    const job = assignment(
      { kind: 'library' },
      {
        op: 'ml.infer',
        params: { model: `flock:${wrong}` },
        inputs: [{ name: 'features', inline_bytes: new Uint8Array(256) }],
      },
    );
    expect(await codeOf(buildJob(job, source, ORIGIN))).toBe('HASH_MISMATCH');
    expect(cache.size).toBe(0);
  });
});

describe('job and outcome records', () => {
  it('carry input and output TensorSpecs to the executor and back', () => {
    const tensor = { dtype: 'float32' as const, shape: [2, 3] };
    const bytes = new Uint8Array(24);
    const wire = jobRecord({
      jobId: 7,
      spec: {
        kind: 'library',
        taskId: 't',
        limits: DEFAULT_LIMITS,
        params: {},
        inputs: [{ name: 'x', contentType: '', tensor }],
      },
      inputs: [{ name: 'x', contentType: '', bytes, tensor }],
      module: undefined,
    });
    expect(jobOf(wire).inputs).toEqual([{ name: 'x', contentType: '', bytes, tensor }]);
    const outcome = outcomeOf(
      outcomeRecord(7, {
        ok: true,
        outputs: [
          { name: 'y', contentType: 'application/octet-stream', bytes, tensor },
          { name: 'note.json', contentType: 'application/json', bytes: new Uint8Array(2) },
        ],
        executor: 'library:ml',
        summary: {},
        metrics: {},
      }),
    );
    expect(outcome.ok && outcome.outputs.map((o) => o.tensor)).toEqual([tensor, undefined]);
  });
});
