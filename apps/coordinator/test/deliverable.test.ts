// What is accepted can be delivered (#21): text that the wire cannot carry and inline inputs that
// an assignment frame cannot carry are refused at submit, with the field; large inputs go up as
// blobs (POST /v1/blobs) and reach the volunteer holding the lease, and no one else.
import { createHash } from 'node:crypto';
import { encodeMessage } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_B, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

async function postRaw(path: string, body: Uint8Array | string, type = 'application/json'): Promise<Json> {
  const res = await c!.api(path, { method: 'POST', body, headers: { 'content-type': type } });
  return { status: res.status, body: await res.json() };
}

const LONE = '"\\ud800"';

describe('text must be well-formed Unicode anywhere in a submission', () => {
  test.each([
    ['op', (j: string) => j.replace('"op":"sum"', `"op":${LONE}`)],
    ['return_channel', (j: string) => j.replace('{', `{"return_channel":${LONE},`)],
    ['inputs[0].name', (j: string) => j.replace('"name":"x"', `"name":${LONE}`)],
    ['params.label', (j: string) => j.replace('{', `{"params":{"label":${LONE}},`)],
  ])('a lone surrogate in %s → 400 INVALID_TEXT naming it, nothing stored', async (field, edit) => {
    c = await startTest();
    const { status, body } = await postRaw('/v1/tasks', edit(JSON.stringify(envelope('lone'))));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_TEXT', field });
    expect((await c.api('/v1/tasks/lone')).status).toBe(404);
  });

  test('a JSON body that is not UTF-8 → 400 INVALID_TEXT (not a silent U+FFFD)', async () => {
    c = await startTest();
    const text = Buffer.from(JSON.stringify(envelope('bad-utf8', { params: { note: 'XX' } })));
    const at = text.indexOf('XX');
    text[at] = 0xc0;
    text[at + 1] = 0xaf;
    const { status, body } = await postRaw('/v1/tasks', text);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_TEXT', field: '$' });
  });

  test('in a campaign the field names the task', async () => {
    c = await startTest();
    const tasks = [envelope('c-0'), envelope('c-1'), envelope('c-2')];
    const json = JSON.stringify({ tasks }).replace(
      '"task_id":"c-2","op":"sum"',
      `"task_id":"c-2","op":${LONE}`,
    );
    const { status, body } = await postRaw('/v1/campaigns', json);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_TEXT', field: 'tasks[2].op' });
    expect((await c.api('/v1/tasks/c-0')).status).toBe(404);
  });

  test("a Cap'n Proto envelope with a text field that is not UTF-8 → 400", async () => {
    c = await startTest();
    const bytes = encodeMessage('ComputeEnvelope', {
      task_id: 'capnp-bad',
      op: 'OPOP',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
    });
    const at = Buffer.from(bytes).indexOf('OPOP');
    bytes[at] = 0xc0;
    bytes[at + 1] = 0xaf;
    const { status, body } = await postRaw('/v1/tasks', bytes, 'application/x-capnp');
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_TEXT', field: 'op' });
    expect((await c.api('/v1/tasks/capnp-bad')).status).toBe(404);
  });
});

describe('an assignment must fit the frame limit tabs are told', () => {
  test('an inline input too large for a frame → 413 TASK_TOO_LARGE pointing at it and at POST /v1/blobs', async () => {
    c = await startTest({ maxFrameBytes: 256 << 10 });
    const big = Buffer.alloc(300 << 10, 7).toString('base64');
    const env = envelope('too-big', {
      inputs: [
        { name: 'small', inline_bytes: 'AQID' },
        { name: 'big', inline_bytes: big },
      ],
    });
    const res = await c.api('/v1/tasks', { method: 'POST', json: env });
    expect(res.status).toBe(413);
    const { error } = await res.json();
    expect(error).toMatchObject({ code: 'TASK_TOO_LARGE', field: 'inputs[1]' });
    expect(error.message).toContain('POST /v1/blobs');
    expect((await c.api('/v1/tasks/too-big')).status).toBe(404);
  });

  test('just under the limit is accepted and delivered', async () => {
    c = await startTest({ maxFrameBytes: 256 << 10 });
    const sim = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(sim);
    const bytes = Buffer.alloc(200 << 10, 1);
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('fits', { inputs: [{ name: 'x', inline_bytes: bytes.toString('base64') }] }),
    });
    expect(res.status).toBe(201);
    await until(async () => (await (await c!.api('/v1/tasks/fits')).json()).state === 'succeeded');
    const result = await (await c.api('/v1/tasks/fits/result')).json();
    expect(result.outputs[0].inline_json).toBe(String(200 << 10));
  });
});

describe('inputs uploaded as blobs', () => {
  test('POST /v1/blobs, then a task names it: the volunteer fetches it with its lease', async () => {
    c = await startTest({ maxFrameBytes: 256 << 10 });
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const up = await c.api('/v1/blobs', {
      method: 'POST',
      body: data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(201);
    const hex = createHash('sha256').update(data).digest('hex');
    expect(await up.json()).toEqual({ hash: `sha256:${hex}`, size: data.length, uri: `flock:sha256:${hex}` });
    const sim = await SimulatedVolunteer.connect({ url: c.url });
    sims.push(sim);
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('by-blob', { inputs: [{ name: 'x', uri: `flock:sha256:${hex}` }] }),
    });
    expect(res.status).toBe(201);
    await until(async () => (await (await c!.api('/v1/tasks/by-blob')).json()).state === 'succeeded');
    let sum = 0;
    for (const b of data) sum += b;
    const result = await (await c.api('/v1/tasks/by-blob/result')).json();
    expect(result.outputs[0].inline_json).toBe(String(sum));
  });

  test('a blob another tenant uploaded cannot be named → 400 on the input uri', async () => {
    c = await startTest();
    const up = await c.api('/v1/blobs', { method: 'POST', body: 'secret', key: KEY_B });
    const { uri } = await up.json();
    const res = await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('not-mine', { inputs: [{ name: 'x', uri }] }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'inputs[0].uri' });
  });

  test('the lease input route serves only the lease holder, only its inputs, only while live', async () => {
    c = await startTest();
    const { uri: mine } = await (await c.api('/v1/blobs', { method: 'POST', body: 'input-one' })).json();
    const { uri: other } = await (await c.api('/v1/blobs', { method: 'POST', body: 'input-two' })).json();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const sim = await SimulatedVolunteer.connect({
      url: c.url,
      run: async () => {
        await held;
        return { outputs: [{ name: 'o', inline_json: '1' }] };
      },
    });
    sims.push(sim);
    await c.api('/v1/tasks', {
      method: 'POST',
      json: envelope('route', { inputs: [{ name: 'x', uri: mine }] }),
    });
    const a = (await sim.assignmentOf('route')) as Json;
    const get = (name: string, token: string, lease = a.lease_id) =>
      fetch(`${c!.url}/v1/leases/${lease}/inputs/${name}`, { headers: { 'x-flock-task-token': token } });
    const name = mine.slice('flock:'.length);
    expect(await (await get(name, a.task_token)).text()).toBe('input-one');
    expect((await get(name, 'hmac:wrongwrongwrongwrong')).status).toBe(404);
    expect((await get(other.slice('flock:'.length), a.task_token)).status).toBe(404);
    expect((await get(name, a.task_token, 'l-unknown')).status).toBe(404);
    release();
    await until(async () => (await (await c!.api('/v1/tasks/route')).json()).state === 'succeeded');
    expect((await get(name, a.task_token)).status).toBe(404);
  });
});
