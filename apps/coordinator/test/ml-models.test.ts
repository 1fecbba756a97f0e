import { createHash } from 'node:crypto';
import { exampleValues, readOnnxInfo, zooFiles } from '@flock/libraries/models';
import type { ComputeEnvelope } from '@flock/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkOp } from '../src/edge/op-check.ts';
import { warmKeyOf } from '../src/engine/matching.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { LibraryKnownAnswers } from '../src/trust/library-known-answers.ts';
import { envelope, type Json, startTest, type TestCoordinator, taskState, until } from './helpers.ts';
import { rng } from './support/rng.ts';

// ONNX models on the coordinator (#16): uploaded as modules, named by ml.* tasks' params.model,
// checked at submit, preferred where a tab holds them, and verified against onnxruntime-node.
const ZOO = zooFiles();
const CNN = ZOO['cnn.onnx']!;
const hashOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const CNN_HASH = hashOf(CNN);

/** Two 28x28 images as raw float32 bytes with their TensorSpec, in the JSON view. */
function imageInput(rows = 2, seed = 1): Json {
  const values = exampleValues(rows * 28 * 28, seed);
  return {
    name: 'image',
    content_type: 'application/octet-stream',
    inline_bytes: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64'),
    tensor: { dtype: 'float32', shape: [rows, 1, 28, 28] },
  };
}

function mlTask(id: string, params: Json, extra: Json = {}): Json {
  return envelope(id, {
    op: 'ml.infer',
    module: { kind: 'library' },
    params,
    inputs: [imageInput()],
    ...extra,
  });
}

async function errorOf(
  res: Response,
): Promise<{ status: number; code: string; field?: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; field?: string; message: string } };
  const out = { status: res.status, code: body.error.code, message: body.error.message };
  return body.error.field === undefined ? out : { ...out, field: body.error.field };
}

describe('models over HTTP', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTest({ maxModelBytes: 40_000 });
  });
  afterAll(async () => {
    await c.stop();
  });
  const upload = (body: Uint8Array | string, type = 'application/onnx') =>
    c.api('/v1/modules', { method: 'POST', body, headers: { 'content-type': type } });

  it('accepts an ONNX model as a module and serves it publicly by hash as application/onnx', async () => {
    const res = await upload(CNN);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ hash: CNN_HASH, size: CNN.byteLength, uri: `flock:${CNN_HASH}` });
    const dl = await fetch(`${c.url}/v1/modules/${CNN_HASH}`);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('application/onnx');
    expect(dl.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(hashOf(new Uint8Array(await dl.arrayBuffer()))).toBe(CNN_HASH);
    expect(await c.store.isModel(CNN_HASH)).toBe(true);
  });

  it('refuses bytes that are no ONNX model (400 INVALID_ARGUMENT, body) and models over FLOCK_MAX_MODEL_BYTES (413)', async () => {
    const garbage = await errorOf(await upload('definitely not protobuf'));
    expect(garbage).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT', field: 'body' });
    expect(garbage.message).toBe('not an ONNX model: cant skip wire type 4');
    expect(await errorOf(await upload(new Uint8Array(0)))).toMatchObject({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'body',
    });
    // mlp.onnx is 50,069 bytes, over this coordinator's 40,000; modules keep FLOCK_MAX_BODY_BYTES.
    const big = await errorOf(await upload(ZOO['mlp.onnx']!));
    expect(big).toEqual({
      status: 413,
      code: 'BODY_TOO_LARGE',
      message: 'body over 40000 bytes (FLOCK_MAX_MODEL_BYTES)',
    });
  });

  it('refuses an ml task naming no uploaded model: 400 UNKNOWN_MODEL, params.model (tasks and campaigns)', async () => {
    await upload(CNN);
    const missing = `flock:sha256:${'ab'.repeat(32)}`;
    const post = (body: Json) => c.api('/v1/tasks', { method: 'POST', json: body });
    expect(await errorOf(await post(mlTask('ml-missing', { model: missing })))).toMatchObject({
      status: 400,
      code: 'UNKNOWN_MODEL',
      field: 'params.model',
    });
    // A WASM module is no model.
    const wasm = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await upload(wasm, 'application/wasm');
    expect(await errorOf(await post(mlTask('ml-wasm', { model: `flock:${hashOf(wasm)}` })))).toMatchObject({
      status: 400,
      code: 'UNKNOWN_MODEL',
      field: 'params.model',
    });
    const campaign = await c.api('/v1/campaigns', {
      method: 'POST',
      json: {
        campaign_id: 'ml-camp',
        tasks: [mlTask('ml-c-0', { model: `flock:${CNN_HASH}` }), mlTask('ml-c-1', { model: missing })],
      },
    });
    expect(await errorOf(campaign)).toMatchObject({
      status: 400,
      code: 'UNKNOWN_MODEL',
      field: 'tasks[1].params.model',
    });
    // Nor is a model a module.
    const asModule = envelope('ml-as-module', {
      module: { kind: 'wasm', uri: `flock:${CNN_HASH}`, hash: CNN_HASH },
    });
    expect(await errorOf(await post(asModule))).toMatchObject({
      status: 400,
      code: 'INVALID_ARGUMENT',
      field: 'module.uri',
      message: `flock:${CNN_HASH} is an ONNX model: name it in an ml.* task's params.model`,
    });
    const ok = await post(mlTask('ml-ok', { model: `flock:${CNN_HASH}` }));
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ op: 'ml.infer', module_kind: 'library', state: 'queued' });
    expect((await c.api('/v1/tasks/ml-ok', { method: 'DELETE' })).status).toBe(200);
  });
});

describe('a task that must run on WebGPU asks for buffers that hold the model', () => {
  let c: TestCoordinator;
  beforeAll(async () => {
    c = await startTest();
    await c.api('/v1/modules', {
      method: 'POST',
      body: CNN,
      headers: { 'content-type': 'application/onnx' },
    });
  });
  afterAll(async () => {
    await c.stop();
  });
  const stored = async (id: string, params: Json, requirements?: Json): Promise<Json> => {
    const extra = requirements === undefined ? {} : { requirements };
    const res = await c.api('/v1/tasks', { method: 'POST', json: mlTask(id, params, extra) });
    expect(res.status).toBe(201);
    const task = (await c.store.getTask('a', id))!;
    expect((await c.api(`/v1/tasks/${id}`, { method: 'DELETE' })).status).toBe(200);
    return JSON.parse(Buffer.from(task.envelope).toString('utf8')).requirements;
  };

  it('execution webgpu: min.webgpu and min.gpu.limits maxStorageBufferBindingSize ≥ its largest weight', async () => {
    const largest = readOnnxInfo(CNN).largestTensorBytes;
    expect(largest).toBeGreaterThan(0);
    const model = `flock:${CNN_HASH}`;
    expect(await stored('gpu-1', { model, execution: 'webgpu' })).toEqual({
      min: {
        wasm: true,
        webgpu: true,
        gpu: { limits: [{ name: 'maxStorageBufferBindingSize', value: largest }] },
      },
    });
    // A requester's larger bound stands; other limits are kept.
    const asked = {
      min: {
        gpu: {
          limits: [
            { name: 'maxBufferSize', value: 7 },
            { name: 'maxStorageBufferBindingSize', value: largest * 2 },
          ],
        },
      },
    };
    expect((await stored('gpu-2', { model, execution: 'webgpu' }, asked)).min.gpu.limits).toEqual([
      { name: 'maxBufferSize', value: 7 },
      { name: 'maxStorageBufferBindingSize', value: largest * 2 },
    ]);
    // auto may fall back to WASM: no GPU requirement.
    expect(await stored('gpu-3', { model, execution: 'auto' })).toEqual({ min: { wasm: true } });
  });
});

describe('ml calls at submit and in the scheduler', () => {
  const call = (params: Json): ComputeEnvelope => ({
    task_id: 't',
    op: 'ml.classify',
    module: { kind: 'library' },
    params,
    inputs: [{ name: 'image', inline_bytes: new Uint8Array(4), tensor: { dtype: 'float32', shape: [1] } }],
    requirements: { min: { wasm: true } },
  });

  it('execution "webgpu" adds requirements.min.webgpu; auto and wasm do not', async () => {
    const model = `flock:${CNN_HASH}`;
    const gpu = call({ model, execution: 'webgpu' });
    await checkOp(gpu, '', []);
    expect(gpu.requirements?.min).toEqual({ wasm: true, webgpu: true });
    for (const execution of ['auto', 'wasm']) {
      const cpu = call({ model, execution });
      await checkOp(cpu, '', []);
      expect(cpu.requirements?.min).toEqual({ wasm: true });
    }
  });

  it('the warm key of an ml task is its model hash; other library tasks keep their library', () => {
    expect(warmKeyOf(call({ model: `flock:${CNN_HASH}` }))).toBe(CNN_HASH);
    expect(warmKeyOf({ op: 'image.resize', module: { kind: 'library' }, params: {} })).toBe('library:image');
  });
});

describe('known answers for ml, from onnxruntime-node', () => {
  const template: ComputeEnvelope = {
    task_id: 'digits-0001',
    op: 'ml.infer',
    module: { kind: 'library' },
    params: { model: `flock:${CNN_HASH}` },
    inputs: [
      {
        name: 'image',
        content_type: 'application/octet-stream',
        inline_bytes: new Uint8Array(exampleValues(2 * 28 * 28, 7).buffer),
        tensor: { dtype: 'float32', shape: [2, 1, 28, 28] },
      },
    ],
  };

  it('expects the reference logits; an honest copy passes, a corrupted one fails', async () => {
    const source = new LibraryKnownAnswers((hash) => (hash === CNN_HASH ? CNN : undefined));
    const answer = (await source.make({ workerId: 'w', adapterClass: 'gpu/x', template, random: rng(2) }))!;
    expect(answer.envelope.inputs?.[0]?.tensor).toEqual({ dtype: 'float32', shape: [2, 1, 28, 28] });
    const logits = answer.expected['logits']!;
    expect(logits.byteLength).toBe(2 * 10 * 4);
    // Within the method's tolerance (atol 1e-4): what another execution provider returns.
    const near = new Float32Array(logits.slice().buffer);
    near[3] = near[3]! + 1e-6;
    expect(await source.check(answer, [{ name: 'logits', bytes: logits }])).toBe(true);
    expect(await source.check(answer, [{ name: 'logits', bytes: new Uint8Array(near.buffer) }])).toBe(true);
    const off = new Float32Array(logits.slice().buffer);
    off[3] = off[3]! + 0.5;
    expect(await source.check(answer, [{ name: 'logits', bytes: new Uint8Array(off.buffer) }])).toBe(false);
  });

  it('reads an input the task names by uri from the blob store, and the check names the same blob', async () => {
    const bytes = template.inputs![0]!.inline_bytes!;
    const name = hashOf(bytes);
    const blobs = new Map([
      [CNN_HASH, CNN],
      [name, bytes],
    ]);
    const source = new LibraryKnownAnswers((n) => blobs.get(n));
    const { inline_bytes: _bytes, ...rest } = template.inputs![0]!;
    const byUri = { ...rest, uri: `flock:${name}`, size: bytes.byteLength };
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'gpu/x',
      template: { ...template, inputs: [byUri] },
      random: rng(5),
    }))!;
    expect(answer.envelope.inputs).toEqual([byUri]);
    const inline = (await source.make({ workerId: 'w', adapterClass: 'gpu/x', template, random: rng(5) }))!;
    expect(answer.expected['logits']).toEqual(inline.expected['logits']);
    // A blob declared (or missing its size) beyond what the coordinator computes here: no check.
    const req = (input: object) =>
      source.make({
        workerId: 'w',
        adapterClass: 'gpu/x',
        template: { ...template, inputs: [input] },
        random: rng(6),
      });
    expect(await req({ ...byUri, size: 9 * 1024 * 1024 })).toBeUndefined();
    expect(await req({ ...byUri, size: undefined })).toBeUndefined();
    expect(await req({ ...byUri, uri: `flock:sha256:${'77'.repeat(32)}` })).toBeUndefined();
  });

  it('makes no check when the model is not in the store', async () => {
    const source = new LibraryKnownAnswers(() => undefined);
    const unknown = { ...template, params: { model: `flock:sha256:${'cd'.repeat(32)}` } };
    expect(
      await source.make({ workerId: 'w', adapterClass: 'gpu/x', template: unknown, random: rng(3) }),
    ).toBe(undefined);
  });
});

describe('verified ml tasks on the coordinator', () => {
  let c: TestCoordinator | undefined;
  const sims: SimulatedVolunteer[] = [];
  afterEach(async () => {
    for (const s of sims.splice(0)) await s.close();
    await c?.stop();
    c = undefined;
  });

  it('a check of an ml task whose input is an uploaded blob names that blob, and its lease may fetch it', async () => {
    c = await startTest({ spotCheckRate: 0 });
    await c.api('/v1/modules', {
      method: 'POST',
      body: CNN,
      headers: { 'content-type': 'application/onnx' },
    });
    const image = imageInput();
    const bytes = Buffer.from(image.inline_bytes, 'base64');
    const blob: Json = await (
      await c.api('/v1/blobs', {
        method: 'POST',
        body: bytes,
        headers: { 'content-type': 'application/octet-stream' },
      })
    ).json();
    const input = { name: 'image', uri: blob.uri, size: bytes.byteLength, tensor: image.tensor };
    const verification = { replicas: 2, comparator: 'tolerance', abs_tolerance: 1e-4 };
    const id = 'digits-2001';
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: mlTask(id, { model: `flock:${CNN_HASH}` }, { verification, inputs: [input] }),
    });
    expect(res.status).toBe(201);
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest1, honest2);
    await until(async () => (await taskState(c!, id)) === 'succeeded', 60_000, id);
    const check = liar.assignments[0]!;
    expect(check.envelope?.op).toBe('ml.infer');
    expect(check.envelope?.inputs?.map((i) => i.uri)).toEqual([blob.uri]);
    expect(await c.coordinator.trust.standing(liar.workerId)).toMatchObject({
      quarantined: true,
      checksFailed: 1,
    });
    for (const sim of [honest1, honest2]) {
      expect(await c.coordinator.trust.standing(sim.workerId)).toMatchObject({
        checksPassed: 1,
        checksFailed: 0,
      });
    }
  }, 90_000);

  it('a volunteer corrupting its logits fails its ml check and is quarantined; honest ones are accepted', async () => {
    c = await startTest({ spotCheckRate: 0 });
    const up = await c.api('/v1/modules', {
      method: 'POST',
      body: CNN,
      headers: { 'content-type': 'application/onnx' },
    });
    expect(up.status).toBe(201);
    const verification = { replicas: 2, max_replicas: 4, comparator: 'tolerance', abs_tolerance: 1e-4 };
    const ids = ['digits-1001', 'digits-1002', 'digits-1003'];
    for (const id of ids) {
      const res = await c.api('/v1/tasks', {
        method: 'POST',
        json: mlTask(id, { model: `flock:${CNN_HASH}` }, { verification }),
      });
      expect(res.status).toBe(201);
    }
    const liar = await SimulatedVolunteer.connect({ url: c.url, lie: true });
    const honest1 = await SimulatedVolunteer.connect({ url: c.url });
    const honest2 = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(liar, honest1, honest2);
    for (const id of ids) await until(async () => (await taskState(c!, id)) === 'succeeded', 60_000, id);

    // Each one's first assignment was a known-answer check shaped like the ml tasks.
    for (const sim of [liar, honest1, honest2]) {
      const first = sim.assignments[0]!;
      expect(first.envelope?.op).toBe('ml.infer');
      expect(ids).not.toContain(first.task_id);
    }
    expect(liar.assignments.length).toBe(1);
    expect(await c.coordinator.trust.standing(liar.workerId)).toMatchObject({
      quarantined: true,
      checksFailed: 1,
      validResults: 0,
    });
    for (const sim of [honest1, honest2]) {
      expect(await c.coordinator.trust.standing(sim.workerId)).toMatchObject({
        quarantined: false,
        checksPassed: 1,
      });
    }
    const result: Json = await (await c.api(`/v1/tasks/${ids[0]}/result`)).json();
    expect(result.outputs.map((o: Json) => o.name)).toEqual(['logits']);
    const view: Json = await (await c.api(`/v1/tasks/${ids[0]}`)).json();
    expect(view.verification).toMatchObject({ state: 'accepted', agreeing: 2 });
  }, 90_000);
});
