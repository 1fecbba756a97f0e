import { createHash } from 'node:crypto';
import { encodeFrame, makeFrame, type ResultAck } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { type SimRunner, SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, startTest, type TestCoordinator, until } from './helpers.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

async function sim(
  options: Partial<Parameters<typeof SimulatedVolunteer.connect>[0]> = {},
): Promise<SimulatedVolunteer> {
  const s = await SimulatedVolunteer.connect({ url: c!.url, ...options });
  sims.push(s);
  return s;
}

async function post(taskId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await c!.api('/v1/tasks', { method: 'POST', json: envelope(taskId, extra) });
  expect(res.status).toBe(201);
}

async function view(taskId: string): Promise<Json> {
  return (await c!.api(`/v1/tasks/${encodeURIComponent(taskId)}`)).json();
}

function gated(): { run: SimRunner; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    open: () => open(),
    run: async () => {
      await gate;
      return { outputs: [{ name: 'sum', inline_json: '10' }] };
    },
  };
}

describe('matching through the whole stack', () => {
  test('a GPU task waits with a reason, then runs on the tab whose features match (- or _)', async () => {
    c = await startTest();
    const cpu = await sim();
    await post('gpu-1', {
      module: {
        kind: 'wgsl',
        inline: Buffer.from('@compute @workgroup_size(1) fn main() {}').toString('base64'),
        entry: 'main',
      },
      requirements: { min: { webgpu: true, gpu: { features: ['shader_f16'] } } },
    });
    await until(async () => (await view('gpu-1')).waiting_reason?.includes('requirements.min.webgpu'));
    expect((await view('gpu-1')).waiting_reason).toBe(
      'no connected worker meets requirements.min.webgpu (1 connected)',
    );
    const gpu = await sim({
      capability: {
        webgpu: true,
        gpu_slots: 1,
        cpu_slots: 0,
        gpu: { backend: 'webgpu', architecture: 'swiftshader', features: ['shader-f16'] },
      },
    });
    await until(async () => (await view('gpu-1')).state === 'succeeded');
    expect((await view('gpu-1')).attempts[0].worker_id).toBe(gpu.workerId);
    expect(cpu.assignments).toHaveLength(0);
  });

  test('paused tabs get nothing until they resume; GET /v1/workers shows capability and counters', async () => {
    c = await startTest();
    const s = await sim({ capability: { paused: true } });
    await post('p-1');
    await until(async () => (await view('p-1')).waiting_reason === 'all 1 eligible workers are paused');
    s.resume();
    await until(async () => (await view('p-1')).state === 'succeeded');
    const workers = (await (await c.api('/v1/workers')).json()).workers;
    expect(workers).toHaveLength(1);
    expect(workers[0]).toMatchObject({
      worker_id: s.workerId,
      connected: true,
      running: 0,
      tasks_succeeded: 1,
      tasks_failed: 0,
      capability: { wasm: true, cpu_slots: 2, cross_origin_isolated: true },
    });
    expect(workers[0].capability.paused).toBeUndefined();
  });
});

describe('resume', () => {
  test('a result finished while disconnected is delivered in the next hello and counted once', async () => {
    c = await startTest({ leaseMs: 5000 });
    const job = gated();
    const s = await sim({ run: job.run, reconnect: true });
    await post('offline-1');
    const assignment = (await s.assignmentOf('offline-1')) as Json;
    // Drop the connection, finish the job while offline, then let the sim come back.
    const hello = s.waitFor<Json>('hello');
    s.disconnect();
    await s.waitFor('close');
    job.open();
    expect((await hello).undelivered.map((r: Json) => r.lease_id)).toEqual([assignment.lease_id]);
    await until(() => s.unacked.has(assignment.lease_id));
    const ack = await s.waitFor<ResultAck>('ack', (a) => a.lease_id === assignment.lease_id);
    expect(ack).toEqual({ task_id: 'offline-1', lease_id: assignment.lease_id, accepted: true });
    expect(s.welcome?.resumed).toBe(true);
    const v = await view('offline-1');
    expect(v.state).toBe('succeeded');
    expect(v.attempts).toHaveLength(1);
  });
});

describe('hardening', () => {
  test('a connection over its frame rate is closed 1008 RATE_LIMITED; others keep working', async () => {
    c = await startTest({ workerFramesPerSecond: 20 });
    const calm = await sim();
    const noisy = await sim();
    const closed = noisy.waitFor<Json>('error-frame');
    for (let i = 0; i < 100; i++) noisy.send({ heartbeat: { seq: i } });
    expect(await closed).toMatchObject({ code: 'RATE_LIMITED' });
    await until(() => noisy.lastClose?.code === 1008);
    await post('calm-1');
    await until(async () => (await view('calm-1')).state === 'succeeded');
    await expect.poll(() => calm.acks.length).toBe(1);
  });

  test('a stream whose bytes do not match its hash makes the result HASH_MISMATCH', async () => {
    c = await startTest();
    const s = await sim({ run: gated().run });
    await post('stream-bad');
    const a = (await s.assignmentOf('stream-bad')) as Json;
    const base = { task_id: 'stream-bad', lease_id: a.lease_id, task_token: a.task_token };
    const data = new Uint8Array([1, 2, 3, 4]);
    const wrongHash = `sha256:${createHash('sha256')
      .update(new Uint8Array([9]))
      .digest('hex')}`;
    s.send({ stream_start: { ...base, stream_id: 's1', name: 'out', total_bytes: 4, hash: wrongHash } });
    s.send({ stream_chunk: { stream_id: 's1', seq: 0, data } });
    s.send({ stream_end: { stream_id: 's1', status: 'ok', chunks: 1, total_bytes: 4 } });
    s.send({
      result: { ...base, worker_id: s.workerId, outputs: [{ name: 'out', uri: 'stream:s1', size: 4 }] },
    });
    const ack = await s.waitFor<ResultAck>('ack', (x) => x.lease_id === a.lease_id);
    expect(ack).toMatchObject({ accepted: false, code: 'HASH_MISMATCH' });
    expect((await view('stream-bad')).state).toBe('running');
  });

  test('a chunk out of order closes the connection 1002 STREAM_OUT_OF_ORDER', async () => {
    c = await startTest();
    const s = await sim({ run: gated().run });
    await post('stream-order');
    const a = (await s.assignmentOf('stream-order')) as Json;
    const err = s.waitFor<Json>('error-frame');
    s.send({
      stream_start: {
        stream_id: 's2',
        task_id: 'stream-order',
        lease_id: a.lease_id,
        task_token: a.task_token,
        total_bytes: 8,
      },
    });
    s.sendRaw(encodeFrame(makeFrame({ stream_chunk: { stream_id: 's2', seq: 1, data: new Uint8Array(4) } })));
    expect(await err).toMatchObject({ code: 'STREAM_OUT_OF_ORDER' });
    await until(() => s.lastClose?.code === 1002);
  });

  test('metrics count frames, bytes, assignment latency and errors', async () => {
    c = await startTest();
    await sim();
    await post('m-1');
    await until(async () => (await view('m-1')).state === 'succeeded');
    const text = await (await fetch(`${c.url}/metrics`)).text();
    expect(text).toMatch(/flock_worker_frames_total\{direction="in"\} [1-9]/);
    expect(text).toMatch(/flock_worker_frame_bytes_total\{direction="out"\} [1-9]/);
    expect(text).toContain('flock_assignment_latency_seconds_count 1');
    expect(text).toContain('flock_tasks{state="succeeded"} 1');
    expect(text).toContain('flock_workers{capability="wasm"} 1');
    await c.api('/v1/tasks/none');
    expect(await (await fetch(`${c.url}/metrics`)).text()).toContain(
      'flock_errors_total{code="NOT_FOUND"} 1',
    );
  });
});
