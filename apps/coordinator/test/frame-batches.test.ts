// Batched frames (#17): a volunteer whose capability says `batch_frames` > 1 gets the frames of
// one turn in one WebSocket message and may send several in one; each frame is handled and
// answered on its own, a malformed batch is a typed violation, and other volunteers keep one
// frame a message.
import {
  type ComputeAssignment,
  decodeFrame,
  encodeFrame,
  type Frame_Payload,
  joinFrames,
  makeFrame,
  splitFrames,
} from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { envelope, KEY_B, startTest, type TestCoordinator, taskState, until } from './helpers.ts';

let c: TestCoordinator | undefined;
let ws: WebSocket | undefined;
afterEach(async () => {
  ws?.terminate();
  ws = undefined;
  await c?.stop();
  c = undefined;
});

interface Volunteer {
  /** The frames of each message received, in order. */
  messages: Frame_Payload[][];
  send(payloads: Frame_Payload[]): void;
  closed: Promise<{ code: number; reason: string }>;
}

async function volunteer(t: TestCoordinator, capability: Record<string, unknown>): Promise<Volunteer> {
  const socket = new WebSocket(`${t.url.replace('http', 'ws')}/v1/worker`);
  ws = socket;
  const messages: Frame_Payload[][] = [];
  socket.on('message', (data: Buffer) => {
    messages.push(splitFrames(new Uint8Array(data)).map((f) => decodeFrame(f).payload!));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve) => socket.once('open', resolve));
  const send = (payloads: Frame_Payload[]): void =>
    socket.send(joinFrames(payloads.map((p) => encodeFrame(makeFrame(p)))));
  send([{ hello: { protocol_version: 1, capability: { wasm: true, ...capability } } }]);
  await until(() => messages.some((m) => m.some((p) => 'welcome' in p)));
  return { messages, send, closed };
}

const assignmentsOf = (v: Volunteer): ComputeAssignment[] =>
  v.messages.flatMap((m) => m.flatMap((p) => ('assignment' in p ? [p.assignment] : [])));
async function waitAssigned(v: Volunteer, n: number): Promise<ComputeAssignment[]> {
  await until(() => assignmentsOf(v).length >= n);
  return assignmentsOf(v);
}
const acksOf = (v: Volunteer) =>
  v.messages.flatMap((m) => m.flatMap((p) => ('result_ack' in p ? [p.result_ack] : [])));
const resultOf = (a: ComputeAssignment): Frame_Payload => ({
  result: {
    task_id: a.task_id!,
    lease_id: a.lease_id!,
    task_token: a.task_token!,
    outputs: [{ name: 'sum', inline_json: '10' }],
  },
});

async function campaign(t: TestCoordinator, id: string, tasks: string[], key?: string): Promise<void> {
  const res = await t.api('/v1/campaigns', {
    method: 'POST',
    json: { campaign_id: id, tasks: tasks.map((task) => envelope(task)) },
    ...(key ? { key } : {}),
  });
  expect(res.status).toBe(201);
}

test('a batching volunteer gets a dispatch pass in one message and its batched results are all committed and acked', async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 4, batch_frames: 16 });
  const before = v.messages.length;
  await campaign(c, 'batch', ['t1', 't2', 't3', 't4']);
  const assigned = await waitAssigned(v, 4);
  // The four assignments of the pass came in one message.
  const carrying = v.messages.slice(before).filter((m) => m.some((p) => 'assignment' in p));
  expect(carrying).toHaveLength(1);
  expect(carrying[0]!.filter((p) => 'assignment' in p)).toHaveLength(4);
  expect(assigned.map((a) => a.task_id).sort()).toEqual(['t1', 't2', 't3', 't4']);
  const framesBefore = v.messages.length;
  v.send(assigned.map(resultOf));
  await until(() => acksOf(v).length === 4);
  expect(
    acksOf(v)
      .map((a) => [a.task_id, a.accepted])
      .sort(),
  ).toEqual([
    ['t1', true],
    ['t2', true],
    ['t3', true],
    ['t4', true],
  ]);
  // The four acks left in one message.
  const ackMessages = v.messages.slice(framesBefore).filter((m) => m.some((p) => 'result_ack' in p));
  expect(ackMessages).toHaveLength(1);
  for (const id of ['t1', 't2', 't3', 't4']) expect(await taskState(c, id)).toBe('succeeded');
  expect(c.coordinator.metrics.wire.batchesIn).toBe(1);
  expect(c.coordinator.metrics.wire.batchesOut).toBeGreaterThanOrEqual(2);
});

test("a batch of two tenants' results, a lease not held and a repeat is answered item by item", async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 2, batch_frames: 8 });
  await campaign(c, 'ca', ['a1']);
  await campaign(c, 'cb', ['b1'], KEY_B);
  const [x, y] = await waitAssigned(v, 2);
  const foreign: Frame_Payload = {
    result: { task_id: 'a1', lease_id: 'not-a-lease', task_token: x!.task_token!, outputs: [] },
  };
  v.send([resultOf(x!), foreign, resultOf(y!), resultOf(x!)]);
  await until(() => acksOf(v).length === 4);
  // Acks in the order their commits settle; one per item.
  const acks = acksOf(v).map((a) => [a.lease_id, a.accepted ?? false, a.code ?? '']);
  expect(acks).toHaveLength(4);
  expect(acks).toEqual(
    expect.arrayContaining([
      [x!.lease_id, true, ''],
      ['not-a-lease', false, 'LEASE_UNKNOWN'],
      [y!.lease_id, true, ''],
      // The same lease again: the accepted result is acknowledged again, not stored twice.
      [x!.lease_id, true, 'DUPLICATE'],
    ]),
  );
  expect(await taskState(c, 'a1')).toBe('succeeded');
  expect(await taskState(c, 'b1', KEY_B)).toBe('succeeded');
  expect(ws!.readyState).toBe(WebSocket.OPEN);
});

test('a batch of more frames than the volunteer advertised, or a truncated one, is a violation and nothing of it is handled', async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 2, batch_frames: 2 });
  await campaign(c, 'c', ['t1', 't2']);
  const [a, b] = await waitAssigned(v, 2);
  v.send([resultOf(a!), resultOf(b!), { heartbeat: { seq: 1, lease_ids: [] } }]);
  expect(await v.closed).toEqual({ code: 1002, reason: 'TOO_MANY_FRAMES' });
  const errors = v.messages.flat().flatMap((p) => ('error' in p ? [p.error.code] : []));
  expect(errors).toEqual(['TOO_MANY_FRAMES']);
  expect(acksOf(v)).toEqual([]);
  expect(await taskState(c, 't1')).not.toBe('succeeded');

  const w = await volunteer(c, { cpu_slots: 2, batch_frames: 8 });
  await campaign(c, 'd', ['t3']);
  const d = await until(() => assignmentsOf(w).find((a) => a.task_id === 't3'));
  const whole = joinFrames([encodeFrame(makeFrame(resultOf(d))), encodeFrame(makeFrame(resultOf(d)))]);
  ws!.send(whole.subarray(0, whole.length - 8));
  expect(await w.closed).toEqual({ code: 1002, reason: 'MALFORMED_FRAME' });
  expect(acksOf(w)).toEqual([]);
  expect(await taskState(c, d.task_id!)).not.toBe('succeeded');
});

test('a volunteer that does not advertise batches gets one frame a message and may not send several', async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 4 });
  await campaign(c, 'single', ['t1', 't2', 't3', 't4']);
  const assigned = await waitAssigned(v, 4);
  expect(v.messages.every((m) => m.length === 1)).toBe(true);
  v.send([resultOf(assigned[0]!)]);
  await until(() => acksOf(v).length === 1);
  v.send([resultOf(assigned[1]!), resultOf(assigned[2]!)]);
  expect(await v.closed).toEqual({ code: 1002, reason: 'MALFORMED_FRAME' });
  expect(acksOf(v)).toHaveLength(1);
  expect(c.coordinator.metrics.wire.batchesIn).toBe(0);
  expect(c.coordinator.metrics.wire.batchesOut).toBe(0);
});

test('a turn of more frames than the volunteer takes a message leaves in messages of at most that many', async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 5, batch_frames: 2 });
  const before = v.messages.length;
  await campaign(c, 'split', ['t1', 't2', 't3', 't4', 't5']);
  const assigned = await waitAssigned(v, 5);
  expect(assigned.map((a) => a.task_id).sort()).toEqual(['t1', 't2', 't3', 't4', 't5']);
  const sizes = v.messages.slice(before).map((m) => m.length);
  expect(sizes).toEqual([2, 2, 1]);
});

test('a volunteer that stops taking batches mid-turn gets what was queued one frame a message', async () => {
  c = await startTest();
  const v = await volunteer(c, { cpu_slots: 2, batch_frames: 8 });
  await campaign(c, 'stop', ['t1', 't2']);
  const [a, b] = await waitAssigned(v, 2);
  const before = v.messages.length;
  // Both acks are queued for this turn's message before the capability is handled.
  v.send([resultOf(a!), resultOf(b!), { capability: { wasm: true, cpu_slots: 2 } }]);
  await until(() => acksOf(v).length === 2);
  const after = v.messages.slice(before);
  expect(after.map((m) => m.length)).toEqual([1, 1]);
  expect(
    after
      .flat()
      .map((p) => ('result_ack' in p ? p.result_ack.task_id : '?'))
      .sort(),
  ).toEqual(['t1', 't2']);
});
