// The tab's connection echoes each lease's trace and metadata (#19): run against a real
// coordinator, with `ws` standing in for the browser's WebSocket (same onopen/onmessage/binaryType
// surface), every frame the tab sends decoded as the coordinator would read it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { SIM_CAPABILITY } from '@flock/coordinator/sim';
import { decodeFrame, type Frame, type Frame_Payload, submitSpanId } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { WorkerConnection } from '../src/worker-connection.ts';

const KEY = 'key-trace-0123456789';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

const sent: Frame[] = [];
/** `ws` with every frame it sends kept, decoded. */
class RecordingSocket extends WebSocket {
  override send(data: Parameters<WebSocket['send']>[0]): void {
    sent.push(decodeFrame(new Uint8Array(data as Uint8Array), { maxFrameBytes: 64 << 20 }));
    super.send(data);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  sent.length = 0;
});

/**
 * A coordinator in a temporary directory, with the tab's WebSocket swapped for the recording one
 * until the test ends.
 */
async function coordinatorWithRecordedSocket(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const flock = await startCoordinator({
    port: 0,
    dataDir: dir,
    logLevel: 'silent',
    apiKeys: new Map([[KEY, 'acme']]),
    pagesDir: join(dir, 'no-pages'),
    extraOps: ['sum'],
  });
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => flock.close(),
  );
  const previous = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = RecordingSocket;
  cleanups.push(() => {
    (globalThis as { WebSocket?: unknown }).WebSocket = previous;
  });
  return flock;
}

test("progress and result frames carry the trace and metadata of their lease's assignment", async () => {
  const flock = await coordinatorWithRecordedSocket('flock-tab-trace-');

  const assignments: Frame_Payload[] = [];
  const connection: WorkerConnection = new WorkerConnection(`${flock.url.replace('http', 'ws')}/v1/worker`, {
    hello: async () => ({ protocol_version: 1, capability: SIM_CAPABILITY }),
    welcome: () => undefined,
    frame: (payload) => {
      if (!('assignment' in payload)) return;
      assignments.push(payload);
      const a = payload.assignment;
      const base = { task_id: a.task_id ?? '', lease_id: a.lease_id ?? '' };
      connection.send({ progress: { ...base, pct: 50 } });
      connection.send({
        result: {
          ...base,
          task_token: a.task_token ?? '',
          worker_id: a.worker_id ?? '',
          outputs: [{ name: 'sum', content_type: 'application/json', inline_json: '10' }],
        },
      });
    },
    leases: () => [],
    state: () => undefined,
  });
  connection.start();
  cleanups.push(() => connection.stop());
  await expect.poll(() => connection.open).toBe(true);

  const res = await fetch(`${flock.url}/v1/campaigns`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${KEY}`,
      'content-type': 'application/json',
      traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
    },
    body: JSON.stringify({
      campaign_id: 'camp-1',
      tasks: [
        {
          task_id: 'tab-1',
          op: 'sum',
          module: { kind: 'builtin' },
          requirements: { min: { wasm: true } },
          inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
        },
      ],
    }),
  });
  expect(res.status).toBe(201);
  await expect
    .poll(
      async () =>
        (
          await (
            await fetch(`${flock.url}/v1/tasks/tab-1`, { headers: { authorization: `Bearer ${KEY}` } })
          ).json()
        ).state,
    )
    .toBe('succeeded');

  expect(assignments).toHaveLength(1);
  const echoed = sent.filter((f) => f.payload && ('progress' in f.payload || 'result' in f.payload));
  expect(echoed.map((f) => Object.keys(f.payload!)[0])).toEqual(['progress', 'result']);
  for (const f of echoed) {
    expect(f.trace?.correlation_id).toBe(TRACE);
    expect(f.trace?.parent_id).toBe(submitSpanId(TRACE, 'tab-1'));
    expect(f.trace?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(f.metadata).toEqual({ tenant: 'acme', campaign_id: 'camp-1' });
  }
  // Frames of no lease (hello, heartbeats) carry none.
  const hello = sent.find((f) => f.payload && 'hello' in f.payload)!;
  expect([hello.trace, hello.metadata]).toEqual([undefined, undefined]);
});

test('a tab that takes batched frames handles every assignment of a message that carries several', async () => {
  const flock = await coordinatorWithRecordedSocket('flock-tab-batch-');
  const assigned: string[] = [];
  const connection: WorkerConnection = new WorkerConnection(`${flock.url.replace('http', 'ws')}/v1/worker`, {
    hello: async () => ({
      protocol_version: 1,
      capability: { ...SIM_CAPABILITY, cpu_slots: 4, batch_frames: 64 },
    }),
    welcome: () => undefined,
    frame: (payload) => {
      if (!('assignment' in payload)) return;
      const a = payload.assignment;
      assigned.push(a.task_id ?? '');
      connection.send({
        result: {
          task_id: a.task_id ?? '',
          lease_id: a.lease_id ?? '',
          task_token: a.task_token ?? '',
          outputs: [{ name: 'sum', content_type: 'application/json', inline_json: '10' }],
        },
      });
    },
    leases: () => [],
    state: () => undefined,
  });
  connection.start();
  cleanups.push(() => connection.stop());
  await expect.poll(() => connection.open).toBe(true);
  const ids = ['b-1', 'b-2', 'b-3', 'b-4'];
  const res = await fetch(`${flock.url}/v1/campaigns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      campaign_id: 'camp-b',
      tasks: ids.map((task_id) => ({
        task_id,
        op: 'sum',
        module: { kind: 'builtin' },
        requirements: { min: { wasm: true } },
        inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
      })),
    }),
  });
  expect(res.status).toBe(201);
  for (const id of ids) {
    await expect
      .poll(
        async () =>
          (
            await (
              await fetch(`${flock.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${KEY}` } })
            ).json()
          ).state,
      )
      .toBe('succeeded');
  }
  expect(assigned.sort()).toEqual(ids);
  // The four assignments came batched: fewer messages than frames went to the tab.
  expect(flock.coordinator.metrics.wire.batchesOut).toBeGreaterThanOrEqual(1);
});
