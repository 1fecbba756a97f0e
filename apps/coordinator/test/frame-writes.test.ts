// How the coordinator's frames leave a volunteer's socket: a result's ack and the assignment that
// its freed slot gets right after it share one write (#17's throughput: one system call and one
// wake-up of the tab instead of two).
import type { Socket } from 'node:net';
import { decodeFrame, encodeFrame, type Frame_Payload, makeFrame } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { envelope, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
let ws: WebSocket | undefined;
afterEach(async () => {
  ws?.terminate();
  ws = undefined;
  await c?.stop();
  c = undefined;
});

/** A frame received, with the number of the TCP read (`data` event) that brought it. */
interface Received {
  read: number;
  payload: Frame_Payload;
}

test("a result's ack and the next assignment for the freed slot arrive in one TCP read", async () => {
  c = await startTest();
  const socket = new WebSocket(`${c.url.replace('http', 'ws')}/v1/worker`);
  ws = socket;
  const received: Received[] = [];
  let reads = 0;
  socket.on('message', (data: Buffer) => {
    received.push({ read: reads, payload: decodeFrame(new Uint8Array(data)).payload! });
  });
  await new Promise((resolve) => socket.once('open', resolve));
  // ws parses the messages of one read synchronously inside the socket's `data` event: counting
  // the events ahead of ws's own listener numbers the reads each frame came in.
  (socket as unknown as { _socket: Socket })._socket.prependListener('data', () => {
    reads += 1;
  });
  const send = (payload: Frame_Payload): void => socket.send(encodeFrame(makeFrame(payload)));
  send({ hello: { protocol_version: 1, capability: { wasm: true, cpu_slots: 1 } } });
  await until(() => received.some((r) => 'welcome' in r.payload));
  for (const id of ['first', 'second']) {
    const res = await c.api('/v1/tasks', { method: 'POST', json: envelope(id) });
    expect(res.status).toBe(201);
  }
  // One slot: the first task is assigned, the second waits for it.
  const first = await until(() => received.find((r) => 'assignment' in r.payload));
  const assignment = (first.payload as Extract<Frame_Payload, { assignment: unknown }>).assignment;
  expect(assignment.task_id).toBe('first');
  send({
    result: {
      task_id: 'first',
      lease_id: assignment.lease_id!,
      task_token: assignment.task_token!,
      outputs: [{ name: 'sum', inline_json: '10' }],
    },
  });
  const ack = await until(() => received.find((r) => 'result_ack' in r.payload));
  const next = await until(() =>
    received.find((r) => 'assignment' in r.payload && r.payload.assignment.task_id === 'second'),
  );
  expect((ack.payload as Extract<Frame_Payload, { result_ack: unknown }>).result_ack).toMatchObject({
    lease_id: assignment.lease_id,
    accepted: true,
  });
  expect(next.read).toBe(ack.read);
  expect(ack.read).toBeGreaterThan(first.read);
});
