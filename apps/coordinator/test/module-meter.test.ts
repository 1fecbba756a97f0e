// Fuel on the submit path (#14): the HTTP API instruments every WASM module a task names, stores
// the instrumented module and rewrites the task to name it; what cannot be metered is refused at
// submit (or at upload) with a typed error, and tabs receive only metered modules.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ComputeAssignment, FUEL_GLOBAL } from '@flock/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FuelThread, instrumentFuel } from '../src/fuel/index.ts';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { fixture, wat } from './fuel-runner.ts';
import { envelope, startTest, type TestCoordinator } from './helpers.ts';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
/** Whether the bytes name the fuel global (its export's name is in the export section). */
const namesFuel = (bytes: Uint8Array) => Buffer.from(bytes).includes(FUEL_GLOBAL);

async function errorOf(res: Response): Promise<{ status: number; code: string; field: string | undefined }> {
  const body = (await res.json()) as { error: { code: string; field?: string } };
  return { status: res.status, code: body.error.code, field: body.error.field };
}

const empty = fixture('empty');
const wasmTask = (id: string, module: Record<string, unknown>) =>
  envelope(id, { op: 'run', module: { kind: 'wasm', ...module }, requirements: { min: {} }, inputs: [] });

let c: TestCoordinator;
let sim: SimulatedVolunteer | undefined;
beforeAll(async () => {
  c = await startTest();
});
afterAll(() => c.stop());
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** The assignment a volunteer receives for `taskId`. */
async function assignmentOf(taskId: string, on: TestCoordinator = c): Promise<ComputeAssignment> {
  sim ??= await SimulatedVolunteer.connect({ url: on.url, run: () => ({ outputs: [] }) });
  return sim.assignmentOf(taskId);
}

describe('tasks name metered modules', () => {
  test('an inline module is replaced by its instrumented bytes, named by their hash', async () => {
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: wasmTask('inline-1', { inline: b64(empty), hash: sha256(empty) }),
    });
    expect(res.status).toBe(201);
    const module = (await assignmentOf('inline-1')).envelope!.module!;
    const expected = instrumentFuel(empty, { existing: 'refuse' });
    expect(Buffer.from(module.inline!).equals(Buffer.from(expected))).toBe(true);
    expect(module.hash).toBe(sha256(expected));
    expect(namesFuel(module.inline!)).toBe(true);
    expect(namesFuel(empty)).toBe(false);
  });

  test('an uploaded module: the task names the stored instrumented module, served without a key; resubmitting is idempotent', async () => {
    const original = fixture('wasi-echo');
    const up = await (
      await c.api('/v1/modules', {
        method: 'POST',
        body: original,
        headers: { 'content-type': 'application/wasm' },
      })
    ).json();
    expect(up.hash).toBe(sha256(original));
    const task = wasmTask('uploaded-1', { uri: up.uri, hash: up.hash });
    expect((await c.api('/v1/tasks', { method: 'POST', json: task })).status).toBe(201);
    expect((await c.api('/v1/tasks', { method: 'POST', json: task })).status).toBe(200);
    const module = (await assignmentOf('uploaded-1')).envelope!.module!;
    const metered = instrumentFuel(original, { existing: 'refuse' });
    expect(up.metered_hash).toBe(sha256(metered));
    expect(module.uri).toBe(`flock:${sha256(metered)}`);
    expect(module.hash).toBe(sha256(metered));
    const served = await fetch(`${c.url}/v1/modules/${module.hash}`);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(metered))).toBe(true);
  });

  test('builtin and WGSL modules are left as they are', async () => {
    await c.api('/v1/tasks', { method: 'POST', json: envelope('builtin-1', { requirements: { min: {} } }) });
    expect((await assignmentOf('builtin-1')).envelope!.module).toEqual({ kind: 'builtin' });
  });
});

describe('what cannot be metered is refused at submit', () => {
  test('a wrong hash, bytes that are not WASM, a module exporting the fuel global', async () => {
    const wrong = await c.api('/v1/tasks', {
      method: 'POST',
      json: wasmTask('bad-hash', { inline: b64(empty), hash: `sha256:${'ab'.repeat(32)}` }),
    });
    expect(await errorOf(wrong)).toEqual({ status: 400, code: 'HASH_MISMATCH', field: 'module.hash' });
    const junk = await c.api('/v1/tasks', {
      method: 'POST',
      json: wasmTask('junk', { inline: b64(new Uint8Array([0, 97, 115, 109, 9, 9])) }),
    });
    expect(await errorOf(junk)).toEqual({ status: 400, code: 'MODULE_REFUSED', field: 'module' });
    const named = wat(`(module (global (export "${FUEL_GLOBAL}") (mut i64) (i64.const 0)))`);
    const upload = await c.api('/v1/modules', {
      method: 'POST',
      body: named,
      headers: { 'content-type': 'application/wasm' },
    });
    expect(await errorOf(upload)).toEqual({ status: 400, code: 'MODULE_REFUSED', field: 'body' });
    const campaign = await c.api('/v1/campaigns', {
      method: 'POST',
      json: { tasks: [wasmTask('c-ok', { inline: b64(empty) }), wasmTask('c-bad', { inline: b64(named) })] },
    });
    expect(await errorOf(campaign)).toEqual({
      status: 400,
      code: 'MODULE_REFUSED',
      field: 'tasks[1].module',
    });
    // Nothing of the refused campaign was stored.
    expect((await c.api('/v1/tasks/c-ok')).status).toBe(404);
  });

  test('the coordinator’s own instrumented module, named again after a restart, is taken as it is', async () => {
    const own = await startTest();
    const first = await own.api('/v1/tasks', {
      method: 'POST',
      json: wasmTask('own-1', { inline: b64(empty) }),
    });
    expect(first.status).toBe(201);
    const metered = sha256(instrumentFuel(empty, { existing: 'refuse' }));
    await own.close();
    const again = await startTest({}, own.dataDir);
    try {
      const res = await again.api('/v1/tasks', {
        method: 'POST',
        json: wasmTask('own-2', { uri: `flock:${metered}`, hash: metered }),
      });
      expect(res.status).toBe(201);
      sim = await SimulatedVolunteer.connect({ url: again.url, run: () => ({ outputs: [] }) });
      const module = (await assignmentOf('own-2', again)).envelope!.module!;
      expect(module.uri).toBe(`flock:${metered}`);
      expect(module.hash).toBe(metered);
    } finally {
      await sim?.close();
      sim = undefined;
      await again.stop();
    }
  });
});

describe('modules named by an http(s) uri', () => {
  let server: Server;
  let base: string;
  const fetched: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      fetched.push(req.url ?? '');
      if (req.url === '/empty.wasm') res.end(empty);
      else if (req.url === '/huge.wasm') res.end(Buffer.alloc(3 << 20));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('fetched once per hash, verified and instrumented; failures are typed', async () => {
    const remote = { uri: `${base}/empty.wasm`, hash: sha256(empty) };
    for (const id of ['remote-1', 'remote-2'])
      expect((await c.api('/v1/tasks', { method: 'POST', json: wasmTask(id, remote) })).status).toBe(201);
    expect(fetched.filter((u) => u === '/empty.wasm')).toHaveLength(1);
    const module = (await assignmentOf('remote-2')).envelope!.module!;
    expect(module.uri).toBe(`flock:${sha256(instrumentFuel(empty, { existing: 'refuse' }))}`);

    const post = (id: string, m: Record<string, unknown>) =>
      c.api('/v1/tasks', { method: 'POST', json: wasmTask(id, m) });
    expect(
      await errorOf(await post('r-hash', { uri: `${base}/empty.wasm`, hash: `sha256:${'cd'.repeat(32)}` })),
    ).toEqual({
      status: 400,
      code: 'HASH_MISMATCH',
      field: 'module.hash',
    });
    // A hash already known is not fetched again, whatever the uri: the module is what the hash names.
    expect((await post('r-known', { uri: `${base}/missing.wasm`, hash: sha256(empty) })).status).toBe(201);
    expect(
      await errorOf(await post('r-404', { uri: `${base}/missing.wasm`, hash: `sha256:${'ef'.repeat(32)}` })),
    ).toEqual({
      status: 502,
      code: 'MODULE_FETCH_FAILED',
      field: 'module.uri',
    });
    const small = await startTest({ maxBodyBytes: 1 << 20 });
    try {
      const big = await small.api('/v1/tasks', {
        method: 'POST',
        json: wasmTask('r-big', { uri: `${base}/huge.wasm`, hash: sha256(empty) }),
      });
      expect(await errorOf(big)).toEqual({ status: 502, code: 'MODULE_FETCH_FAILED', field: 'module.uri' });
    } finally {
      await small.stop();
    }
  });

  test('FLOCK_REMOTE_MODULES=off refuses them and names the alternative', async () => {
    const off = await startTest({ remoteModules: false });
    try {
      const res = await off.api('/v1/tasks', {
        method: 'POST',
        json: wasmTask('r-off', { uri: `${base}/empty.wasm`, hash: sha256(empty) }),
      });
      const body = (await res.clone().json()) as { error: { message: string } };
      expect(await errorOf(res)).toEqual({ status: 400, code: 'INVALID_ARGUMENT', field: 'module.uri' });
      expect(body.error.message).toContain('POST /v1/modules');
    } finally {
      await off.stop();
    }
  });
});

describe('FuelThread', () => {
  test('instruments on its own thread exactly as on this one; refusals keep their code', async () => {
    const thread = new FuelThread();
    try {
      const simd = fixture('kernel-poly-simd');
      const out = await thread.instrument(simd);
      expect(Buffer.from(out).equals(Buffer.from(instrumentFuel(simd, { existing: 'refuse' })))).toBe(true);
      await expect(thread.instrument(new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'NOT_WASM' });
      expect(thread.started).toBe(1);
    } finally {
      await thread.close();
    }
  });

  test('a module over the time limit fails with FAILED and the thread is replaced', async () => {
    const thread = new FuelThread({ timeoutMs: 1 });
    try {
      await expect(thread.instrument(fixture('fuel-work'))).rejects.toMatchObject({
        name: 'FuelError',
        code: 'FAILED',
      });
      await expect(thread.instrument(fixture('fuel-work'))).rejects.toMatchObject({ code: 'FAILED' });
      expect(thread.started).toBe(2);
    } finally {
      await thread.close();
    }
  });
});
