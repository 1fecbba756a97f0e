import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { encodeMessage } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBelowBridge,
  type Bridge,
  type BridgeError,
  create,
  handleOf,
  popRecord,
  pushRecord,
  sliceOf,
  wasmPlacement,
} from '../src/index.ts';
import { type Peer, spawnTs } from './support/spawn.ts';

// Built from kernels/f32.c by scripts/build-wasm.sh (`npm run build -w @flock/sab-bridge`); built
// here too when a bare `vitest run` comes first.
const wasmFile = new URL('../build/f32.wasm', import.meta.url);
if (!existsSync(wasmFile))
  execFileSync('bash', [new URL('../scripts/build-wasm.sh', import.meta.url).pathname]);
const wasmBytes = readFileSync(wasmFile);
const config = { inboxBytes: 4096, outboxBytes: 4096, arenaBytes: 4 << 20, minBlockBytes: 256 };

let memory: WebAssembly.Memory;
let bridge: Bridge;
let executor: Peer;

beforeAll(async () => {
  const { byteOffset, pages } = wasmPlacement(config);
  memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  bridge = create(config, { buffer: memory.buffer as SharedArrayBuffer, byteOffset });
  const kernels = await WebAssembly.compile(wasmBytes);
  executor = spawnTs(new URL('./support/wasm-executor.ts', import.meta.url), { memory, kernels, byteOffset });
  expect(await executor.next()).toBe('ready');
});

afterAll(async () => {
  bridge.close();
  await executor.terminate();
});

async function reply() {
  expect(await bridge.outbox.waitForDataAsync(10_000)).toBe('ok');
  return popRecord(bridge.outbox)!;
}

describe('WebAssembly kernels on the arena, in place', () => {
  it('places the bridge in the Memory after the module’s own data', () => {
    expect(wasmPlacement(config)).toEqual({ byteOffset: 65536, pages: 71 });
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(bridge.buffer).toBe(memory.buffer);
  });

  it('scales 1 MiB of f32 where it lies: the main thread sees the kernel’s writes, only a header crossed the ring', async () => {
    const n = 262144;
    const h = bridge.arena.alloc(n * 4, 1)!;
    const x = new Float32Array(memory.buffer, bridge.arena.address(h), n);
    for (let i = 0; i < n; i++) x[i] = (i % 1000) * 0.25;
    const job = {
      kind: 'job' as const,
      job_id: 1,
      slices: [sliceOf('x', h)],
      params: '{"op":"scale-sum","k":3}',
    };
    expect(encodeMessage('BridgeRecord', job).length).toBe(144); // 1 MiB of input, 144 bytes of record
    expect(pushRecord(bridge.inbox, job)).toBe(true);
    const res = await reply();
    expect(res.kind).toBe('result');
    expect(res.job_id).toBe(1);
    let want = 0;
    for (let i = 0; i < n; i++) want += Math.fround((i % 1000) * 0.25 * 3);
    expect(JSON.parse(res.params!).sum).toBe(want);
    // Same bytes, same addresses: this view was made before the job and was never refreshed.
    expect(x[999]).toBe(Math.fround(999 * 0.25 * 3));
    expect(x[n - 1]).toBe(Math.fround(((n - 1) % 1000) * 0.25 * 3));
    expect(handleOf(res.slices![0]!)).toEqual(h);
    bridge.arena.free(h);
  });

  it('reads two inputs and writes an output the executor allocated in the same arena', async () => {
    const n = 1000;
    const a = bridge.arena.alloc(n * 4, 2)!;
    const b = bridge.arena.alloc(n * 4, 2)!;
    new Float32Array(memory.buffer, bridge.arena.address(a), n).forEach((_, i, arr) => {
      arr[i] = i;
    });
    new Float32Array(memory.buffer, bridge.arena.address(b), n).fill(0.5);
    pushRecord(bridge.inbox, {
      kind: 'job',
      job_id: 2,
      slices: [sliceOf('a', a), sliceOf('b', b)],
      params: '{"op":"add"}',
    });
    const res = await reply();
    const out = handleOf(res.slices![0]!);
    const view = new Float32Array(bridge.arena.bytes(out).buffer, bridge.arena.address(out), n);
    expect(view[0]).toBe(0.5);
    expect(view[n - 1]).toBe(n - 1 + 0.5);
    expect(bridge.arena.stats().liveAllocations).toBe(3);
    for (const h of [a, b, out]) bridge.arena.free(h);
    expect(bridge.arena.stats()).toMatchObject({ liveAllocations: 0, largestFreeBlock: 4 << 20 });
  });

  it('answers a job naming a freed slice with a STALE_HANDLE failure, not a read of reused bytes', async () => {
    const h = bridge.arena.alloc(64, 3)!;
    bridge.arena.free(h);
    pushRecord(bridge.inbox, {
      kind: 'job',
      job_id: 3,
      slices: [sliceOf('x', h)],
      params: '{"op":"scale-sum"}',
    });
    const res = await reply();
    expect(res).toMatchObject({ kind: 'failure', job_id: 3, code: 'STALE_HANDLE' });
    expect(res.retryable ?? false).toBe(false); // false is the default, so it is not on the wire
  });

  it('refuses a placement where the module’s stack and data reach into the bridge', async () => {
    const mem = new WebAssembly.Memory({ initial: 71, maximum: 71, shared: true });
    const low = create(config, { buffer: mem.buffer as SharedArrayBuffer, byteOffset: 0 });
    const { instance } = await WebAssembly.instantiate(wasmBytes, { env: { memory: mem } });
    const heapBase = (instance.exports.__heap_base as WebAssembly.Global).value as number;
    expect(heapBase).toBeGreaterThan(32768);
    let err: unknown;
    try {
      assertBelowBridge(low, heapBase);
    } catch (e) {
      err = e;
    }
    expect((err as BridgeError).code).toBe('REGION_OVERLAP');
    expect(() => assertBelowBridge(bridge, heapBase)).not.toThrow();
  });
});
