import type { Capability } from '@flock/protocol';
import { describe, expect, test } from 'vitest';
import { unmetRequirement, warmKeyOf, warmKeysOf } from '../src/engine/matching.ts';
import {
  freeSlots,
  prefetchOf,
  type SchedTask,
  Scheduler,
  type SchedWorker,
} from '../src/engine/scheduler.ts';

const CPU: Capability = {
  wasm: true,
  cpu_slots: 1,
  cross_origin_isolated: true,
  cpu_cores: 4,
  memory_mb: 2048,
};
const GPU: Capability = {
  ...CPU,
  webgpu: true,
  gpu_slots: 1,
  gpu: {
    backend: 'webgpu',
    vendor: 'google',
    architecture: 'swiftshader',
    features: ['shader-f16', 'timestamp-query'],
  },
};

function worker(id: string, capability: Capability, extra: Partial<SchedWorker> = {}): SchedWorker {
  return {
    workerId: id,
    capability,
    cachedModules: new Set(),
    runningCpu: 0,
    runningGpu: 0,
    maxSlots: 32,
    reliability: 0.5,
    blocked: false,
    ...extra,
  };
}

let uid = 0;
function task(extra: Partial<SchedTask> = {}): SchedTask {
  return {
    uid: ++uid,
    tenant: 'a',
    priority: 0,
    deadlineAtMs: undefined,
    min: { wasm: true },
    preferred: undefined,
    moduleHash: undefined,
    gpu: false,
    queuedAtMs: 0,
    ...extra,
  };
}

describe('requirements.min', () => {
  test('feature names match with - or _, limits are minimums, strings match', () => {
    expect(unmetRequirement(GPU, { gpu: { features: ['shader_f16'] } })).toBeUndefined();
    expect(unmetRequirement(GPU, { gpu: { features: ['SHADER-F16'] } })).toBeUndefined();
    expect(unmetRequirement(CPU, { webgpu: true })).toBe('requirements.min.webgpu');
    expect(unmetRequirement(GPU, { gpu: { features: ['subgroups'] } })).toBe(
      'requirements.min.gpu.features subgroups',
    );
    expect(unmetRequirement(GPU, { gpu: { vendor: 'nvidia' } })).toBe('requirements.min.gpu.vendor = nvidia');
    expect(unmetRequirement(GPU, { gpu: { limits: [{ name: 'maxBufferSize', value: 1 }] } })).toBe(
      'requirements.min.gpu.limits maxBufferSize >= 1',
    );
    expect(unmetRequirement(CPU, { cpu_cores: 8 })).toBe('requirements.min.cpu_cores >= 8');
    expect(unmetRequirement(CPU, { memory_mb: 2048 })).toBeUndefined();
  });

  test('a secure context is met by a secure tab, isolated or not, and by an isolated tab that does not say', () => {
    const plain: Capability = { wasm: true, cpu_slots: 1 };
    expect(unmetRequirement(plain, { secure_context: true })).toBe('requirements.min.secure_context');
    expect(unmetRequirement({ ...plain, secure_context: true }, { secure_context: true })).toBeUndefined();
    // A tab from before `secure_context`: isolation needs a secure context.
    expect(unmetRequirement(CPU, { secure_context: true })).toBeUndefined();
    // A secure tab that is not isolated still lacks isolation.
    expect(unmetRequirement({ ...plain, secure_context: true }, { cross_origin_isolated: true })).toBe(
      'requirements.min.cross_origin_isolated',
    );
  });

  test('a task only goes to a worker that meets requirements.min', () => {
    const s = new Scheduler();
    const t = task({ min: { webgpu: true, gpu: { features: ['shader_f16'] } }, gpu: true });
    s.enqueue(t);
    const cpu = worker('cpu', { ...CPU, cpu_slots: 4 });
    expect(s.assign([cpu])).toEqual([]);
    expect(s.waitingReason(t, [cpu])).toBe('no connected worker meets requirements.min.webgpu (1 connected)');
    const gpu = worker('gpu', GPU);
    expect(s.assign([cpu, gpu]).map((p) => [p.task.uid, p.worker.workerId])).toEqual([[t.uid, 'gpu']]);
    expect(gpu.runningGpu).toBe(1);
  });

  test('tasks queued one after another keep their own requirements (the class of the task before is reused only when equal)', () => {
    const s = new Scheduler();
    const plain = task({ min: { wasm: true } });
    const more = task({ min: { wasm: true, memory_mb: 4096 } });
    const cores = task({ min: { wasm: true, cpu_cores: 8 } });
    const f16 = task({ min: { webgpu: true, gpu: { features: ['shader_f16'] } }, gpu: true });
    const subgroups = task({ min: { webgpu: true, gpu: { features: ['subgroups'] } }, gpu: true });
    const again = task({ min: { wasm: true } });
    for (const t of [plain, more, cores, f16, subgroups, again]) s.enqueue(t);
    const cpu = worker('cpu', { ...CPU, cpu_slots: 8 });
    const gpu = worker('gpu', { ...GPU, gpu_slots: 4 });
    const picks = s.assign([cpu, gpu]).map((p) => [p.task.uid, p.worker.workerId]);
    expect(picks).toEqual([
      [plain.uid, 'cpu'],
      [f16.uid, 'gpu'],
      [again.uid, 'cpu'],
    ]);
    expect(s.size).toBe(3);
    // A pass drops the emptied class of the last task queued; an equal task is queued anew.
    expect(s.assign([worker('idle', CPU)])).toEqual([]);
    const next = task({ min: { wasm: true } });
    s.enqueue(next);
    expect(s.assign([worker('cpu2', CPU)]).map((p) => p.task.uid)).toEqual([next.uid]);
  });

  test('tabs without cross-origin isolation get no work that needs SharedArrayBuffer', () => {
    const s = new Scheduler();
    const t = task({ min: { wasm: true, wasm_threads: true } });
    s.enqueue(t);
    const plain = worker('plain', { ...CPU, wasm_threads: true, cross_origin_isolated: false });
    expect(s.assign([plain])).toEqual([]);
    expect(s.waitingReason(t, [plain])).toContain('SharedArrayBuffer');
    expect(s.assign([worker('iso', { ...CPU, wasm_threads: true })]).length).toBe(1);
  });
});

describe('slots', () => {
  test('never more than the free slots; paused workers get nothing', () => {
    const s = new Scheduler();
    for (let i = 0; i < 5; i++) s.enqueue(task());
    const w = worker('w', { ...CPU, cpu_slots: 2 }, { runningCpu: 1 });
    expect(s.assign([w])).toHaveLength(1);
    expect(s.assign([w])).toHaveLength(0);
    const paused = worker('p', { ...CPU, cpu_slots: 4, paused: true });
    expect(s.assign([paused])).toHaveLength(0);
    expect(s.waitingReason(task(), [paused])).toBe('all 1 eligible workers are paused');
    const capped = worker('c', { ...CPU, cpu_slots: 100 }, { maxSlots: 2 });
    expect(s.assign([capped])).toHaveLength(2);
  });
});

describe('excluded workers (verification replicas)', () => {
  test('a task whose only free worker it excludes does not stall the tasks behind it', () => {
    const s = new Scheduler();
    const w = worker('w1', CPU);
    const blocked = task({ excludeWorkers: new Set(['w1']) });
    const behind = task();
    s.enqueue(blocked);
    s.enqueue(behind);
    // The head of the queue excludes w1; the next task in the same class takes it instead.
    expect(s.assign([w]).map((p) => [p.task.uid, p.worker.workerId])).toEqual([[behind.uid, 'w1']]);
    // The excluded task is still queued and goes to the next worker it does not exclude.
    expect(s.assign([worker('w2', CPU)]).map((p) => p.task.uid)).toEqual([blocked.uid]);
  });
  test('a quorum that needs a vetted worker waits for one; others take the tasks behind it', () => {
    const s = new Scheduler();
    const needs = task({ needsVetted: true });
    const behind = task();
    s.enqueue(needs);
    s.enqueue(behind);
    expect(s.assign([worker('new', CPU)]).map((p) => p.task.uid)).toEqual([behind.uid]);
    expect(s.assign([worker('new2', CPU, { vetted: false })])).toEqual([]);
    expect(s.assign([worker('old', CPU, { vetted: true })]).map((p) => p.task.uid)).toEqual([needs.uid]);
  });

  test('a waiting verified task says which volunteer it waits for', () => {
    const s = new Scheduler();
    const [a, b] = [worker('a', CPU), worker('b', CPU, { vetted: true })];
    expect(s.waitingReason(task({ excludeWorkers: new Set(['a', 'b']) }), [a, b])).toBe(
      'verification: needs a replica from another volunteer (all 2 eligible ran it)',
    );
    expect(s.waitingReason(task({ excludeWorkers: new Set(['b']), needsVetted: true }), [a, b])).toBe(
      'verification: the agreeing replicas need confirming by a verified volunteer (none connected)',
    );
    expect(s.waitingReason(task({ adapterClass: 'cpu/wasm-simd' }), [a, b])).toBe(
      'verification: needs a volunteer on cpu/wasm-simd (homogeneous)',
    );
    expect(s.waitingReason(task({ excludeWorkers: new Set(['a']) }), [a, b])).toBe(
      'all 1 eligible workers are busy',
    );
  });

  test('a homogeneous task runs only on the adapter class of its first replica', () => {
    const s = new Scheduler();
    const nvidia: Capability = { ...GPU, gpu: { ...GPU.gpu, vendor: 'nvidia', architecture: 'ampere' } };
    const locked = task({ gpu: true, min: { webgpu: true }, adapterClass: 'gpu/nvidia/ampere' });
    s.enqueue(locked);
    expect(s.assign([worker('swiftshader', GPU)])).toEqual([]);
    expect(s.assign([worker('ampere', nvidia)]).map((p) => p.worker.workerId)).toEqual(['ampere']);
  });
});

describe('passes', () => {
  test("a pass sees only its own workers and classes: the last pass's lists, refilled in place, keep none of theirs", () => {
    const s = new Scheduler();
    const cpuTask = task();
    const gpuTask = task({ min: { webgpu: true }, gpu: true });
    s.enqueue(cpuTask);
    s.enqueue(gpuTask);
    const busy = worker('busy', CPU, { runningCpu: 1 });
    const gpu = worker('gpu', { ...GPU, cpu_slots: 0 });
    const cpus = [worker('c1', CPU), worker('c2', CPU), worker('c3', CPU)];
    // Two classes, four open workers: both tasks go.
    expect(s.assign([busy, gpu, ...cpus]).map((p) => [p.task.uid, p.worker.workerId])).toEqual([
      [cpuTask.uid, 'c1'],
      [gpuTask.uid, 'gpu'],
    ]);
    // Fewer workers than before, one class: none of the last pass's workers may be offered.
    const next = [task(), task(), task()];
    for (const t of next) s.enqueue(t);
    const only = worker('only', CPU);
    expect(s.assign([busy, only]).map((p) => [p.task.uid, p.worker.workerId])).toEqual([
      [next[0]!.uid, 'only'],
    ]);
    expect(s.size).toBe(2);
    // A pass whose only class has no free worker matches nothing, whatever the last pass had.
    expect(s.assign([busy, gpu])).toEqual([]);
    expect(s.assign(cpus.slice(1)).map((p) => p.worker.workerId)).toEqual(['c2', 'c3']);
    expect(s.size).toBe(0);
  });
});

describe('ordering', () => {
  test('higher priority first, then earliest deadline, then arrival', () => {
    const s = new Scheduler();
    const low = task({ priority: 0 });
    const highLate = task({ priority: 5, deadlineAtMs: 9000 });
    const highEarly = task({ priority: 5, deadlineAtMs: 1000 });
    const highNone = task({ priority: 5 });
    for (const t of [low, highLate, highEarly, highNone]) s.enqueue(t);
    const order: number[] = [];
    for (let i = 0; i < 4; i++) {
      const w = worker(`w${i}`, CPU);
      order.push(...s.assign([w]).map((p) => p.task.uid));
    }
    expect(order).toEqual([highEarly.uid, highLate.uid, highNone.uid, low.uid]);
  });

  test('fair share: tenants alternate although one queued far more first', () => {
    const s = new Scheduler();
    const a = Array.from({ length: 6 }, () => task({ tenant: 'a' }));
    const b = Array.from({ length: 3 }, () => task({ tenant: 'b' }));
    for (const t of [...a, ...b]) s.enqueue(t);
    const w = worker('w', { ...CPU, cpu_slots: 6 });
    const picked = s.assign([w]).map((p) => p.task.tenant);
    expect(picked).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  test('fair share counts running tasks: the tenant with fewer running goes first', () => {
    const s = new Scheduler();
    s.setRunning('a', 3);
    s.enqueue(task({ tenant: 'a', priority: 10 }));
    const bTask = task({ tenant: 'b', priority: -10 });
    s.enqueue(bTask);
    expect(s.assign([worker('w', CPU)]).map((p) => p.task.uid)).toEqual([bTask.uid]);
  });
});

describe('scoring', () => {
  test('preferred fields, cached module and reliability pick the worker', () => {
    const s = new Scheduler();
    const t1 = task({ preferred: { wasm_simd: true } });
    s.enqueue(t1);
    const plain = worker('plain', CPU);
    const simd = worker('simd', { ...CPU, wasm_simd: true });
    expect(s.assign([plain, simd])[0]?.worker.workerId).toBe('simd');

    const t2 = task({ moduleHash: 'sha256:m' });
    s.enqueue(t2);
    const cached = worker('cached', CPU, { cachedModules: new Set(['sha256:m']) });
    expect(s.assign([worker('cold', CPU), cached])[0]?.worker.workerId).toBe('cached');

    s.enqueue(task());
    const flaky = worker('flaky', CPU, { reliability: 0.1 });
    const solid = worker('solid', CPU, { reliability: 0.9 });
    expect(s.assign([flaky, solid])[0]?.worker.workerId).toBe('solid');
  });

  test('a library task goes to the tab whose executors have that library loaded', () => {
    const s = new Scheduler();
    const envelope = { op: 'image.resize', module: { kind: 'library' as const } };
    expect(warmKeyOf(envelope)).toBe('library:image');
    expect(warmKeyOf({ op: 'saxpy', module: { kind: 'builtin' } })).toBeUndefined();
    expect(warmKeyOf({ op: 'x', module: { kind: 'wasm', hash: 'sha256:m' } })).toBe('sha256:m');
    s.enqueue(task({ moduleHash: warmKeyOf(envelope) }));
    const dataOnly = { ...CPU, libraries: ['data'] };
    const imageWarm = { ...CPU, libraries: ['data', 'image'], cached_modules: ['sha256:m'] };
    expect([...warmKeysOf(imageWarm)]).toEqual(['sha256:m', 'library:data', 'library:image']);
    const picked = s.assign([
      worker('cold', CPU),
      worker('data', dataOnly, { cachedModules: warmKeysOf(dataOnly) }),
      worker('image', imageWarm, { cachedModules: warmKeysOf(imageWarm) }),
    ]);
    expect(picked[0]?.worker.workerId).toBe('image');
  });

  test('an ml task goes to the tab that holds its model, whoever has the ml library loaded', () => {
    const s = new Scheduler();
    const model = `sha256:${'5e'.repeat(32)}`;
    const envelope = {
      op: 'ml.infer',
      module: { kind: 'library' as const },
      params: { model: `flock:${model}` },
    };
    expect(warmKeyOf(envelope)).toBe(model);
    s.enqueue(task({ moduleHash: warmKeyOf(envelope) }));
    const mlWarm = { ...CPU, libraries: ['ml'], cached_modules: [`sha256:${'01'.repeat(32)}`] };
    const holder = { ...CPU, libraries: ['image'], cached_modules: [model] };
    const picked = s.assign([
      worker('ml-warm', mlWarm, { cachedModules: warmKeysOf(mlWarm) }),
      worker('holder', holder, { cachedModules: warmKeysOf(holder) }),
    ]);
    expect(picked[0]?.worker.workerId).toBe('holder');
  });

  test('removed tasks are skipped', () => {
    const s = new Scheduler();
    const t = task();
    s.enqueue(t);
    expect(s.remove(t.uid)).toBe(true);
    expect(s.assign([worker('w', CPU)])).toEqual([]);
    expect(s.size).toBe(0);
  });
});

describe('prefetch: leases queued in a tab beyond its running slots', () => {
  test('each kind may hold its slots plus the prefetch, all kinds the slots plus the prefetch', () => {
    const w = worker('p', { ...GPU, cpu_slots: 2, gpu_slots: 1, prefetch: 3 });
    expect(freeSlots(w, false)).toBe(5);
    expect(freeSlots(w, true)).toBe(4);
    w.runningCpu = 5;
    expect(freeSlots(w, true)).toBe(1);
    expect(freeSlots(w, false)).toBe(0);
  });

  test('prefetch is at most one per slot, within the connection cap, and none for a kind without slots', () => {
    expect(prefetchOf({ cpu_slots: 1, prefetch: 50 })).toBe(1);
    expect(freeSlots(worker('a', { ...CPU, cpu_slots: 1, prefetch: 50 }), false)).toBe(2);
    expect(freeSlots(worker('b', { ...CPU, cpu_slots: 20, prefetch: 20 }, { maxSlots: 32 }), false)).toBe(32);
    expect(freeSlots(worker('c', { ...CPU, cpu_slots: 2, prefetch: 2 }), true)).toBe(0);
  });

  test('the scheduler hands a prefetching worker its slots plus the prefetch', () => {
    const s = new Scheduler();
    for (let i = 0; i < 5; i++) s.enqueue(task());
    const picks = s.assign([worker('p', { ...CPU, cpu_slots: 1, prefetch: 1 })]);
    expect(picks).toHaveLength(2);
  });
});

describe('FLOCK_TENANT_MAX_RUNNING', () => {
  test('a tenant at its cap gets no more slots, others do; an ended task frees one', () => {
    const s = new Scheduler();
    s.limitTenants(2);
    const flood = Array.from({ length: 6 }, () => task({ tenant: 'flood' }));
    for (const t of flood) s.enqueue(t);
    const w = worker('w', { ...CPU, cpu_slots: 8 });
    expect(s.assign([w]).map((p) => p.task.uid)).toEqual([flood[0]!.uid, flood[1]!.uid]);
    expect(s.assign([w])).toEqual([]);
    expect(s.waitingReason(flood[2]!, [w])).toBe(
      'this tenant runs 2 tasks, its limit (FLOCK_TENANT_MAX_RUNNING)',
    );
    const other = task({ tenant: 'other' });
    s.enqueue(other);
    expect(s.assign([w]).map((p) => p.task.uid)).toEqual([other.uid]);
    s.setRunning('flood', -1);
    expect(s.assign([w]).map((p) => p.task.uid)).toEqual([flood[2]!.uid]);
    expect(w.runningCpu).toBe(4);
  });
});
